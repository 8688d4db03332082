#include "router/matchers.h"

#include <charconv>

namespace remora::router {

using ProtoStringMatcher = envoy::type::matcher::v3::StringMatcher;

std::string toLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

namespace {
char lowerChar(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lowerChar(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}
}  // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lowerChar(a[i]) != lowerChar(b[i])) return false;
  }
  return true;
}

bool startsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && equalsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

std::string percentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = hexValue(s[i + 1]);
      int lo = hexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::optional<std::string> queryParameter(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = pair.find('=');
    std::string key = percentDecode(pair.substr(0, eq));
    if (key != name) continue;
    // "?debug" has a key and an empty value, as Envoy parses it.
    return eq == std::string_view::npos ? std::string() : percentDecode(pair.substr(eq + 1));
  }
  return std::nullopt;
}

StatusOr<std::shared_ptr<const re2::RE2>> compileRegex(
    const envoy::type::matcher::v3::RegexMatcher& proto, const std::string& path) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  auto regex = std::make_shared<const re2::RE2>(proto.regex(), options);
  if (!regex->ok()) {
    return Status::error(path + ".regex: invalid regex: " + regex->error());
  }
  return std::shared_ptr<const re2::RE2>(std::move(regex));
}

StatusOr<StringMatcher> StringMatcher::create(const ProtoStringMatcher& proto,
                                              const std::string& path) {
  StringMatcher m;
  m.ignore_case_ = proto.ignore_case();
  auto folded = [&](const std::string& v) { return m.ignore_case_ ? toLower(v) : v; };
  switch (proto.match_pattern_case()) {
    case ProtoStringMatcher::kExact:
      m.kind_ = Kind::Exact;
      m.value_ = folded(proto.exact());
      break;
    case ProtoStringMatcher::kPrefix:
      m.kind_ = Kind::Prefix;
      m.value_ = folded(proto.prefix());
      break;
    case ProtoStringMatcher::kSuffix:
      m.kind_ = Kind::Suffix;
      m.value_ = folded(proto.suffix());
      break;
    case ProtoStringMatcher::kContains:
      m.kind_ = Kind::Contains;
      m.value_ = folded(proto.contains());
      break;
    case ProtoStringMatcher::kSafeRegex: {
      auto regex = compileRegex(proto.safe_regex(), path + ".safe_regex");
      if (!regex.ok()) return regex.status();
      m.kind_ = Kind::Regex;
      m.regex_ = std::move(regex.value());
      break;
    }
    default:
      return Status::error(path + ": a match pattern is required");
  }
  return m;
}

bool StringMatcher::match(std::string_view value) const {
  if (kind_ == Kind::Regex) return re2::RE2::FullMatch(value, *regex_);
  std::string lowered;
  if (ignore_case_) {
    lowered = toLower(value);
    value = lowered;
  }
  switch (kind_) {
    case Kind::Exact:
      return value == value_;
    case Kind::Prefix:
      return value.substr(0, value_.size()) == value_;
    case Kind::Suffix:
      return value.size() >= value_.size() && value.substr(value.size() - value_.size()) == value_;
    case Kind::Contains:
      return value.find(value_) != std::string_view::npos;
    case Kind::Regex:
      break;
  }
  return false;
}

namespace {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
StatusOr<StringMatcher> deprecatedStringMatcher(
    const envoy::config::route::v3::HeaderMatcher& proto, const std::string& path) {
  using Proto = envoy::config::route::v3::HeaderMatcher;
  ProtoStringMatcher sm;
  std::string field;
  switch (proto.header_match_specifier_case()) {
    case Proto::kExactMatch:
      sm.set_exact(proto.exact_match()), field = ".exact_match";
      break;
    case Proto::kPrefixMatch:
      sm.set_prefix(proto.prefix_match()), field = ".prefix_match";
      break;
    case Proto::kSuffixMatch:
      sm.set_suffix(proto.suffix_match()), field = ".suffix_match";
      break;
    case Proto::kContainsMatch:
      sm.set_contains(proto.contains_match()), field = ".contains_match";
      break;
    case Proto::kSafeRegexMatch: {
      // Checked here so the error names safe_regex_match, the field the user wrote.
      auto regex = compileRegex(proto.safe_regex_match(), path + ".safe_regex_match");
      if (!regex.ok()) return regex.status();
      *sm.mutable_safe_regex() = proto.safe_regex_match();
      break;
    }
    default:
      return Status::error("not supported by remora: " + path);
  }
  return StringMatcher::create(sm, path + field);
}
#pragma GCC diagnostic pop
}  // namespace

