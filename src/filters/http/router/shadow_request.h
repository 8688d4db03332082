#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/codec.h"
#include "server/worker_context.h"
#include "upstream/conn_pool.h"

namespace remora::router {

// The :authority of a mirrored request, as Envoy writes it: "-shadow" after the host and before
// any port ("svc:8080" -> "svc-shadow:8080"), so the mirror's logs tell copies apart.
std::string shadowHost(std::string_view authority);

// One mirrored copy of a request (RouteAction.request_mirror_policies), fire and forget: the
// router streams the request into it as it arrives, its response is read and dropped (counted in
// the mirror cluster's stats like any response), and nothing it does reaches the main request.
//
// It owns itself: it outlives the router when the main response finishes first, and deletes
// itself (deferred) once its response ends, it fails, or it is abandoned. The router keeps a
// weak_ptr to feed it the body. Memory is bounded by `buffer_limit`: request bytes waiting for a
// connection, or a mirror connection whose write buffer passes its watermark (a slow mirror),
// abandon the mirror rather than buffer more or slow the main request down.
class ShadowRequest final : public http::ResponseDecoder,
                            public http::StreamCallbacks,
                            public upstream::ConnectionPoolCallbacks,
                            public std::enable_shared_from_this<ShadowRequest> {
 public:
  struct Options {
    uint32_t buffer_limit;
    std::optional<std::chrono::milliseconds> timeout;  // the route's; none when disabled
  };

  // Sends `headers` (copied; :authority already carries "-shadow") to a host of `cluster_name`
  // picked for the `downstream` connection. Returns an empty handle when the cluster does not
  // exist on this worker or has no healthy host.
  static std::weak_ptr<ShadowRequest> start(server::WorkerContext& worker,
                                            std::string_view cluster_name,
                                            const http::RequestHeaderMap& headers, bool end_stream,
                                            const Options& options,
                                            const net::ConnectionInfo* downstream);
  ~ShadowRequest() override;

  // Copies request data into the mirror (the caller's buffer is left untouched).
  void encodeData(const buffer::Buffer& data, bool end_stream);
  void encodeTrailers(const http::TrailerMap& trailers);
  // The main request ended before its body did (downstream reset): the copy cannot complete.
  void abort();

  // ConnectionPoolCallbacks
  void onPoolFailure(upstream::PoolFailureReason reason, std::string_view details,
                     const upstream::HostConstSharedPtr& host) override;
  void onPoolReady(http::RequestEncoder& encoder, const upstream::HostConstSharedPtr& host,
                   bool reused) override;
  // ResponseDecoder: the response is counted and dropped.
  void decode1xxHeaders(http::ResponseHeaderMapPtr) override {}
  void decodeHeaders(http::ResponseHeaderMapPtr headers, bool end_stream) override;
  void decodeData(buffer::Buffer& data, bool end_stream) override;
  void decodeTrailers(http::TrailerMapPtr trailers) override;
  // StreamCallbacks
  void onResetStream(http::StreamResetReason reason, std::string_view details) override;
  void onAboveWriteBufferHighWatermark() override;
  void onBelowWriteBufferLowWatermark() override {}

 private:
  ShadowRequest(server::WorkerContext& worker, upstream::ClusterConstSharedPtr cluster,
                const http::RequestHeaderMap& headers, bool end_stream, const Options& options);

  // Resets whatever is in flight and schedules deletion; safe to call more than once.
  void finish();

  server::WorkerContext& worker_;
  const upstream::ClusterConstSharedPtr cluster_;
  const Options options_;
  std::shared_ptr<ShadowRequest> self_;  // the ownership cycle finish() breaks
  http::RequestHeaderMap headers_;       // kept until the connection is ready
  buffer::Buffer pending_;               // request body waiting for the connection
  http::TrailerMap trailers_;
  bool has_trailers_ = false;
  bool request_end_ = false;  // the whole request is in pending_ / was written
  upstream::HostConstSharedPtr host_;
  upstream::ActiveRequest active_;  // the host's rq_active until finish()
  upstream::Cancellable* pool_handle_ = nullptr;
  http::RequestEncoder* encoder_ = nullptr;
  event::TimerPtr timeout_timer_;
  event::TimerPtr abandon_timer_;  // set once the mirror fell behind
  bool response_started_ = false;
  bool done_ = false;
};

}  // namespace remora::router
