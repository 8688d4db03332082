#include "filters/http/router/router_filter.h"

#include <algorithm>

#include "common/logger.h"
#include "common/random.h"
#include "filters/http/router/shadow_request.h"
#include "http/grpc.h"
#include "router/route_config.h"
#include "upstream/outlier_detection_monitor.h"
#include "upstream/tcp_upstream.h"

namespace remora::router {

namespace h = http::headers;
using stream_info::ResponseFlag;
using OutlierResult = upstream::outlier::Result;

namespace {

bool idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" ||
         method == "DELETE" || method == "TRACE";
}

http::StreamResetReason toResetReason(upstream::PoolFailureReason reason) {
  switch (reason) {
    case upstream::PoolFailureReason::Overflow:
      return http::StreamResetReason::Overflow;
    case upstream::PoolFailureReason::LocalConnectionFailure:
      return http::StreamResetReason::LocalConnectionFailure;
    case upstream::PoolFailureReason::RemoteConnectionFailure:
      return http::StreamResetReason::RemoteConnectionFailure;
    case upstream::PoolFailureReason::Timeout:
      return http::StreamResetReason::ConnectionTimeout;
  }
  return http::StreamResetReason::RemoteConnectionFailure;
}

// Envoy's streamResetReasonToResponseFlag.
ResponseFlag toResponseFlag(http::StreamResetReason reason) {
  switch (reason) {
    case http::StreamResetReason::LocalConnectionFailure:
    case http::StreamResetReason::RemoteConnectionFailure:
    case http::StreamResetReason::ConnectionTimeout:
      return ResponseFlag::UpstreamConnectionFailure;
    case http::StreamResetReason::ConnectionTermination:
      return ResponseFlag::UpstreamConnectionTermination;
    case http::StreamResetReason::LocalReset:
      return ResponseFlag::LocalReset;
    case http::StreamResetReason::Overflow:
      return ResponseFlag::UpstreamOverflow;
    case http::StreamResetReason::RemoteReset:
    case http::StreamResetReason::RemoteRefusedStreamReset:
      return ResponseFlag::UpstreamRemoteReset;
    case http::StreamResetReason::ProtocolError:
      return ResponseFlag::UpstreamProtocolError;
  }
  return ResponseFlag::UpstreamConnectionTermination;
}

}  // namespace

