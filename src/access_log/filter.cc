#include "access_log/filter.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <vector>

namespace remora::access_log {
namespace {

namespace accesslog = envoy::config::accesslog::v3;
using Comparison = accesslog::ComparisonFilter;

// Compares against default_value: there is no runtime layer for runtime_key to read.
class Comparator {
 public:
  explicit Comparator(const Comparison& config)
      : op_(config.op()), value_(config.value().default_value()) {}
  bool compare(uint64_t lhs) const {
    switch (op_) {
      case Comparison::GE:
        return lhs >= value_;
      case Comparison::EQ:
        return lhs == value_;
      case Comparison::LE:
        return lhs <= value_;
      default:
        return false;
    }
  }

 private:
  Comparison::Op op_;
  uint64_t value_;
};

class StatusCodeFilter : public Filter {
 public:
  explicit StatusCodeFilter(const Comparison& config) : comparator_(config) {}
  bool evaluate(const FormatContext& context) const override {
    // No response (e.g. the client reset first) compares as 0, as in Envoy.
    return comparator_.compare(context.stream_info.response_code.value_or(0));
  }

 private:
  Comparator comparator_;
};

class DurationFilter : public Filter {
 public:
  explicit DurationFilter(const Comparison& config) : comparator_(config) {}
  bool evaluate(const FormatContext& context) const override {
    const auto& complete = context.stream_info.request_complete;
    if (!complete) return false;  // an unfinished request has no duration to compare
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*complete).count();
    return comparator_.compare(static_cast<uint64_t>(std::max<int64_t>(ms, 0)));
  }

 private:
  Comparator comparator_;
};

class NotHealthCheckFilter : public Filter {
 public:
  bool evaluate(const FormatContext& context) const override {
    return !context.stream_info.health_check;
  }
};

class ResponseFlagFilter : public Filter {
 public:
  explicit ResponseFlagFilter(uint64_t mask) : mask_(mask) {}
  bool evaluate(const FormatContext& context) const override {
    // An empty list means "any flag".
    return mask_ == 0 ? context.stream_info.response_flags != 0
                      : (context.stream_info.response_flags & mask_) != 0;
  }

 private:
  uint64_t mask_;
};

// Envoy's HeaderMatcher on the request headers (repeated headers joined with ',').
class HeaderFilter : public Filter {
 public:
  enum class Type { kExact, kPrefix, kSuffix, kContains, kRegex, kPresent };
  HeaderFilter(std::string name, Type type, std::string value, bool ignore_case, bool present,
               bool invert, bool missing_as_empty, std::unique_ptr<re2::RE2> regex)
      : name_(std::move(name)),
        type_(type),
        value_(std::move(value)),
        ignore_case_(ignore_case),
        present_(present),
        invert_(invert),
        missing_as_empty_(missing_as_empty),
        regex_(std::move(regex)) {}

  bool evaluate(const FormatContext& context) const override {
    std::vector<std::string_view> values;
    if (context.request_headers != nullptr) values = context.request_headers->getAll(name_);
    if (values.empty() && !missing_as_empty_) {
      // Only "present_match: false" (or its inversion) can match a missing header.
      return type_ == Type::kPresent && (invert_ ? present_ : !present_);
    }
    std::string joined;
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) joined += ',';
      joined += values[i];
    }
    return matches(joined) != invert_;
  }

 private:
  bool matches(std::string value) const {
    if (type_ == Type::kPresent) return present_;
    if (type_ == Type::kRegex) return re2::RE2::FullMatch(value, *regex_);
    if (ignore_case_) value = lower(value);
    std::string_view v = value;
    switch (type_) {
      case Type::kExact:
        return v == value_;
      case Type::kPrefix:
        return v.starts_with(value_);
      case Type::kSuffix:
        return v.ends_with(value_);
      case Type::kContains:
        return v.find(value_) != std::string_view::npos;
      default:
        return false;
    }
  }

 public:
  static std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
  }

 private:
  std::string name_;
  Type type_;
  std::string value_;  // lower-cased when ignore_case_
  bool ignore_case_;
  bool present_;
  bool invert_;
  bool missing_as_empty_;
  std::unique_ptr<re2::RE2> regex_;
};

class CompositeFilter : public Filter {
 public:
  CompositeFilter(std::vector<FilterPtr> filters, bool all)
      : filters_(std::move(filters)), all_(all) {}
  bool evaluate(const FormatContext& context) const override {
    for (const auto& f : filters_) {
      if (f->evaluate(context) != all_) return !all_;  // short-circuit like && and ||
    }
    return all_;
  }

 private:
  std::vector<FilterPtr> filters_;
  bool all_;  // and_filter when true, or_filter when false
};

StatusOr<std::unique_ptr<re2::RE2>> compileRegex(const std::string& pattern,
                                                 const std::string& path) {
  auto regex = std::make_unique<re2::RE2>(pattern, re2::RE2::Quiet);
  if (!regex->ok()) return Status::error(path + ": invalid regex: " + regex->error());
  return regex;
}

