#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "filters/http/health_check/health_check_config.h"
#include "http/filter.h"
#include "server/worker_context.h"

namespace remora::filters::http::health_check {

// envoy.filters.http.health_check: recognises health checks by `headers`, marks the stream as one
// (the access log's not_health_check_filter leaves it out) and answers it locally — 200, or 503
// while the server fails health checks (admin /healthcheck/fail) or a cluster in
// cluster_min_healthy_percentages has too few healthy hosts. In pass-through mode the check goes
// upstream instead (unless the server is failing, or a cached answer is fresh). While failing,
// every other response carries x-envoy-immediate-health-check-fail: true.
class HealthCheckFilter final : public remora::http::StreamFilter {
 public:
  HealthCheckFilter(std::shared_ptr<const HealthCheckConfig> config, server::WorkerContext& worker)
      : config_(std::move(config)), worker_(worker) {}

  remora::http::FilterHeadersStatus decodeHeaders(remora::http::RequestHeaderMap& headers,
                                                  bool end_stream) override;
  remora::http::FilterDataStatus decodeData(buffer::Buffer& data, bool end_stream) override;
  remora::http::FilterTrailersStatus decodeTrailers(remora::http::TrailerMap& trailers) override;
  void setDecoderFilterCallbacks(remora::http::StreamDecoderFilterCallbacks& callbacks) override {
    decoder_callbacks_ = &callbacks;
  }
  remora::http::FilterHeadersStatus encodeHeaders(remora::http::ResponseHeaderMap& headers,
                                                  bool end_stream) override;
  void setEncoderFilterCallbacks(remora::http::StreamEncoderFilterCallbacks&) override {}

 private:
  struct Verdict {
    uint32_t code;
    std::string_view details;
  };
  bool serverFailing() const {
    return worker_.server.health_check_failed.load(std::memory_order_relaxed);
  }
  // Sends the local answer once the whole request has arrived.
  void respond();
  Verdict clusterVerdict() const;

  const std::shared_ptr<const HealthCheckConfig> config_;
  server::WorkerContext& worker_;
  remora::http::StreamDecoderFilterCallbacks* decoder_callbacks_ = nullptr;
  bool health_check_request_ = false;
  bool handling_ = false;  // answered here rather than upstream
  std::optional<HealthCheckCache::Answer> cached_;
};

}  // namespace remora::filters::http::health_check
