#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "http/filter.h"
#include "router/retry_state.h"
#include "server/worker_context.h"
#include "upstream/http1_conn_pool.h"

namespace remora::router {

class RouteEntry;
class ShadowRequest;

// envoy.filters.http.router: the terminal filter. Picks the cluster and host for the request's
// route, sends it upstream through the worker's connection pool, streams the response back, and
// owns timeouts (route and per-try), retries with back-off, and Envoy's local replies and
// response flags for upstream failures.
class RouterFilter final : public http::StreamDecoderFilter,
                           private http::DownstreamWatermarkCallbacks {
 public:
  explicit RouterFilter(server::WorkerContext& worker);
  ~RouterFilter() override;

  http::FilterHeadersStatus decodeHeaders(http::RequestHeaderMap& headers,
                                          bool end_stream) override;
  http::FilterDataStatus decodeData(buffer::Buffer& data, bool end_stream) override;
  http::FilterTrailersStatus decodeTrailers(http::TrailerMap& trailers) override;
  void setDecoderFilterCallbacks(http::StreamDecoderFilterCallbacks& callbacks) override {
    callbacks_ = &callbacks;
  }
  void onDestroy() override;

 private:
  class UpstreamRequest;
  friend class UpstreamRequest;

  // DownstreamWatermarkCallbacks: the client is slow; pause the upstream response.
  void onAboveWriteBufferHighWatermark() override;
  void onBelowWriteBufferLowWatermark() override;

  void startAttempt();
  void onUpstreamHeaders(http::ResponseHeaderMapPtr headers, bool end_stream);
  void onUpstreamData(buffer::Buffer& data, bool end_stream);
  void onUpstreamTrailers(http::TrailerMapPtr trailers);
  void onUpstream1xxHeaders(http::ResponseHeaderMapPtr headers);
  void onUpstreamReset(http::StreamResetReason reason, std::string_view details,
                       bool connect_failure, bool reused, bool request_written);
  void onPerTryTimeout();
  void onGlobalTimeout();
  void scheduleRetry();
  void cleanupUpstream();
  void sendUpstreamFailureReply(http::StreamResetReason reason, std::string_view details,
                                bool connect_failure);
  upstream::HostConstSharedPtr chooseHost();
  void onDownstreamRequestComplete();
  void onResponseComplete();
  // Starts the route's request mirrors for this request (headers already finalized).
  void startShadows(bool end_stream);

  server::WorkerContext& worker_;
  http::StreamDecoderFilterCallbacks* callbacks_ = nullptr;
  const RouteEntry* route_entry_ = nullptr;
  upstream::ClusterConstSharedPtr cluster_;
  http::RequestHeaderMap* request_headers_ = nullptr;
  http::TrailerMap* request_trailers_ = nullptr;
  bool downstream_end_stream_ = false;
  buffer::Buffer retry_body_;  // a copy of the request body while retries are possible
  bool retry_body_overflowed_ = false;
  std::optional<RetryState> retry_state_;
  std::vector<upstream::HostConstSharedPtr> attempted_hosts_;
  std::unique_ptr<UpstreamRequest> upstream_request_;
  // Mirrors still taking the request body; they own themselves and may be gone.
  std::vector<std::weak_ptr<ShadowRequest>> shadows_;
  event::TimerPtr global_timer_;
  event::TimerPtr retry_timer_;
  std::optional<std::chrono::milliseconds> timeout_;
  std::chrono::steady_clock::time_point upstream_start_;
  std::optional<event::MonotonicTime> downstream_request_complete_at_;  // for upstream_rq_time
  uint32_t attempts_ = 0;
  bool keepalive_race_retried_ = false;
  bool upgrade_ = false;  // an accepted upgrade (WebSocket) request
  bool downstream_response_started_ = false;
  bool above_downstream_watermark_ = false;
  bool destroyed_ = false;
};

}  // namespace remora::router
