#pragma once

#include <string>

#include "filters/http/cors/cors_policy.h"
#include "http/filter.h"
#include "stats/store.h"

namespace remora::filters::http::cors {

// http.<stat_prefix>.cors.*: requests with an Origin header, by whether the policy allows it.
struct CorsStats {
  CorsStats(stats::Store& store, const std::string& prefix)
      : origin_valid(store.counter(prefix + "cors.origin_valid")),
        origin_invalid(store.counter(prefix + "cors.origin_invalid")) {}
  stats::Counter& origin_valid;
  stats::Counter& origin_invalid;
};

// envoy.filters.http.cors: answers CORS preflights (OPTIONS with Origin and
// Access-Control-Request-Method) locally with 200 and the access-control-* headers, and adds
// access-control-allow-origin (with credentials and expose headers) to the responses of allowed
// cross-origin requests. The policy comes from typed_per_filter_config (CorsPolicy) of the route,
// virtual host and route configuration; without one, the filter does nothing.
class CorsFilter final : public remora::http::StreamFilter {
 public:
  explicit CorsFilter(CorsStats& stats) : stats_(stats) {}

  remora::http::FilterHeadersStatus decodeHeaders(remora::http::RequestHeaderMap& headers,
                                                  bool end_stream) override;
  void setDecoderFilterCallbacks(remora::http::StreamDecoderFilterCallbacks& callbacks) override {
    decoder_callbacks_ = &callbacks;
  }
  remora::http::FilterHeadersStatus encodeHeaders(remora::http::ResponseHeaderMap& headers,
                                                  bool end_stream) override;
  void setEncoderFilterCallbacks(remora::http::StreamEncoderFilterCallbacks&) override {}

 private:
  void sendPreflightResponse(const remora::http::RequestHeaderMap& request, bool origin_allowed);

  CorsStats& stats_;
  remora::http::StreamDecoderFilterCallbacks* decoder_callbacks_ = nullptr;
  EffectiveCorsPolicy policy_;
  bool is_cors_request_ = false;
  std::string allowed_origin_;  // the request's Origin when the policy allows it
};

}  // namespace remora::filters::http::cors
