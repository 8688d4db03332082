#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "http/filter.h"
#include "router/retry_state.h"
#include "server/worker_context.h"
#include "upstream/conn_pool.h"

namespace remora::router {

class RouteEntry;
class ShadowRequest;

// envoy.filters.http.router: the terminal filter. Picks the cluster and host for the request's
// route, sends it upstream through the worker's connection pool, streams the response back, and
// owns timeouts (route and per-try), retries with back-off, and Envoy's local replies and
// response flags for upstream failures.
//
// Timers follow Envoy: the route timeout and the per-try timeout start once the downstream
// request is complete (a slow upload does not eat the upstream's time), the per-try timeout at
// the earliest when the attempt has a connection.
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
  // The downstream request has fully arrived: arm the route timeout (and the attempt's per-try
  // timeout if it already has a connection).
  void onRequestComplete();
  void onUpstreamHeaders(http::ResponseHeaderMapPtr headers, bool end_stream);
  void onUpstreamData(buffer::Buffer& data, bool end_stream);
  void onUpstreamTrailers(http::TrailerMapPtr trailers);
  void onUpstream1xxHeaders(http::ResponseHeaderMapPtr headers);
  void onUpstreamReset(http::StreamResetReason reason, std::string_view details, bool reused,
                       bool request_written);
  void onPerTryTimeout();
  void onGlobalTimeout();
  // Whether the retry policy takes a failed attempt (a reset, or a per-try timeout, which Envoy
  // treats as a local reset); counts upstream_rq_retry_limit_exceeded and sets URX when it
  // would but no retry is left.
  bool retryOnReset(http::StreamResetReason reason);
  void scheduleRetry();
  void cleanupUpstream();
  void sendUpstreamFailureReply(http::StreamResetReason reason, std::string_view details);
  void sendTimeoutReply(std::string_view details);
  upstream::HostConstSharedPtr chooseHost();
  void onResponseComplete();
  // The route timeout of a gRPC request on a route with max_grpc_timeout; zero: none.
  std::chrono::milliseconds grpcTimeout(const http::RequestHeaderMap& headers) const;
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
  std::optional<std::chrono::milliseconds> per_try_timeout_;
  // When the downstream request ended: the route timeout, x-envoy-upstream-service-time and
  // upstream_rq_time count from here (Envoy's downstream_request_complete_time_).
  std::optional<event::MonotonicTime> downstream_request_complete_at_;
  uint32_t attempts_ = 0;
  bool keepalive_race_retried_ = false;
  bool retry_pending_ = false;  // a retry waits out its back-off
  bool upgrade_ = false;        // an accepted upgrade (WebSocket) or CONNECT request
  bool connect_ = false;        // a CONNECT: a 2xx opens the tunnel
  bool downstream_response_started_ = false;
  bool above_downstream_watermark_ = false;
  bool destroyed_ = false;
};

}  // namespace remora::router
