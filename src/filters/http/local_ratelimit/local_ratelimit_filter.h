#pragma once

#include "filters/http/local_ratelimit/local_ratelimit_config.h"
#include "http/filter.h"

namespace remora::filters::http::local_ratelimit {

// envoy.filters.http.local_ratelimit: each request the config enables takes a token from the
// bucket (shared by all workers, or the connection's own); without one it is counted as rate
// limited and, when enforced, answered locally (429 by default, RL, "local_rate_limited"). A
// route's typed_per_filter_config replaces the config, bucket and stats for that route. With
// enable_x_ratelimit_headers the response carries x-ratelimit-limit/remaining/reset.
class LocalRateLimitFilter final : public remora::http::StreamFilter {
 public:
  explicit LocalRateLimitFilter(LocalRateLimitConfigConstSharedPtr config)
      : config_(std::move(config)) {}

  remora::http::FilterHeadersStatus decodeHeaders(remora::http::RequestHeaderMap& headers,
                                                  bool end_stream) override;
  void setDecoderFilterCallbacks(remora::http::StreamDecoderFilterCallbacks& callbacks) override {
    decoder_callbacks_ = &callbacks;
  }
  remora::http::FilterHeadersStatus encodeHeaders(remora::http::ResponseHeaderMap& headers,
                                                  bool end_stream) override;
  void setEncoderFilterCallbacks(remora::http::StreamEncoderFilterCallbacks&) override {}
  void onDestroy() override { bucket_ = nullptr; }

 private:
  TokenBucket& bucketFor(const LocalRateLimitConfig& config);

  const LocalRateLimitConfigConstSharedPtr config_;
  remora::http::StreamDecoderFilterCallbacks* decoder_callbacks_ = nullptr;
  const LocalRateLimitConfig* used_config_ = nullptr;  // the filter's or the route's
  TokenBucket* bucket_ = nullptr;                      // the bucket this request consulted
};

}  // namespace remora::filters::http::local_ratelimit