// One attempt: a stream on a pooled upstream connection.
//
// Flow control (Envoy's UpstreamRequest): request body that arrives while the connection is
// being established waits in pending_body_, a watermarked buffer at the stream's buffer limit;
// above it, and while the upstream connection's write buffer is full, the downstream stops being
// read. Each pause is counted and undone when the attempt ends, so a retry or a reset never
// leaves the client paused.
class RouterFilter::UpstreamRequest final : public http::ResponseDecoder,
                                            public http::StreamCallbacks,
                                            public upstream::ConnectionPoolCallbacks,
                                            private buffer::WatermarkCallbacks {
 public:
  UpstreamRequest(RouterFilter& parent, upstream::HostConstSharedPtr host)
      : parent_(parent), host_(std::move(host)), active_(*host_) {
    pending_body_.setWatermarks(parent_.callbacks_->decoderBufferLimit(), this);
  }

  ~UpstreamRequest() override {
    // resetStream() (or the end of the exchange) already undid any pause: the router may be gone
    // by now, this object being deleted late.
    pending_body_.setWatermarks(0, nullptr);
    if (pool_handle_) pool_handle_->cancel();
    if (encoder_) encoder_->getStream().removeCallbacks(*this);
    // Deferred: this may run inside one of the tunnel's own callbacks.
    if (tcp_) parent_.callbacks_->dispatcher().deferredDelete(std::move(tcp_));
  }

  void start(upstream::HttpConnPool& pool) { pool_handle_ = pool.newStream(*this, *this); }
  // A CONNECT terminated here: the payload goes to the host over plain TCP.
  void startTcp(const upstream::ClusterConstSharedPtr& cluster) {
    tcp_ = std::make_unique<upstream::TcpUpstream>(parent_.callbacks_->dispatcher(), host_, cluster,
                                                   parent_.priority());
    pool_handle_ = tcp_->start(*this, *this);
  }

  // Sends request data that arrives while the attempt is live.
  void encodeData(buffer::Buffer& data, bool end_stream) {
    if (encoder_ == nullptr) {
      pending_body_.move(data);
      pending_end_stream_ = end_stream;
      return;
    }
    encoder_->encodeData(data, end_stream);
    if (end_stream && encoder_) markRequestSent();
    // An upgraded stream is done once both directions have ended.
    if (end_stream && upgraded_ && done_) release();
  }
  void encodeTrailers(const http::TrailerMap& trailers) {
    if (encoder_ == nullptr) {
      pending_trailers_ = true;
      return;
    }
    encoder_->encodeTrailers(trailers);
    if (encoder_) markRequestSent();
  }
  // The whole request is with the upstream codec: Envoy's last_upstream_tx_byte_sent.
  void markRequestSent() {
    auto& info = parent_.callbacks_->streamInfo();
    info.last_upstream_tx_byte_sent = info.sinceStart(parent_.callbacks_->dispatcher().now());
  }
  void resetStream() {
    active_.release();
    if (per_try_timer_) per_try_timer_->disableTimer();
    pending_body_.setWatermarks(0, nullptr);
    pending_body_.drain(pending_body_.length());
    resumeDownstream();
    if (pool_handle_) {
      pool_handle_->cancel();
      pool_handle_ = nullptr;
    }
    if (encoder_) {
      // An exchange still in flight ends by our reset (Envoy counts it where its codec client
      // hears the local reset).
      parent_.cluster_->stats().upstream_rq_tx_reset.inc();
      encoder_->getStream().removeCallbacks(*this);
      encoder_->getStream().resetStream(http::StreamResetReason::LocalReset);
      encoder_ = nullptr;
    }
  }
  void readDisable(bool disable) {
    if (encoder_) encoder_->getStream().readDisable(disable);
  }
  // A fresh connection cannot have been closed by the upstream as idle: only a reused one (or
  // one still to be assigned) can meet the keep-alive race.
  bool mayMeetRace() const { return encoder_ == nullptr || reused_; }

  // The per-try timeout runs from when the attempt has a connection and the downstream request
  // is complete, whichever is later (Envoy's onPoolReady / onRequestComplete).
  void onRequestComplete() {
    if (per_try_on_request_complete_) setupPerTryTimeout();
  }
  void setupPerTryTimeout() {
    per_try_on_request_complete_ = false;
    if (!parent_.per_try_timeout_) return;
    per_try_timer_ =
        parent_.callbacks_->dispatcher().createTimer([this] { parent_.onPerTryTimeout(); });
    per_try_timer_->enableTimer(*parent_.per_try_timeout_);
  }
  void disablePerTryTimeout() {
    per_try_on_request_complete_ = false;
    if (per_try_timer_) per_try_timer_->disableTimer();
  }

  // ConnectionPoolCallbacks
  void onPoolFailure(upstream::PoolFailureReason reason, std::string_view details,
                     const upstream::HostConstSharedPtr&) override {
    pool_handle_ = nullptr;
    if (reason == upstream::PoolFailureReason::Timeout) {
      reportOutlier(OutlierResult::LocalOriginTimeout);
    } else if (reason != upstream::PoolFailureReason::Overflow) {
      reportOutlier(OutlierResult::LocalOriginConnectFailed);
    }
    parent_.onUpstreamReset(toResetReason(reason), details, false, false);
  }
  void onPoolReady(http::RequestEncoder& encoder, const upstream::HostConstSharedPtr&,
                   bool reused) override {
    pool_handle_ = nullptr;
    encoder_ = &encoder;
    reused_ = reused;
    reportOutlier(OutlierResult::LocalOriginConnectSuccess);
    encoder.getStream().addCallbacks(*this);
    auto& info = parent_.callbacks_->streamInfo();
    if (!info.first_upstream_tx_byte_sent)
      info.first_upstream_tx_byte_sent = info.sinceStart(parent_.callbacks_->dispatcher().now());
    if (parent_.downstream_end_stream_) {
      setupPerTryTimeout();
    } else {
      per_try_on_request_complete_ = true;
    }
    // auto_host_rewrite: the chosen endpoint's hostname, per attempt (a retry may pick another).
    if (parent_.route_entry_->autoHostRewrite() && !host_->hostname.empty()) {
      parent_.request_headers_->set(h::kAuthority, host_->hostname);
    }
    bool headers_only = parent_.downstream_end_stream_ && pending_body_.empty() &&
                        !pending_trailers_ && parent_.retry_body_.empty();
    // A later attempt (retry or keep-alive re-send) replays the body copy; the first attempt
    // sends what queued while connecting.
    encoder.encodeHeaders(*parent_.request_headers_, headers_only);
    if (headers_only) {
      if (encoder_) markRequestSent();
      return;
    }
    if (!parent_.retry_body_.empty() && parent_.attempted_hosts_.size() > 1) {
      buffer::Buffer copy;
      parent_.retry_body_.forEachSlice([&copy](std::string_view s) { copy.add(s); });
      pending_body_.drain(pending_body_.length());
      const bool end = parent_.downstream_end_stream_ && !parent_.request_trailers_;
      encoder.encodeData(copy, end);
      if (end && encoder_) markRequestSent();
    } else if (!pending_body_.empty() || pending_end_stream_) {
      encoder.encodeData(pending_body_, pending_end_stream_);
      if (pending_end_stream_ && encoder_) markRequestSent();
    }
    if (encoder_ && parent_.request_trailers_ && parent_.downstream_end_stream_) {
      encoder_->encodeTrailers(*parent_.request_trailers_);
      if (encoder_) markRequestSent();
    }
    if (encoder_ && parent_.above_downstream_watermark_) encoder_->getStream().readDisable(true);
  }

  // ResponseDecoder
  void decode1xxHeaders(http::ResponseHeaderMapPtr headers) override {
    parent_.onUpstream1xxHeaders(std::move(headers));
  }
  void decodeHeaders(http::ResponseHeaderMapPtr headers, bool end_stream) override {
    response_started_ = true;
    // The upstream is draining (its /healthcheck/fail): its active health checker fails it now.
    if (headers->has(h::kEnvoyImmediateHealthCheckFail)) {
      parent_.cluster_->reportImmediateHealthCheckFail(host_);
    }
    const uint32_t status = headers->status();
    // Every attempt's answer counts, retried or not (Envoy's putHttpResponseCode); for a gRPC
    // request, a grpc-status in the headers (trailers-only) counts as the HTTP status it means.
    if (auto* monitor = host_->outlierMonitor()) {
      auto grpc = http::isGrpcRequest(*parent_.request_headers_) ? http::grpcStatusOf(*headers)
                                                                 : std::nullopt;
      monitor->putHttpResponseCode(grpc ? http::httpStatusFromGrpc(*grpc) : status);
    }
    upgraded_ = parent_.connect_ ? status >= 200 && status < 300 : status == 101;
    if (end_stream) onResponseDone();
    parent_.onUpstreamHeaders(std::move(headers), end_stream);
  }
  void decodeData(buffer::Buffer& data, bool end_stream) override {
    if (end_stream) onResponseDone();
    parent_.onUpstreamData(data, end_stream);
  }
  void decodeTrailers(http::TrailerMapPtr trailers) override {
    onResponseDone();
    parent_.onUpstreamTrailers(std::move(trailers));
  }
  // The response has ended. Once the request has too (a plain response ends the exchange; an
  // upgraded stream carries the client's bytes until its FIN), the codec frees the stream after
  // this event: let go of it now. The downstream may finish much later (an encoder filter can
  // hold the response end), and must not reach a freed stream, or one reused by another request.
  void onResponseDone() {
    done_ = true;
    active_.release();
    if (!upgraded_ || parent_.downstream_end_stream_) release();
  }
  void release() {
    if (encoder_) {
      encoder_->getStream().removeCallbacks(*this);
      encoder_ = nullptr;
    }
    // The stream's watermark events stop with its callbacks: lift the pauses they set.
    resumeDownstream();
  }

  // StreamCallbacks
  void onResetStream(http::StreamResetReason reason, std::string_view details) override {
    // Whether the upstream may have seen any of the request: bytes that never reached the
    // socket cannot have been acted on, whatever the method.
    const bool written = encoder_ != nullptr && encoder_->requestBytesSent();
    encoder_ = nullptr;
    if (done_) return;
    reportOutlier(OutlierResult::LocalOriginConnectFailed);
    parent_.onUpstreamReset(reason, details, reused_ && !response_started_, written);
  }
  // The upstream connection's write buffer crossed its watermarks.
  void onAboveWriteBufferHighWatermark() override { pauseDownstream(); }
  void onBelowWriteBufferLowWatermark() override { resumeOneDownstreamPause(); }

  bool awaitingHeaders() const { return !response_started_; }
  // Tells the host's outlier detection (if the cluster has it) how this attempt went.
  void reportOutlier(upstream::outlier::Result result, std::optional<uint64_t> code = {}) {
    if (auto* monitor = host_->outlierMonitor()) monitor->putResult(result, code);
  }

 private:
  // buffer::WatermarkCallbacks: pending_body_ crossed the stream's buffer limit.
  void onAboveHighWatermark() override { pauseDownstream(); }
  void onBelowLowWatermark() override { resumeOneDownstreamPause(); }

  void pauseDownstream() {
    ++downstream_pauses_;
    parent_.cluster_->stats().upstream_flow_control_backed_up_total.inc();
    parent_.callbacks_->onDecoderFilterAboveWriteBufferHighWatermark();
  }
  void resumeOneDownstreamPause() {
    if (downstream_pauses_ == 0) return;
    --downstream_pauses_;
    parent_.cluster_->stats().upstream_flow_control_drained_total.inc();
    parent_.callbacks_->onDecoderFilterBelowWriteBufferLowWatermark();
  }
  void resumeDownstream() {
    while (downstream_pauses_ > 0) resumeOneDownstreamPause();
  }

  RouterFilter& parent_;
  const upstream::HostConstSharedPtr host_;
  // The host's rq_active while this attempt waits for or reads its response (LEAST_REQUEST).
  upstream::ActiveRequest active_;
  upstream::Cancellable* pool_handle_ = nullptr;
  http::RequestEncoder* encoder_ = nullptr;
  buffer::Buffer pending_body_;     // request body waiting for the connection (watermarked)
  uint32_t downstream_pauses_ = 0;  // pauses of the downstream this attempt has not undone
  bool pending_end_stream_ = false;
  bool pending_trailers_ = false;
  bool reused_ = false;
  bool response_started_ = false;
  bool done_ = false;
  bool upgraded_ = false;  // answered 101 (a CONNECT 2xx): both directions stream until both end
  bool per_try_on_request_complete_ = false;
  event::TimerPtr per_try_timer_;
  std::unique_ptr<upstream::TcpUpstream> tcp_;  // the tunnel of a CONNECT terminated here
};