StatusOr<HeaderMatcher> HeaderMatcher::create(const envoy::config::route::v3::HeaderMatcher& proto,
                                              const std::string& path) {
  using Proto = envoy::config::route::v3::HeaderMatcher;
  HeaderMatcher m;
  m.name_ = toLower(proto.name());
  m.invert_ = proto.invert_match();
  m.treat_missing_as_empty_ = proto.treat_missing_header_as_empty();
  switch (proto.header_match_specifier_case()) {
    case Proto::kStringMatch: {
      auto sm = StringMatcher::create(proto.string_match(), path + ".string_match");
      if (!sm.ok()) return sm.status();
      m.kind_ = Kind::String;
      m.string_ = std::move(sm.value());
      break;
    }
    case Proto::kPresentMatch:
      m.kind_ = Kind::Present;
      m.present_ = proto.present_match();
      break;
    case Proto::kRangeMatch:
      m.kind_ = Kind::Range;
      m.range_start_ = proto.range_match().start();
      m.range_end_ = proto.range_match().end();
      break;
    case Proto::HEADER_MATCH_SPECIFIER_NOT_SET:
      // Envoy: a matcher with no specifier only requires the header to be present.
      m.kind_ = Kind::Present;
      m.present_ = true;
      break;
    default: {
      // The deprecated exact_match/prefix_match/... fields: still generated by control planes
      // and still honoured by Envoy, so they become the equivalent StringMatcher.
      auto sm = deprecatedStringMatcher(proto, path);
      if (!sm.ok()) return sm.status();
      m.kind_ = Kind::String;
      m.string_ = std::move(sm.value());
      break;
    }
  }
  return m;
}

bool HeaderMatcher::match(const http::HeaderMap& headers) const {
  std::vector<std::string_view> values = headers.getAll(name_);
  if (values.empty() && !treat_missing_as_empty_) {
    // Absent header: only a present_match can say anything, as in Envoy's matchHeaders().
    bool matched = kind_ == Kind::Present && !present_;
    if (invert_) matched = kind_ == Kind::Present && present_;
    return matched;
  }
  std::string joined;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) joined.push_back(',');
    joined.append(values[i]);
  }
  bool matched = false;
  switch (kind_) {
    case Kind::Present:
      matched = present_;
      break;
    case Kind::String:
      matched = string_->match(joined);
      break;
    case Kind::Range: {
      int64_t number = 0;
      const char* end = joined.data() + joined.size();
      auto [ptr, ec] = std::from_chars(joined.data(), end, number);
      matched = ec == std::errc() && ptr == end && !joined.empty() && number >= range_start_ &&
                number < range_end_;
      break;
    }
  }
  return matched != invert_;
}

StatusOr<QueryParameterMatcher> QueryParameterMatcher::create(
    const envoy::config::route::v3::QueryParameterMatcher& proto, const std::string& path) {
  QueryParameterMatcher m;
  m.name_ = proto.name();
  if (proto.has_string_match()) {
    auto sm = StringMatcher::create(proto.string_match(), path + ".string_match");
    if (!sm.ok()) return sm.status();
    m.string_ = std::move(sm.value());
  } else if (proto.query_parameter_match_specifier_case() ==
             envoy::config::route::v3::QueryParameterMatcher::kPresentMatch) {
    m.present_ = proto.present_match();
  }
  return m;
}

bool QueryParameterMatcher::match(std::string_view query) const {
  std::optional<std::string> value = queryParameter(query, name_);
  if (string_) return value.has_value() && string_->match(*value);
  return value.has_value() == present_;
}

}  // namespace remora::router
