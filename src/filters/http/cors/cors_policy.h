#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "envoy/extensions/filters/http/cors/v3/cors.pb.h"
#include "router/matchers.h"
#include "router/route.h"
#include "router/route_match.h"

namespace remora::filters::http::cors {

inline constexpr std::string_view kFilterName = "envoy.filters.http.cors";

// envoy.extensions.filters.http.cors.v3.CorsPolicy from one typed_per_filter_config level (route,
// virtual host or route configuration), built when the route table is built. Unset fields stay
// unset: the filter takes each field from the most specific level that sets it.
class CorsPolicy final : public router::RouteSpecificFilterConfig {
 public:
  using Proto = envoy::extensions::filters::http::cors::v3::CorsPolicy;
  static StatusOr<std::shared_ptr<const CorsPolicy>> create(const Proto& proto);

  const std::vector<router::StringMatcher>& allowOrigins() const { return allow_origins_; }
  const std::string& allowMethods() const { return allow_methods_; }
  const std::string& allowHeaders() const { return allow_headers_; }
  const std::string& exposeHeaders() const { return expose_headers_; }
  const std::string& maxAge() const { return max_age_; }
  const std::optional<bool>& allowCredentials() const { return allow_credentials_; }
  const std::optional<bool>& allowPrivateNetworkAccess() const {
    return allow_private_network_access_;
  }
  const std::optional<bool>& forwardNotMatchingPreflights() const {
    return forward_not_matching_preflights_;
  }
  // filter_enabled (absent: always) and shadow_enabled (absent: never), drawn per request from
  // the caller's random value (no runtime layer: default_value decides).
  bool enabled(uint64_t random) const {
    return !filter_enabled_ || filter_enabled_->enabled(random);
  }
  bool shadowEnabled(uint64_t random) const {
    return shadow_enabled_ && shadow_enabled_->enabled(random);
  }

 private:
  CorsPolicy() = default;

  std::vector<router::StringMatcher> allow_origins_;
  std::string allow_methods_;
  std::string allow_headers_;
  std::string expose_headers_;
  std::string max_age_;
  std::optional<bool> allow_credentials_;
  std::optional<bool> allow_private_network_access_;
  std::optional<bool> forward_not_matching_preflights_;
  std::optional<router::FractionalPercent> filter_enabled_;
  std::optional<router::FractionalPercent> shadow_enabled_;
};

// The CORS policy in force for one request: the policies of every level that sets one, most
// specific first. As Envoy's CORS filter does, each field comes from the first policy that sets it,
// while filter_enabled and shadow_enabled come from the most specific policy alone.
class EffectiveCorsPolicy {
 public:
  EffectiveCorsPolicy() = default;
  explicit EffectiveCorsPolicy(const router::Route::PerFilterConfigLevels& levels);

  bool empty() const { return count_ == 0; }
  bool enabled(uint64_t random) const { return count_ > 0 && policies_[0]->enabled(random); }
  bool shadowEnabled(uint64_t random) const {
    return count_ > 0 && policies_[0]->shadowEnabled(random);
  }
  // Any allow_origin_string_match entry matches the origin, or matches "*" (Envoy's wildcard).
  bool originAllowed(std::string_view origin) const;
  std::string_view allowMethods() const;
  std::string_view allowHeaders() const;
  std::string_view exposeHeaders() const;
  std::string_view maxAge() const;
  bool allowCredentials() const;
  bool allowPrivateNetworkAccess() const;
  // Default true: a preflight from an origin not allowed goes upstream.
  bool forwardNotMatchingPreflights() const;

 private:
  template <class Get>
  std::string_view firstNonEmpty(Get get) const;
  template <class Get>
  std::optional<bool> firstSet(Get get) const;

  const CorsPolicy* policies_[3] = {};
  size_t count_ = 0;
};

}  // namespace remora::filters::http::cors
