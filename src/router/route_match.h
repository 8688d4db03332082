#pragma once

#include <re2/re2.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "envoy/config/core/v3/base.pb.h"
#include "envoy/config/route/v3/route_components.pb.h"
#include "envoy/type/v3/percent.pb.h"
#include "http/header_map.h"
#include "router/matchers.h"

namespace remora::router {

// A :path split the way route matching sees it: the path proper (no query, no fragment) and the
// query text (after '?', before '#').
struct SplitPath {
  std::string_view path;
  std::string_view query;
};
SplitPath splitPath(std::string_view full_path);

// A RuntimeFractionalPercent without a runtime layer: the default_value decides, as it does in
// Envoy when the runtime key is absent. Deterministic given the caller's random value.
class FractionalPercent {
 public:
  static FractionalPercent create(const envoy::config::core::v3::RuntimeFractionalPercent& proto);
  // An absent FractionalPercent is 0/100: never enabled, as in Envoy.
  static FractionalPercent create(const envoy::type::v3::FractionalPercent& proto);
  bool enabled(uint64_t random) const { return random % denominator_ < numerator_; }
  // The same denominator with the numerator lowered to at most `numerator` (a percentage from a
  // request header may narrow the configured one, never widen it).
  FractionalPercent cappedAt(uint64_t numerator) const {
    FractionalPercent f = *this;
    if (numerator < f.numerator_) f.numerator_ = numerator;
    return f;
  }
  uint64_t numerator() const { return numerator_; }
  uint64_t denominator() const { return denominator_; }

 private:
  uint64_t numerator_ = 100;
  uint64_t denominator_ = 100;
};

// envoy.config.route.v3.RouteMatch: the path specifier, then headers, query parameters, runtime
// fraction and the gRPC check; all must hold. connect_matcher takes the path specifier's place
// and matches CONNECT requests (whose HTTP/1.1 form has no path) and nothing else.
class RouteMatcher {
 public:
  static StatusOr<RouteMatcher> create(const envoy::config::route::v3::RouteMatch& proto,
                                       const std::string& path);
  bool match(const http::HeaderMap& headers, const SplitPath& split, uint64_t random) const;
  // Envoy's prefix_rewrite: the matched part of `full_path` (the prefix for prefix matches, the
  // whole path for path and regex matches) replaced by `replacement`; the query is kept.
  std::string rewritePrefix(std::string_view full_path, std::string_view replacement) const;

 private:
  enum class PathKind { Prefix, Path, Regex, SeparatedPrefix, Connect };
  bool matchPath(std::string_view path) const;

  PathKind kind_ = PathKind::Prefix;
  std::string value_;  // prefix or path as configured
  std::shared_ptr<const re2::RE2> regex_;
  bool case_sensitive_ = true;
  std::vector<HeaderMatcher> headers_;
  std::vector<QueryParameterMatcher> query_parameters_;
  std::optional<FractionalPercent> runtime_fraction_;
  bool grpc_ = false;
};

}  // namespace remora::router