RouterFilter::RouterFilter(server::WorkerContext& worker) : worker_(worker) {}

RouterFilter::~RouterFilter() { onDestroy(); }

void RouterFilter::onDestroy() {
  if (destroyed_) return;
  destroyed_ = true;
  if (global_timer_) global_timer_->disableTimer();
  if (retry_timer_) retry_timer_->disableTimer();
  retry_hold_.release();
  if (upstream_request_) {
    upstream_request_->resetStream();
    upstream_request_.reset();
  }
  // A mirror whose request body is complete carries on alone; one still waiting for body bytes
  // that will never come is aborted.
  for (auto& weak : shadows_) {
    if (auto shadow = weak.lock()) shadow->abort();
  }
  shadows_.clear();
  if (callbacks_) callbacks_->removeDownstreamWatermarkCallbacks(*this);
}

http::FilterHeadersStatus RouterFilter::decodeHeaders(http::RequestHeaderMap& headers,
                                                      bool end_stream) {
  request_headers_ = &headers;
  downstream_end_stream_ = end_stream;
  auto& info = callbacks_->streamInfo();
  const Route* route = callbacks_->route();
  if (route == nullptr) {
    info.setResponseFlag(ResponseFlag::NoRouteFound);
    callbacks_->sendLocalReply(404, "", nullptr, "route_not_found");
    return http::FilterHeadersStatus::StopIteration;
  }
  info.route_name = route->name();
  if (const auto* direct = route->directResponse()) {
    callbacks_->sendLocalReply(
        direct->status, direct->body,
        [route, &info](http::ResponseHeaderMap& out) { route->finalizeResponseHeaders(out, info); },
        "direct_response");
    return http::FilterHeadersStatus::StopIteration;
  }
  if (const auto* redirect = route->redirect()) {
    std::string location = route->redirectLocation(headers);
    callbacks_->sendLocalReply(
        redirect->responseCode(), "",
        [route, &info, location](http::ResponseHeaderMap& out) {
          out.set("location", location);
          route->finalizeResponseHeaders(out, info);
        },
        "direct_response");
    return http::FilterHeadersStatus::StopIteration;
  }
  route_entry_ = route->routeEntry();
  std::string cluster_name = route_entry_->clusterName(headers, randomU64());
  auto* entry = cluster_name.empty() ? nullptr : worker_.clusters.get(cluster_name);
  if (entry == nullptr) {
    // Envoy's cluster_not_found_response_code defaults to 503; a missing cluster_header value
    // names no cluster and lands here too.
    info.setResponseFlag(ResponseFlag::NoClusterFound);
    callbacks_->sendLocalReply(503, "", nullptr, "cluster_not_found");
    return http::FilterHeadersStatus::StopIteration;
  }
  cluster_ = entry->cluster;
  info.upstream_cluster = cluster_name;

  // Timeouts as Envoy's finalTimeout: the route's (default 15 s; 0 disables) or, for a gRPC
  // request on a route with max_grpc_timeout, grpcTimeout(); x-envoy-upstream-rq-timeout-ms
  // overrides either; the per-try timeout from the retry policy or
  // x-envoy-upstream-rq-per-try-timeout-ms, ignored when not shorter than the route timeout.
  // The connection manager leaves Upgrade in place only for an upgrade it accepted. Its bytes
  // flow for as long as the connection lives: no retries, no mirrors, no per-try timeout.
  connect_ = headers.method() == "CONNECT";
  upgrade_ = connect_ || headers.has(h::kUpgrade);
  const bool grpc_timeout = http::isGrpcRequest(headers) && route_entry_->maxGrpcTimeout();
  const auto route_timeout = grpc_timeout ? grpcTimeout(headers) : route_entry_->timeout();
  if (route_timeout.count() > 0) timeout_ = route_timeout;
  if (auto ms = headers.getUint(h::kEnvoyUpstreamRqTimeoutMs)) {
    timeout_ = *ms > 0 ? std::optional(std::chrono::milliseconds(*ms)) : std::nullopt;
  }
  if (const RetryPolicy* policy = route_entry_->retryPolicy();
      policy != nullptr && policy->per_try_timeout && policy->per_try_timeout->count() > 0) {
    per_try_timeout_ = policy->per_try_timeout;
  }
  if (auto ms = headers.getUint(h::kEnvoyUpstreamRqPerTryTimeoutMs)) {
    per_try_timeout_ = *ms > 0 ? std::optional(std::chrono::milliseconds(*ms)) : std::nullopt;
  }
  if (upgrade_ || (per_try_timeout_ && timeout_ && *per_try_timeout_ >= *timeout_)) {
    per_try_timeout_.reset();
  }
  headers.remove(h::kEnvoyUpstreamRqTimeoutMs);
  headers.remove(h::kEnvoyUpstreamRqPerTryTimeoutMs);
  auto expected = per_try_timeout_ ? per_try_timeout_ : timeout_;
  if (expected) {
    headers.set(h::kEnvoyExpectedRqTimeoutMs, std::to_string(expected->count()));
    // With max_grpc_timeout, the upstream learns the deadline it really has (per try, capped,
    // offset) in grpc-timeout, as Envoy does.
    if (grpc_timeout) headers.set(http::grpc_headers::kTimeout, http::formatGrpcTimeout(*expected));
  }
  // The hash comes from the request as it arrived, before the route's mutations (Envoy picks
  // the pool before finalizing headers); only hashing balancers ask for one, so only they
  // generate affinity cookies.
  if (cluster_->lbConfig().usesHashKey()) computeHashKey(headers);
  route_entry_->finalizeRequestHeaders(headers, info, true);
  // After the route's header mutations, as Envoy: a route may add x-envoy-retry-on. Then the
  // retry headers are consumed, not sent upstream (Envoy's createRetryState).
  if (!upgrade_) retry_state_ = RetryState::create(route_entry_->retryPolicy(), headers);
  headers.remove(h::kEnvoyRetryOn);
  headers.remove(h::kEnvoyRetryGrpcOn);
  headers.remove(h::kEnvoyMaxRetries);
  headers.remove(h::kEnvoyRetriableStatusCodes);
  if (!upgrade_ && !route_entry_->mirrorPolicies().empty()) startShadows(end_stream);

  callbacks_->addDownstreamWatermarkCallbacks(*this);
  startAttempt();
  if (end_stream && !destroyed_) onRequestComplete();
  return http::FilterHeadersStatus::StopIteration;
}