// Configs still use HeaderMatcher's deprecated *_match fields and Envoy honours them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
StatusOr<FilterPtr> createHeaderFilter(const envoy::config::route::v3::HeaderMatcher& m,
                                       const std::string& path) {
  using Matcher = envoy::config::route::v3::HeaderMatcher;
  using StringMatcher = envoy::type::matcher::v3::StringMatcher;
  using Type = HeaderFilter::Type;
  Type type = Type::kPresent;
  std::string value;
  bool ignore_case = false;
  bool present = true;
  std::string regex_pattern;
  switch (m.header_match_specifier_case()) {
    case Matcher::kExactMatch:
      type = Type::kExact, value = m.exact_match();
      break;
    case Matcher::kPrefixMatch:
      type = Type::kPrefix, value = m.prefix_match();
      break;
    case Matcher::kSuffixMatch:
      type = Type::kSuffix, value = m.suffix_match();
      break;
    case Matcher::kContainsMatch:
      type = Type::kContains, value = m.contains_match();
      break;
    case Matcher::kSafeRegexMatch:
      type = Type::kRegex, regex_pattern = m.safe_regex_match().regex();
      break;
    case Matcher::kPresentMatch:
      present = m.present_match();
      break;
    case Matcher::kStringMatch: {
      const StringMatcher& s = m.string_match();
      ignore_case = s.ignore_case();
      switch (s.match_pattern_case()) {
        case StringMatcher::kExact:
          type = Type::kExact, value = s.exact();
          break;
        case StringMatcher::kPrefix:
          type = Type::kPrefix, value = s.prefix();
          break;
        case StringMatcher::kSuffix:
          type = Type::kSuffix, value = s.suffix();
          break;
        case StringMatcher::kContains:
          type = Type::kContains, value = s.contains();
          break;
        case StringMatcher::kSafeRegex:
          type = Type::kRegex, regex_pattern = s.safe_regex().regex();
          break;
        default:
          return Status::error("not supported by remora: " + path + ".string_match");
      }
      break;
    }
    case Matcher::HEADER_MATCH_SPECIFIER_NOT_SET:
      break;  // no specifier: Envoy treats it as "present"
    default:
      return Status::error("not supported by remora: " + path + ": header match type");
  }
  std::unique_ptr<re2::RE2> regex;
  if (type == Type::kRegex) {
    auto compiled = compileRegex(regex_pattern, path);
    if (!compiled.ok()) return compiled.status();
    regex = std::move(compiled.value());
  }
  if (ignore_case) value = HeaderFilter::lower(value);
  return FilterPtr(new HeaderFilter(HeaderFilter::lower(m.name()), type, std::move(value),
                                    ignore_case, present, m.invert_match(),
                                    m.treat_missing_header_as_empty(), std::move(regex)));
}
#pragma GCC diagnostic pop

StatusOr<uint64_t> flagMask(const accesslog::ResponseFlagFilter& config, const std::string& path) {
  uint64_t mask = 0;
  for (int i = 0; i < config.flags_size(); ++i) {
    const std::string& name = config.flags(i);
    uint64_t found = 0;
    for (int bit = 0; bit < 64 && found == 0; ++bit) {
      const uint64_t flag = uint64_t{1} << bit;
      if (stream_info::responseFlagsToShortString(flag) == name) found = flag;
    }
    if (found == 0) {
      return Status::error(path + ".flags[" + std::to_string(i) + "]: unknown response flag \"" +
                           name + "\"");
    }
    mask |= found;
  }
  return mask;
}

StatusOr<FilterPtr> createComposite(
    const google::protobuf::RepeatedPtrField<accesslog::AccessLogFilter>& configs, bool all,
    const std::string& path) {
  std::vector<FilterPtr> filters;
  for (int i = 0; i < configs.size(); ++i) {
    auto f = createFilter(configs.Get(i), path + ".filters[" + std::to_string(i) + "]");
    if (!f.ok()) return f.status();
    filters.push_back(std::move(f.value()));
  }
  return FilterPtr(new CompositeFilter(std::move(filters), all));
}

}  // namespace

StatusOr<FilterPtr> createFilter(const accesslog::AccessLogFilter& config,
                                 const std::string& path) {
  using Config = accesslog::AccessLogFilter;
  switch (config.filter_specifier_case()) {
    case Config::kStatusCodeFilter:
      return FilterPtr(new StatusCodeFilter(config.status_code_filter().comparison()));
    case Config::kDurationFilter:
      return FilterPtr(new DurationFilter(config.duration_filter().comparison()));
    case Config::kNotHealthCheckFilter:
      return FilterPtr(new NotHealthCheckFilter());
    case Config::kResponseFlagFilter: {
      auto mask = flagMask(config.response_flag_filter(), path + ".response_flag_filter");
      if (!mask.ok()) return mask.status();
      return FilterPtr(new ResponseFlagFilter(mask.value()));
    }
    case Config::kHeaderFilter:
      return createHeaderFilter(config.header_filter().header(), path + ".header_filter.header");
    case Config::kAndFilter:
      return createComposite(config.and_filter().filters(), true, path + ".and_filter");
    case Config::kOrFilter:
      return createComposite(config.or_filter().filters(), false, path + ".or_filter");
    case Config::FILTER_SPECIFIER_NOT_SET:
      return Status::error(path + ": a filter specifier is required");
    default:
      break;
  }
  const auto* field = Config::descriptor()->FindFieldByNumber(config.filter_specifier_case());
  return Status::error("not supported by remora: " + path + "." +
                       (field != nullptr ? field->name() : std::string("filter")));
}

}  // namespace remora::access_log
