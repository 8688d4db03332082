#pragma once

#include <re2/re2.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "envoy/config/route/v3/route_components.pb.h"
#include "envoy/type/matcher/v3/regex.pb.h"
#include "envoy/type/matcher/v3/string.pb.h"
#include "http/header_map.h"

namespace remora::router {

// Compiles an Envoy RegexMatcher (RE2, as Envoy's safe_regex). `path` names the RegexMatcher
// field; errors read "<path>.regex: invalid regex: <RE2 error>".
StatusOr<std::shared_ptr<const re2::RE2>> compileRegex(
    const envoy::type::matcher::v3::RegexMatcher& proto, const std::string& path);

// envoy.type.matcher.v3.StringMatcher: exact / prefix / suffix / contains / safe_regex, with
// ignore_case for all but safe_regex (Envoy ignores it there; the regex decides).
class StringMatcher {
 public:
  static StatusOr<StringMatcher> create(const envoy::type::matcher::v3::StringMatcher& proto,
                                        const std::string& path);
  bool match(std::string_view value) const;

 private:
  enum class Kind { Exact, Prefix, Suffix, Contains, Regex };
  Kind kind_ = Kind::Exact;
  std::string value_;  // lower-cased when ignore_case_
  bool ignore_case_ = false;
  std::shared_ptr<const re2::RE2> regex_;
};

// envoy.config.route.v3.HeaderMatcher. Repeated headers are matched as one value joined with
// "," (Envoy's getAllOfHeaderAsString), so "a: 1" + "a: 2" is seen as "1,2".
class HeaderMatcher {
 public:
  static StatusOr<HeaderMatcher> create(const envoy::config::route::v3::HeaderMatcher& proto,
                                        const std::string& path);
  bool match(const http::HeaderMap& headers) const;

 private:
  enum class Kind { Present, String, Range };
  std::string name_;
  Kind kind_ = Kind::Present;
  bool present_ = true;
  std::optional<StringMatcher> string_;
  int64_t range_start_ = 0;
  int64_t range_end_ = 0;
  bool invert_ = false;
  bool treat_missing_as_empty_ = false;
};

// envoy.config.route.v3.QueryParameterMatcher: string_match on the first (percent-decoded) value
// or present_match; neither set means "present".
class QueryParameterMatcher {
 public:
  static StatusOr<QueryParameterMatcher> create(
      const envoy::config::route::v3::QueryParameterMatcher& proto, const std::string& path);
  // `query` is the text after '?' (without fragment).
  bool match(std::string_view query) const;

 private:
  std::string name_;
  std::optional<StringMatcher> string_;
  bool present_ = true;
};

// Lower-cases ASCII.
std::string toLower(std::string_view s);
bool equalsIgnoreCase(std::string_view a, std::string_view b);
bool startsWithIgnoreCase(std::string_view s, std::string_view prefix);
// Decodes %XX escapes (malformed escapes are kept as they are, like Envoy).
std::string percentDecode(std::string_view s);
// The first value of query parameter `name` in `query` (decoded), if present.
std::optional<std::string> queryParameter(std::string_view query, std::string_view name);

}  // namespace remora::router