std::chrono::milliseconds RouterFilter::grpcTimeout(const http::RequestHeaderMap& headers) const {
  // Envoy's finalTimeout for a gRPC request on a route with max_grpc_timeout: the client's
  // grpc-timeout (absent: infinite), less grpc_timeout_offset when that leaves something,
  // capped at max_grpc_timeout unless that is 0 (infinite). Zero here means no timeout.
  std::chrono::milliseconds timeout =
      http::grpcTimeoutOf(headers).value_or(std::chrono::milliseconds(0));
  if (auto offset = route_entry_->grpcTimeoutOffset(); offset && *offset < timeout) {
    timeout -= *offset;
  }
  const std::chrono::milliseconds max = *route_entry_->maxGrpcTimeout();
  if (max.count() != 0 && (timeout.count() == 0 || timeout > max)) timeout = max;
  return timeout;
}

void RouterFilter::startShadows(bool end_stream) {
  ShadowRequest::Options options{callbacks_->decoderBufferLimit(), timeout_};
  const net::ConnectionInfo* downstream =
      callbacks_->connection() != nullptr ? &callbacks_->connection()->info() : nullptr;
  for (const MirrorPolicy& policy : route_entry_->mirrorPolicies()) {
    if (!policy.enabled(randomU64())) continue;
    const std::string cluster = policy.clusterFor(*request_headers_);
    if (cluster.empty()) continue;
    http::RequestHeaderMap headers = *request_headers_;
    if (policy.append_host_suffix) headers.set(h::kAuthority, shadowHost(headers.host()));
    auto shadow = ShadowRequest::start(worker_, cluster, headers, end_stream, options, downstream);
    if (!end_stream && !shadow.expired()) shadows_.push_back(std::move(shadow));
  }
}

