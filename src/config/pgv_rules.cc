#include "config/pgv_rules.h"

#include "config/reflection_util.h"

#include <arpa/inet.h>
#include <re2/re2.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <optional>

namespace remora::config::pgv {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;


// Formats a bound as the rules message spells it (integers without a fraction).
std::string formatNumber(long double v) {
  char buf[64];
  if (v == static_cast<long double>(static_cast<long long>(v)) && v < 1e19L && v > -1e19L) {
    std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(v));
  } else if (v >= 0 && v == static_cast<long double>(static_cast<unsigned long long>(v))) {
    std::snprintf(buf, sizeof(buf), "%llu", static_cast<unsigned long long>(v));
  } else {
    std::snprintf(buf, sizeof(buf), "%Lg", v);
  }
  return buf;
}

// A lower/upper bound pair as PGV defines it: when lower > upper the range is inverted (the value
// must lie outside it).
struct Bound {
  long double value;
  bool inclusive;
};

Status checkRange(long double v, std::optional<Bound> lower, std::optional<Bound> upper,
                  const std::function<std::string(long double)>& fmt) {
  auto above = [&](const Bound& b) { return b.inclusive ? v >= b.value : v > b.value; };
  auto below = [&](const Bound& b) { return b.inclusive ? v <= b.value : v < b.value; };
  if (lower && upper) {
    std::string range = std::string(lower->inclusive ? "[" : "(") + fmt(lower->value) + ", " +
                        fmt(upper->value) + (upper->inclusive ? "]" : ")");
    if (lower->value < upper->value) {
      if (!above(*lower) || !below(*upper))
        return Status::error("value must be inside range " + range);
    } else if (!above(*lower) && !below(*upper)) {
      return Status::error("value must be outside range " + range);
    }
    return Status();
  }
  if (lower && !above(*lower)) {
    return Status::error(std::string("value must be greater than ") +
                         (lower->inclusive ? "or equal to " : "") + fmt(lower->value));
  }
  if (upper && !below(*upper)) {
    return Status::error(std::string("value must be less than ") +
                         (upper->inclusive ? "or equal to " : "") + fmt(upper->value));
  }
  return Status();
}

// Shared by numbers and durations: reads const/lt/lte/gt/gte/in/not_in through `get`.
Status checkOrdered(long double v, const Message& rules,
                    const std::function<long double(const FieldDescriptor*, int)>& get,
                    const std::function<std::string(long double)>& fmt) {
  const auto* d = rules.GetDescriptor();
  const auto* r = rules.GetReflection();
  auto has = [&](const char* name) {
    const auto* f = d->FindFieldByName(name);
    return f != nullptr && r->HasField(rules, f);
  };
  auto val = [&](const char* name) { return get(d->FindFieldByName(name), -1); };
  if (has("const") && v != val("const"))
    return Status::error("value must equal " + fmt(val("const")));
  std::optional<Bound> lower, upper;
  if (has("gt")) lower = Bound{val("gt"), false};
  if (has("gte")) lower = Bound{val("gte"), true};
  if (has("lt")) upper = Bound{val("lt"), false};
  if (has("lte")) upper = Bound{val("lte"), true};
  RETURN_IF_ERROR(checkRange(v, lower, upper, fmt));
  for (const char* list : {"in", "not_in"}) {
    const auto* f = d->FindFieldByName(list);
    if (f == nullptr || r->FieldSize(rules, f) == 0) continue;
    std::string items;
    bool found = false;
    for (int i = 0; i < r->FieldSize(rules, f); ++i) {
      long double item = get(f, i);
      found = found || item == v;
      items += (i ? ", " : "") + fmt(item);
    }
    const bool want_in = std::string_view(list) == "in";
    if (found != want_in) {
      return Status::error(std::string("value must ") + (want_in ? "" : "not ") + "be in list [" +
                           items + "]");
    }
  }
  return Status();
}

long double durationNanos(const Message& m) {
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  return static_cast<long double>(r->GetInt64(m, d->FindFieldByName("seconds"))) * 1e9L +
         r->GetInt32(m, d->FindFieldByName("nanos"));
}

std::string formatDuration(long double nanos) { return formatNumber(nanos / 1e9L) + "s"; }

