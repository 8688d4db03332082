#include "filters/http/cors/cors_filter.h"

#include "common/random.h"

namespace remora::filters::http::cors {

namespace h = remora::http::headers;
using remora::http::FilterHeadersStatus;

namespace {
constexpr std::string_view kOrigin = "origin";
constexpr std::string_view kRequestMethod = "access-control-request-method";
constexpr std::string_view kRequestHeaders = "access-control-request-headers";
constexpr std::string_view kRequestPrivateNetwork = "access-control-request-private-network";
constexpr std::string_view kAllowOrigin = "access-control-allow-origin";
constexpr std::string_view kAllowCredentials = "access-control-allow-credentials";
constexpr std::string_view kAllowMethods = "access-control-allow-methods";
constexpr std::string_view kAllowHeaders = "access-control-allow-headers";
constexpr std::string_view kAllowPrivateNetwork = "access-control-allow-private-network";
constexpr std::string_view kMaxAge = "access-control-max-age";
constexpr std::string_view kExposeHeaders = "access-control-expose-headers";

std::string_view valueOf(const remora::http::HeaderMap& headers, std::string_view name) {
  const std::string* value = headers.get(name);
  return value ? std::string_view(*value) : std::string_view();
}
}  // namespace

FilterHeadersStatus CorsFilter::decodeHeaders(remora::http::RequestHeaderMap& headers, bool) {
  // Redirects and direct responses have no route entry; Envoy applies no CORS policy to them.
  const router::Route* route = decoder_callbacks_->route();
  if (route == nullptr || route->routeEntry() == nullptr) return FilterHeadersStatus::Continue;
  policy_ = EffectiveCorsPolicy(route->perFilterConfigLevels(kFilterName));
  const bool enabled = policy_.enabled(randomU64());
  const bool shadow = policy_.shadowEnabled(randomU64());
  if (!enabled && !shadow) return FilterHeadersStatus::Continue;

  const std::string_view origin = valueOf(headers, kOrigin);
  if (origin.empty()) return FilterHeadersStatus::Continue;
  const bool origin_allowed = policy_.originAllowed(origin);
  if (origin_allowed) {
    stats_.origin_valid.inc();
    allowed_origin_ = origin;
  } else {
    stats_.origin_invalid.inc();
  }
  // Shadow mode counts what enforcement would do, and changes nothing.
  if (!enabled) return FilterHeadersStatus::Continue;

  is_cors_request_ = true;
  if (headers.method() != "OPTIONS" || valueOf(headers, kRequestMethod).empty()) {
    return FilterHeadersStatus::Continue;
  }
  if (!origin_allowed && policy_.forwardNotMatchingPreflights())
    return FilterHeadersStatus::Continue;
  sendPreflightResponse(headers, origin_allowed);
  return FilterHeadersStatus::StopIteration;
}

void CorsFilter::sendPreflightResponse(const remora::http::RequestHeaderMap& request,
                                       bool origin_allowed) {
  auto response = std::make_unique<remora::http::ResponseHeaderMap>();
  response->set(h::kStatus, "200");
  if (origin_allowed) response->set(kAllowOrigin, allowed_origin_);
  if (policy_.allowCredentials()) response->set(kAllowCredentials, "true");
  // "*" echoes what the preflight asks for.
  if (std::string_view methods = policy_.allowMethods(); !methods.empty()) {
    response->set(kAllowMethods, methods == "*" ? valueOf(request, kRequestMethod) : methods);
  }
  if (std::string_view allowed = policy_.allowHeaders(); !allowed.empty()) {
    response->set(kAllowHeaders, allowed == "*" ? valueOf(request, kRequestHeaders) : allowed);
  }
  if (std::string_view max_age = policy_.maxAge(); !max_age.empty())
    response->set(kMaxAge, max_age);
  // Private Network Access preflights (Chrome) are answered only when the policy allows them.
  if (policy_.allowPrivateNetworkAccess() && valueOf(request, kRequestPrivateNetwork) == "true") {
    response->set(kAllowPrivateNetwork, "true");
  }
  decoder_callbacks_->encodeHeaders(std::move(response), true, "cors_response");
}

FilterHeadersStatus CorsFilter::encodeHeaders(remora::http::ResponseHeaderMap& headers, bool) {
  if (!is_cors_request_ || allowed_origin_.empty()) return FilterHeadersStatus::Continue;
  headers.set(kAllowOrigin, allowed_origin_);
  if (policy_.allowCredentials()) headers.set(kAllowCredentials, "true");
  if (std::string_view expose = policy_.exposeHeaders(); !expose.empty())
    headers.set(kExposeHeaders, expose);
  return FilterHeadersStatus::Continue;
}

}  // namespace remora::filters::http::cors