void RouterFilter::onRequestComplete() {
  downstream_request_complete_at_ = callbacks_->dispatcher().now();
  // Nothing in flight means a reply was already sent (or is being sent): no timer then.
  if (timeout_ && !downstream_response_started_ && (upstream_request_ || retry_pending_)) {
    global_timer_ = callbacks_->dispatcher().createTimer([this] { onGlobalTimeout(); });
    global_timer_->enableTimer(*timeout_);
  }
  if (upstream_request_) upstream_request_->onRequestComplete();
}

upstream::HostConstSharedPtr RouterFilter::chooseHost() {
  auto* entry = worker_.clusters.get(cluster_->name());
  if (entry == nullptr) return nullptr;
  upstream::LoadBalancerContext context{&callbacks_->connection()->info(), hash_key_};
  context.downstream_headers = request_headers_;
  // previous_hosts: pick again (up to host_selection_retry_max_attempts) while the pick is a
  // host an earlier attempt used.
  const bool avoid =
      retry_state_ && retry_state_->avoidPreviousHosts() && !attempted_hosts_.empty();
  const uint32_t tries =
      avoid ? std::max<uint32_t>(retry_state_->hostSelectionMaxAttempts(), 1) : 1;
  upstream::HostConstSharedPtr host;
  for (uint32_t i = 0; i < tries; ++i) {
    context.host_selection_attempt = i;
    host = entry->lb->chooseHost(context);
    if (host == nullptr) return nullptr;
    bool seen = false;
    for (const auto& previous : attempted_hosts_) seen |= previous->address == host->address;
    if (!seen) break;
  }
  return host;
}