size_t utf8Length(const std::string& s) {
  return std::count_if(s.begin(), s.end(),
                       [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
}

bool isIpv4(const std::string& s) {
  in_addr a;
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}
bool isIpv6(const std::string& s) {
  in6_addr a;
  return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}
bool isHostname(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find('.', start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view label = s.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    start = end + 1;
  }
  return true;
}

Status checkWellKnownString(const std::string& v, const validate::StringRules& rules) {
  using R = validate::StringRules;
  switch (rules.well_known_case()) {
    case R::kHostname:
      return !rules.hostname() || isHostname(v) ? Status()
                                                : Status::error("value must be a valid hostname");
    case R::kIp:
      return !rules.ip() || isIpv4(v) || isIpv6(v)
                 ? Status()
                 : Status::error("value must be a valid IP address");
    case R::kIpv4:
      return !rules.ipv4() || isIpv4(v) ? Status()
                                        : Status::error("value must be a valid IPv4 address");
    case R::kIpv6:
      return !rules.ipv6() || isIpv6(v) ? Status()
                                        : Status::error("value must be a valid IPv6 address");
    case R::kAddress:
      return !rules.address() || isHostname(v) || isIpv4(v) || isIpv6(v)
                 ? Status()
                 : Status::error("value must be a valid hostname or IP address");
    case R::kEmail:
      return !rules.email() || v.find('@') != std::string::npos
                 ? Status()
                 : Status::error("value must be a valid email address");
    case R::kUri:
      return !rules.uri() || v.find(':') != std::string::npos
                 ? Status()
                 : Status::error("value must be an absolute URI");
    case R::kUuid: {
      static const re2::RE2 uuid(
          "(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
      return !rules.uuid() || re2::RE2::FullMatch(v, uuid)
                 ? Status()
                 : Status::error("value must be a valid UUID");
    }
    case R::kWellKnownRegex: {
      // Envoy's header rules: strict follows RFC 7230; non-strict only forbids NUL, CR and LF.
      static const re2::RE2 strict_name("^:?[0-9a-zA-Z!#$%&'*+\\-.^_|~`]+$");
      static const re2::RE2 strict_value("^[^\\x00-\\x08\\x0A-\\x1F\\x7F]*$");
      static const re2::RE2 loose("^[^\\x00\\x0A\\x0D]*$");
      const bool strict = !rules.has_strict() || rules.strict();
      if (rules.well_known_regex() == validate::HTTP_HEADER_NAME) {
        if (!re2::RE2::FullMatch(v, strict ? strict_name : loose)) {
          return Status::error("value must be a valid HTTP header name");
        }
      } else if (rules.well_known_regex() == validate::HTTP_HEADER_VALUE) {
        if (!re2::RE2::FullMatch(v, strict ? strict_value : loose)) {
          return Status::error("value must be a valid HTTP header value");
        }
      }
      return Status();
    }
    default:
      return Status();
  }
}

}  // namespace

Status checkNumber(long double value, const Message& rules) {
  auto get = [&](const FieldDescriptor* f, int i) { return numberOf(rules, f, i); };
  return checkOrdered(value, rules, get, formatNumber);
}

Status checkBool(bool value, const validate::BoolRules& rules) {
  if (rules.has_const_() && value != rules.const_()) {
    return Status::error(std::string("value must equal ") + (rules.const_() ? "true" : "false"));
  }
  return Status();
}

Status checkString(const std::string& v, const validate::StringRules& rules) {
  if (rules.ignore_empty() && v.empty()) return Status();
  auto n = [](uint64_t x) { return std::to_string(x); };
  if (rules.has_const_() && v != rules.const_())
    return Status::error("value must equal \"" + rules.const_() + "\"");
  const size_t chars = utf8Length(v);
  if (rules.has_len() && chars != rules.len())
    return Status::error("value length must be " + n(rules.len()) + " characters");
  if (rules.has_min_len() && chars < rules.min_len()) {
    return Status::error("value length must be at least " + n(rules.min_len()) + " characters");
  }
  if (rules.has_max_len() && chars > rules.max_len()) {
    return Status::error("value length must be at most " + n(rules.max_len()) + " characters");
  }
  if (rules.has_len_bytes() && v.size() != rules.len_bytes()) {
    return Status::error("value length must be " + n(rules.len_bytes()) + " bytes");
  }
  if (rules.has_min_bytes() && v.size() < rules.min_bytes()) {
    return Status::error("value length must be at least " + n(rules.min_bytes()) + " bytes");
  }
  if (rules.has_max_bytes() && v.size() > rules.max_bytes()) {
    return Status::error("value length must be at most " + n(rules.max_bytes()) + " bytes");
  }
  if (rules.has_pattern()) {
    re2::RE2 re(rules.pattern());
    if (re.ok() && !re2::RE2::PartialMatch(v, re)) {
      return Status::error("value does not match regex pattern \"" + rules.pattern() + "\"");
    }
  }
  if (rules.has_prefix() && v.rfind(rules.prefix(), 0) != 0) {
    return Status::error("value does not have prefix \"" + rules.prefix() + "\"");
  }
  if (rules.has_suffix() &&
      (v.size() < rules.suffix().size() ||
       v.compare(v.size() - rules.suffix().size(), std::string::npos, rules.suffix()) != 0)) {
    return Status::error("value does not have suffix \"" + rules.suffix() + "\"");
  }
  if (rules.has_contains() && v.find(rules.contains()) == std::string::npos) {
    return Status::error("value does not contain substring \"" + rules.contains() + "\"");
  }
  if (rules.has_not_contains() && v.find(rules.not_contains()) != std::string::npos) {
    return Status::error("value contains substring \"" + rules.not_contains() + "\"");
  }
  if (rules.in_size() > 0 &&
      std::find(rules.in().begin(), rules.in().end(), v) == rules.in().end()) {
    return Status::error("value must be in list of allowed strings");
  }
  if (std::find(rules.not_in().begin(), rules.not_in().end(), v) != rules.not_in().end()) {
    return Status::error("value must not be \"" + v + "\"");
  }
  return checkWellKnownString(v, rules);
}

Status checkBytes(const std::string& v, const validate::BytesRules& rules) {
  auto n = [](uint64_t x) { return std::to_string(x); };
  if (rules.has_const_() && v != rules.const_())
    return Status::error("value must equal the given bytes");
  if (rules.has_len() && v.size() != rules.len())
    return Status::error("value length must be " + n(rules.len()) + " bytes");
  if (rules.has_min_len() && v.size() < rules.min_len()) {
    return Status::error("value length must be at least " + n(rules.min_len()) + " bytes");
  }
  if (rules.has_max_len() && v.size() > rules.max_len()) {
    return Status::error("value length must be at most " + n(rules.max_len()) + " bytes");
  }
  if (rules.has_pattern()) {
    re2::RE2 re(rules.pattern(), re2::RE2::Latin1);
    if (re.ok() && !re2::RE2::PartialMatch(v, re))
      return Status::error("value does not match regex pattern");
  }
  if (rules.has_prefix() && v.rfind(rules.prefix(), 0) != 0)
    return Status::error("value does not have the given prefix");
  if (rules.has_contains() && v.find(rules.contains()) == std::string::npos) {
    return Status::error("value does not contain the given bytes");
  }
  if (rules.ip() && v.size() != 4 && v.size() != 16)
    return Status::error("value must be a valid IP address");
  if (rules.ipv4() && v.size() != 4) return Status::error("value must be a valid IPv4 address");
  if (rules.ipv6() && v.size() != 16) return Status::error("value must be a valid IPv6 address");
  return Status();
}

Status checkEnum(int value, const google::protobuf::EnumDescriptor* type,
                 const validate::EnumRules& rules) {
  if (rules.has_const_() && value != rules.const_())
    return Status::error("value must equal " + std::to_string(rules.const_()));
  if (rules.defined_only() && type->FindValueByNumber(value) == nullptr) {
    return Status::error("value must be one of the defined enum values");
  }
  if (rules.in_size() > 0 &&
      std::find(rules.in().begin(), rules.in().end(), value) == rules.in().end()) {
    return Status::error("value must be in list of allowed enum values");
  }
  if (std::find(rules.not_in().begin(), rules.not_in().end(), value) != rules.not_in().end()) {
    return Status::error("value must not be in list of disallowed enum values");
  }
  return Status();
}

Status checkDuration(const Message& duration, const validate::DurationRules& rules) {
  auto get = [&](const FieldDescriptor* f, int i) {
    const auto* r = rules.GetReflection();
    return durationNanos(i < 0 ? r->GetMessage(rules, f) : r->GetRepeatedMessage(rules, f, i));
  };
  return checkOrdered(durationNanos(duration), rules, get, formatDuration);
}

Status checkTimestamp(const Message& timestamp, const validate::TimestampRules& rules) {
  // Same shape as a duration (seconds + nanos since the epoch); lt_now/gt_now/within are not
  // used by any Envoy bootstrap field and are not checked.
  auto get = [&](const FieldDescriptor* f, int) {
    return durationNanos(rules.GetReflection()->GetMessage(rules, f));
  };
  return checkOrdered(durationNanos(timestamp), rules, get, formatNumber);
}

Status checkAny(const std::string& type_url, const validate::AnyRules& rules) {
  if (rules.in_size() > 0 &&
      std::find(rules.in().begin(), rules.in().end(), type_url) == rules.in().end()) {
    return Status::error("type URL must be in the list of allowed types");
  }
  if (std::find(rules.not_in().begin(), rules.not_in().end(), type_url) != rules.not_in().end()) {
    return Status::error("type URL must not be " + type_url);
  }
  return Status();
}

}  // namespace remora::config::pgv
