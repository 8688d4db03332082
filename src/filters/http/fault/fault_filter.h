#pragma once

#include <memory>
#include <optional>
#include <string>

#include "filters/http/fault/fault_config.h"
#include "filters/http/fault/stream_rate_limiter.h"
#include "http/filter.h"

namespace remora::filters::http::fault {

// envoy.filters.http.fault: for the requests its settings select (upstream cluster, downstream
// node, header matchers), delays the request (a dispatcher timer, then continueDecoding()), then
// or instead aborts it with a local reply (FI, "fault_filter_abort"), and may throttle the
// response body. A route's typed_per_filter_config replaces the settings for that route. At most
// max_active_faults streams carry a fault at once (Envoy's fuzzy limit on the gauge).
class FaultFilter final : public remora::http::StreamFilter {
 public:
  explicit FaultFilter(FaultFilterConfigSharedPtr config) : config_(std::move(config)) {}

  remora::http::FilterHeadersStatus decodeHeaders(remora::http::RequestHeaderMap& headers,
                                                  bool end_stream) override;
  remora::http::FilterDataStatus decodeData(buffer::Buffer& data, bool end_stream) override;
  remora::http::FilterTrailersStatus decodeTrailers(remora::http::TrailerMap& trailers) override;
  void setDecoderFilterCallbacks(remora::http::StreamDecoderFilterCallbacks& callbacks) override {
    decoder_callbacks_ = &callbacks;
  }

  remora::http::FilterHeadersStatus encodeHeaders(remora::http::ResponseHeaderMap&, bool) override {
    return remora::http::FilterHeadersStatus::Continue;
  }
  remora::http::FilterDataStatus encodeData(buffer::Buffer& data, bool end_stream) override;
  remora::http::FilterTrailersStatus encodeTrailers(remora::http::TrailerMap& trailers) override;
  void setEncoderFilterCallbacks(remora::http::StreamEncoderFilterCallbacks& callbacks) override {
    encoder_callbacks_ = &callbacks;
  }

  void onDestroy() override;

 private:
  bool matchesUpstreamCluster();
  void maybeSetupResponseRateLimit(const remora::http::RequestHeaderMap& headers);
  bool maybeSetupDelay(const remora::http::RequestHeaderMap& headers);
  bool maybeAbort(const remora::http::RequestHeaderMap& headers);
  std::optional<AbortFault::Status> abortStatus(
      const remora::http::RequestHeaderMap& headers) const;
  void abortWith(const AbortFault::Status& status);
  void onDelayElapsed();
  // Counts this stream as one active fault (once, whatever it injects); false on overflow.
  bool tryIncActiveFaults();
  void recordInjected(stats::Counter& counter, std::string_view name);

  const FaultFilterConfigSharedPtr config_;
  const FaultSettings* settings_ = nullptr;  // the filter's own or the route's
  remora::http::StreamDecoderFilterCallbacks* decoder_callbacks_ = nullptr;
  remora::http::StreamEncoderFilterCallbacks* encoder_callbacks_ = nullptr;
  std::string downstream_cluster_;  // for per-downstream-cluster stats; empty: none
  event::TimerPtr delay_timer_;
  bool delaying_ = false;
  std::unique_ptr<StreamRateLimiter> response_limiter_;
  bool fault_active_ = false;
};

}  // namespace remora::filters::http::fault