void RouterFilter::computeHashKey(const http::RequestHeaderMap& headers) {
  const HashPolicy* policy = route_entry_->hashPolicy();
  if (policy == nullptr) return;
  const net::Connection* connection = callbacks_->connection();
  HashPolicy::Connection addresses{&callbacks_->streamInfo().downstream_remote_address};
  if (connection != nullptr) {
    addresses.remote = &connection->info().remote_address;
    addresses.local = &connection->info().local_address;
  }
  hash_key_ = policy->generateHash(headers, addresses, downstream_set_cookies_);
}

void RouterFilter::startAttempt() {
  ++attempts_;
  auto& info = callbacks_->streamInfo();
  auto host = chooseHost();
  if (host == nullptr) {
    cluster_->stats().upstream_cx_none_healthy.inc();
    cluster_->stats().chargeResponse(503, false);
    info.setResponseFlag(ResponseFlag::NoHealthyUpstream);
    cleanupUpstream();
    if (global_timer_) global_timer_->disableTimer();
    callbacks_->sendLocalReply(503, "no healthy upstream", nullptr, "no_healthy_upstream");
    return;
  }
  // Counted once a host is chosen, as Envoy: no healthy upstream on the first try logs 0.
  info.attempt_count = attempts_;
  attempted_hosts_.push_back(host);
  info.upstream_host = host->currentAddress();
  auto* entry = worker_.clusters.get(cluster_->name());
  upstream_request_ = std::make_unique<UpstreamRequest>(*this, host);
  if (connect_ && route_entry_->connectTerminate()) {
    upstream_request_->startTcp(cluster_);
    return;
  }
  upstream_request_->start(
      entry->httpConnPool(host, worker_.dispatcher, callbacks_->streamInfo().protocol, priority()));
}

http::FilterDataStatus RouterFilter::decodeData(buffer::Buffer& data, bool end_stream) {
  downstream_end_stream_ = end_stream;
  // Keep a copy for retries, or for re-sending after the keep-alive race (only a reused
  // connection, or one not yet assigned, can meet it), while it fits in the buffer limit and no
  // response has started; past the limit, neither can happen.
  const bool race_possible = !keepalive_race_retried_ &&
                             (upstream_request_ == nullptr || upstream_request_->mayMeetRace());
  if ((retry_state_ || race_possible) && !retry_body_overflowed_ && !downstream_response_started_) {
    if (retry_body_.length() + data.length() > callbacks_->decoderBufferLimit()) {
      retry_body_overflowed_ = true;
      retry_body_.drain(retry_body_.length());
      retry_state_.reset();
      if (!upstream_request_) {
        // Waiting out a back-off with part of the body gone: nothing can be sent intact
        // (Envoy's answer).
        if (retry_timer_) retry_timer_->disableTimer();
        if (global_timer_) global_timer_->disableTimer();
        callbacks_->sendLocalReply(507, "exceeded request buffer limit while retrying upstream",
                                   nullptr, "request_payload_exceeded_retry_buffer_limit");
        return http::FilterDataStatus::StopIterationNoBuffer;
      }
    } else {
      data.forEachSlice([this](std::string_view s) { retry_body_.add(s); });
    }
  }
  for (auto& weak : shadows_) {
    if (auto shadow = weak.lock()) shadow->encodeData(data, end_stream);
  }
  if (end_stream) shadows_.clear();
  if (upstream_request_) {
    upstream_request_->encodeData(data, end_stream);
  } else {
    data.drain(data.length());  // between attempts: the retry copy has it
  }
  if (end_stream && !destroyed_) onRequestComplete();
  return http::FilterDataStatus::StopIterationNoBuffer;
}

http::FilterTrailersStatus RouterFilter::decodeTrailers(http::TrailerMap& trailers) {
  request_trailers_ = &trailers;
  downstream_end_stream_ = true;
  for (auto& weak : shadows_) {
    if (auto shadow = weak.lock()) shadow->encodeTrailers(trailers);
  }
  shadows_.clear();
  if (upstream_request_) upstream_request_->encodeTrailers(trailers);
  if (!destroyed_) onRequestComplete();
  return http::FilterTrailersStatus::StopIteration;
}

void RouterFilter::onUpstream1xxHeaders(http::ResponseHeaderMapPtr headers) {
  callbacks_->encode1xxHeaders(std::move(headers));
}

