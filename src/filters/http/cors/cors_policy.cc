#include "filters/http/cors/cors_policy.h"

namespace remora::filters::http::cors {

StatusOr<std::shared_ptr<const CorsPolicy>> CorsPolicy::create(const Proto& proto) {
  std::shared_ptr<CorsPolicy> policy(new CorsPolicy());
  for (int i = 0; i < proto.allow_origin_string_match_size(); ++i) {
    auto matcher = router::StringMatcher::create(
        proto.allow_origin_string_match(i), "allow_origin_string_match[" + std::to_string(i) + "]");
    if (!matcher.ok()) return matcher.status();
    policy->allow_origins_.push_back(std::move(*matcher));
  }
  policy->allow_methods_ = proto.allow_methods();
  policy->allow_headers_ = proto.allow_headers();
  policy->expose_headers_ = proto.expose_headers();
  policy->max_age_ = proto.max_age();
  if (proto.has_allow_credentials()) policy->allow_credentials_ = proto.allow_credentials().value();
  if (proto.has_allow_private_network_access()) {
    policy->allow_private_network_access_ = proto.allow_private_network_access().value();
  }
  if (proto.has_forward_not_matching_preflights()) {
    policy->forward_not_matching_preflights_ = proto.forward_not_matching_preflights().value();
  }
  if (proto.has_filter_enabled()) {
    policy->filter_enabled_ = router::FractionalPercent::create(proto.filter_enabled());
  }
  if (proto.has_shadow_enabled()) {
    policy->shadow_enabled_ = router::FractionalPercent::create(proto.shadow_enabled());
  }
  return std::shared_ptr<const CorsPolicy>(std::move(policy));
}

EffectiveCorsPolicy::EffectiveCorsPolicy(const router::Route::PerFilterConfigLevels& levels) {
  for (const router::RouteSpecificFilterConfig* level : levels) {
    if (const auto* policy = dynamic_cast<const CorsPolicy*>(level)) policies_[count_++] = policy;
  }
}

template <class Get>
std::string_view EffectiveCorsPolicy::firstNonEmpty(Get get) const {
  for (size_t i = 0; i < count_; ++i) {
    const std::string& value = get(*policies_[i]);
    if (!value.empty()) return value;
  }
  return {};
}

template <class Get>
std::optional<bool> EffectiveCorsPolicy::firstSet(Get get) const {
  for (size_t i = 0; i < count_; ++i) {
    const std::optional<bool>& value = get(*policies_[i]);
    if (value) return value;
  }
  return std::nullopt;
}

bool EffectiveCorsPolicy::originAllowed(std::string_view origin) const {
  // The most specific level with a non-empty origin list decides.
  for (size_t i = 0; i < count_; ++i) {
    const auto& origins = policies_[i]->allowOrigins();
    if (origins.empty()) continue;
    for (const router::StringMatcher& matcher : origins) {
      if (matcher.match("*") || matcher.match(origin)) return true;
    }
    return false;
  }
  return false;
}

std::string_view EffectiveCorsPolicy::allowMethods() const {
  return firstNonEmpty([](const CorsPolicy& p) -> const std::string& { return p.allowMethods(); });
}

std::string_view EffectiveCorsPolicy::allowHeaders() const {
  return firstNonEmpty([](const CorsPolicy& p) -> const std::string& { return p.allowHeaders(); });
}

std::string_view EffectiveCorsPolicy::exposeHeaders() const {
  return firstNonEmpty([](const CorsPolicy& p) -> const std::string& { return p.exposeHeaders(); });
}

std::string_view EffectiveCorsPolicy::maxAge() const {
  return firstNonEmpty([](const CorsPolicy& p) -> const std::string& { return p.maxAge(); });
}

bool EffectiveCorsPolicy::allowCredentials() const {
  return firstSet(
             [](const CorsPolicy& p) -> const std::optional<bool>& { return p.allowCredentials(); })
      .value_or(false);
}

bool EffectiveCorsPolicy::allowPrivateNetworkAccess() const {
  return firstSet([](const CorsPolicy& p) -> const std::optional<bool>& {
           return p.allowPrivateNetworkAccess();
         })
      .value_or(false);
}

bool EffectiveCorsPolicy::forwardNotMatchingPreflights() const {
  return firstSet([](const CorsPolicy& p) -> const std::optional<bool>& {
           return p.forwardNotMatchingPreflights();
         })
      .value_or(true);
}

}  // namespace remora::filters::http::cors