void RouterFilter::onUpstreamHeaders(http::ResponseHeaderMapPtr headers, bool end_stream) {
  auto& info = callbacks_->streamInfo();
  info.first_upstream_rx_byte_received = info.sinceStart(callbacks_->dispatcher().now());
  uint32_t status = headers->status();
  auto& stats = cluster_->stats();
  if (upstream_request_) upstream_request_->disablePerTryTimeout();
  retry_hold_.release();  // the retried attempt (if this was one) has its answer
  if (retry_state_) {
    if (retry_state_->wouldRetryOnResponse(*headers)) {
      if (!retry_state_->takeRetry()) {
        stats.upstream_rq_retry_limit_exceeded.inc();
        info.setResponseFlag(ResponseFlag::UpstreamRetryLimitExceeded);
      } else if (acquireRetry()) {
        // Envoy counts the response that caused a retry under retry.upstream_rq_<code> only.
        stats.chargeResponse(status, true);
        scheduleRetry();
        return;
      }
    } else if (attempts_ > 1) {
      // A retried request whose answer is not retried again: Envoy's upstream_rq_retry_success.
      stats.upstream_rq_retry_success.inc();
    }
    retry_state_.reset();
  }
  stats.chargeResponse(status, false);
  // Upgraded: the tunnel lives until either side ends it (or the stream idle timeout).
  const bool tunnel = connect_ ? status >= 200 && status < 300 : status == 101;
  if (upgrade_ && tunnel && global_timer_) global_timer_->disableTimer();
  // Envoy measures from the complete downstream request; a response that beats it carries none.
  if (downstream_request_complete_at_) {
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        callbacks_->dispatcher().now() - *downstream_request_complete_at_);
    headers->set(h::kEnvoyUpstreamServiceTime, std::to_string(elapsed.count()));
  }
  // Affinity cookies generated by the route's hash policy.
  for (const std::string& cookie : downstream_set_cookies_) headers->add("set-cookie", cookie);
  route_entry_->finalizeResponseHeaders(*headers, info);
  downstream_response_started_ = true;
  if (end_stream) onResponseComplete();
  callbacks_->encodeHeaders(std::move(headers), end_stream, "via_upstream");
}

void RouterFilter::onUpstreamData(buffer::Buffer& data, bool end_stream) {
  if (end_stream) onResponseComplete();
  callbacks_->encodeData(data, end_stream);
}

void RouterFilter::onUpstreamTrailers(http::TrailerMapPtr trailers) {
  onResponseComplete();
  callbacks_->encodeTrailers(std::move(trailers));
}

void RouterFilter::onResponseComplete() {
  auto& info = callbacks_->streamInfo();
  const auto now = callbacks_->dispatcher().now();
  info.last_upstream_rx_byte_received = info.sinceStart(now);
  // Envoy times the upstream from the end of the downstream request; a response that ends
  // before the request did is not timed.
  if (downstream_request_complete_at_) {
    cluster_->stats().upstream_rq_time.recordMilliseconds(now - *downstream_request_complete_at_);
  }
  if (global_timer_) global_timer_->disableTimer();
}

bool RouterFilter::retryOnReset(http::StreamResetReason reason) {
  const bool connect_failure = reason == http::StreamResetReason::LocalConnectionFailure ||
                               reason == http::StreamResetReason::RemoteConnectionFailure ||
                               reason == http::StreamResetReason::ConnectionTimeout;
  retry_hold_.release();  // the retried attempt (if this was one) has failed
  if (!retry_state_ || downstream_response_started_ ||
      !retry_state_->wouldRetryOnReset(reason, connect_failure)) {
    return false;
  }
  if (retry_state_->takeRetry()) return acquireRetry();
  cluster_->stats().upstream_rq_retry_limit_exceeded.inc();
  callbacks_->streamInfo().setResponseFlag(ResponseFlag::UpstreamRetryLimitExceeded);
  return false;
}

upstream::ResourcePriority RouterFilter::priority() const {
  return route_entry_->highPriority() ? upstream::ResourcePriority::High
                                      : upstream::ResourcePriority::Default;
}

bool RouterFilter::acquireRetry() {
  upstream::Resource& retries = cluster_->resourceManager(priority()).retries();
  if (!retries.tryAcquire()) {
    cluster_->stats().upstream_rq_retry_overflow.inc();
    callbacks_->streamInfo().setResponseFlag(ResponseFlag::UpstreamOverflow);
    return false;
  }
  retry_hold_ = upstream::ResourceHold(retries);
  return true;
}

void RouterFilter::onUpstreamReset(http::StreamResetReason reason, std::string_view details,
                                   bool reused, bool request_written) {
  auto& stats = cluster_->stats();
  const bool connect_failure = reason == http::StreamResetReason::LocalConnectionFailure ||
                               reason == http::StreamResetReason::RemoteConnectionFailure ||
                               reason == http::StreamResetReason::ConnectionTimeout;
  if (!connect_failure && reason != http::StreamResetReason::Overflow)
    stats.upstream_rq_rx_reset.inc();
  if (downstream_response_started_) {
    // Too late for another status: the client has our response head. Reset it too.
    auto& info = callbacks_->streamInfo();
    info.setResponseFlag(toResponseFlag(reason));
    info.response_code_details = "upstream_reset_after_response_started{" +
                                 std::string(http::resetReasonString(reason)) + "}";
    std::replace(info.response_code_details.begin(), info.response_code_details.end(), ' ', '_');
    cleanupUpstream();
    if (global_timer_) global_timer_->disableTimer();
    callbacks_->resetStream();
    return;
  }
  // The keep-alive race: a reused connection closed by the upstream before any response byte.
  // Safe to send again on a fresh connection if nothing was written or the method is idempotent.
  // A body too large to keep cannot be sent again.
  bool safe =
      (!request_written || idempotent(request_headers_->method())) && !retry_body_overflowed_;
  if (reused && safe && !keepalive_race_retried_ &&
      (reason == http::StreamResetReason::ConnectionTermination ||
       reason == http::StreamResetReason::RemoteReset)) {
    keepalive_race_retried_ = true;
    cleanupUpstream();
    --attempts_;  // not a retry in Envoy's accounting
    startAttempt();
    return;
  }
  if (retryOnReset(reason)) {
    scheduleRetry();
    return;
  }
  sendUpstreamFailureReply(reason, details);
}

void RouterFilter::sendUpstreamFailureReply(http::StreamResetReason reason,
                                            std::string_view details) {
  auto& info = callbacks_->streamInfo();
  info.setResponseFlag(toResponseFlag(reason));
  if (!details.empty()) info.upstream_transport_failure_reason = std::string(details);
  // Envoy's chargeUpstreamAbort: a reset before any response counts as the local reply's code.
  const uint32_t code = reason == http::StreamResetReason::ProtocolError ? 502 : 503;
  cluster_->stats().chargeResponse(code, false);
  // Envoy's wording, byte for byte.
  std::string body = "upstream connect error or disconnect/reset before headers. ";
  if (attempts_ > 1) body += "retried and the latest ";
  body += "reset reason: ";
  body += http::resetReasonString(reason);
  std::string code_details = "upstream_reset_before_response_started{";
  code_details += http::resetReasonString(reason);
  if (!details.empty()) {
    body += ", transport failure reason: ";
    body += details;
    code_details += ",";
    code_details += details;
  }
  code_details += "}";
  std::replace(code_details.begin(), code_details.end(), ' ', '_');
  cleanupUpstream();
  if (global_timer_) global_timer_->disableTimer();
  // A request a circuit breaker dropped says so (Envoy's x-envoy-overloaded: true).
  http::ModifyHeadersCb modify;
  if (reason == http::StreamResetReason::Overflow) {
    modify = [](http::ResponseHeaderMap& headers) { headers.set(h::kEnvoyOverloaded, "true"); };
  }
  callbacks_->sendLocalReply(code, body, modify, code_details);
}

void RouterFilter::scheduleRetry() {
  cluster_->stats().upstream_rq_retry.inc();
  cleanupUpstream();
  retry_pending_ = true;
  auto backoff = retry_state_->nextBackOff();
  if (!retry_timer_) {
    retry_timer_ = callbacks_->dispatcher().createTimer([this] {
      retry_pending_ = false;
      startAttempt();
    });
  }
  retry_timer_->enableTimer(backoff);
}

void RouterFilter::cleanupUpstream() {
  if (upstream_request_) {
    upstream_request_->resetStream();
    // Defer: we may be inside one of its callbacks.
    struct Holder : event::DeferredDeletable {
      std::unique_ptr<UpstreamRequest> request;
    };
    auto holder = std::make_unique<Holder>();
    holder->request = std::move(upstream_request_);
    callbacks_->dispatcher().deferredDelete(std::move(holder));
  }
}

void RouterFilter::onPerTryTimeout() {
  // Envoy counts only upstream_rq_per_try_timeout here (not upstream_rq_timeout) and treats the
  // timeout as a local reset when deciding whether to retry.
  cluster_->stats().upstream_rq_per_try_timeout.inc();
  if (upstream_request_) upstream_request_->reportOutlier(OutlierResult::LocalOriginTimeout, 504);
  cleanupUpstream();
  if (retryOnReset(http::StreamResetReason::LocalReset)) {
    scheduleRetry();
    return;
  }
  cluster_->stats().chargeResponse(504, false);
  sendTimeoutReply("upstream_per_try_timeout");
}

void RouterFilter::onGlobalTimeout() {
  cluster_->stats().upstream_rq_timeout.inc();
  // Envoy charges the 504 for an attempt still waiting for its response head; none while a
  // retry waits out its back-off.
  if (upstream_request_ && upstream_request_->awaitingHeaders()) {
    cluster_->stats().chargeResponse(504, false);
    upstream_request_->reportOutlier(OutlierResult::LocalOriginTimeout, 504);
  }
  cleanupUpstream();
  if (retry_timer_) retry_timer_->disableTimer();
  retry_pending_ = false;
  sendTimeoutReply("upstream_response_timeout");
}

void RouterFilter::sendTimeoutReply(std::string_view details) {
  callbacks_->streamInfo().setResponseFlag(ResponseFlag::UpstreamRequestTimeout);
  if (global_timer_) global_timer_->disableTimer();
  // After the response head this resets the downstream stream instead (the filter manager).
  callbacks_->sendLocalReply(504, "upstream request timeout", nullptr, details);
}

void RouterFilter::onAboveWriteBufferHighWatermark() {
  above_downstream_watermark_ = true;
  if (upstream_request_) upstream_request_->readDisable(true);
}

void RouterFilter::onBelowWriteBufferLowWatermark() {
  above_downstream_watermark_ = false;
  if (upstream_request_) upstream_request_->readDisable(false);
}

}  // namespace remora::router
