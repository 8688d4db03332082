#include "filters/network/http_connection_manager/conn_manager.h"

#include "access_log/access_log_config.h"
#include "common/logger.h"
#include "common/random.h"
#include "filters/network/http_connection_manager/codec_selection.h"
#include "filters/network/http_connection_manager/conn_manager_utility.h"
#include "http/codec1/codec_common.h"
#include "http/codec1/server_codec.h"
#include "http/grpc.h"
#include "http/http1/chars.h"
#include "http/http2/server_codec.h"
#include "router/route_config.h"

namespace remora::filters::network::http_connection_manager {

namespace h = remora::http::headers;
using remora::http::FilterManager;

namespace {

std::string_view reasonFor(uint32_t code);
}  // namespace

// One request/response on the connection: decodes from the codec into its filter chain, and
// encodes what the chain produces back through the codec. Owns the stream's StreamInfo.
class ConnectionManager::ActiveStream final : public remora::http::RequestDecoder,
                                              public remora::http::StreamCallbacks,
                                              public remora::http::FilterManagerCallbacks,
                                              public remora::http::FilterChainFactoryCallbacks,
                                              public event::DeferredDeletable {
 public:
  ActiveStream(ConnectionManager& parent, remora::http::ResponseEncoder& encoder, uint64_t id)
      : parent_(parent),
        encoder_(encoder),
        id_(id),
        filter_manager_(*this, parent.worker_.dispatcher, stream_info_,
                        encoder.getStream().bufferLimit()) {
    auto& stats = parent_.config_->stats();
    stats.downstream_rq_total.inc();
    (parent.isHttp2() ? stats.downstream_rq_http2_total : stats.downstream_rq_http1_total).inc();
    stats.downstream_rq_active.inc();
    stream_info_.start_time = std::chrono::system_clock::now();
    // Stream timings use the event loop's time, read once per wake-up (as HAProxy and nginx
    // time requests): a clock read for each of a request's eight timestamps cost more than the
    // sub-millisecond precision they add to millisecond stats and logs.
    stream_info_.start_monotonic = parent_.worker_.dispatcher.now();
    const auto& info = parent_.connection().info();
    stream_info_.downstream_local_address = info.local_address;
    stream_info_.downstream_remote_address = info.remote_address;
    stream_info_.downstream_direct_remote_address = info.remote_address;
    stream_info_.requested_server_name = info.requested_server_name;
    encoder_.getStream().addCallbacks(*this);
    auto& dispatcher = parent_.worker_.dispatcher;
    if (auto t = parent_.config_->requestHeadersTimeout()) {
      headers_timer_ = dispatcher.createTimer([this] { onRequestHeadersTimeout(); });
      headers_timer_->enableTimer(*t);
    }
    if (auto t = parent_.config_->streamIdleTimeout()) {
      idle_timeout_ = *t;
      idle_timer_ = dispatcher.createTimer([this] { onStreamIdleTimeout(); });
      idle_timer_->enableTimer(*t);
    }
    if (auto t = parent_.config_->requestTimeout()) {
      request_timer_ = dispatcher.createTimer([this] { onRequestTimeout(); });
      request_timer_->enableTimer(*t);
    }
  }

  ~ActiveStream() override { filter_manager_.destroyFilters(); }

  // ---- RequestDecoder (from the codec) ----
  void decodeHeaders(remora::http::RequestHeaderMapPtr headers, bool end_stream) override {
    if (headers_timer_) headers_timer_->disableTimer();
    resetIdleTimer();
    stream_info_.protocol = parent_.codec_->protocol();
    if (end_stream) onRequestReceived();
    const HcmConfig& config = *parent_.config_;
    // Before the hop-by-hop headers go: they say whether this is an upgrade. A CONNECT is one
    // too (Envoy's upgrade_type "CONNECT"); an RFC 8441 extended CONNECT reached here from the
    // HTTP/2 codec already in its HTTP/1.1 upgrade form.
    connect_ = headers->method() == "CONNECT";
    const bool upgrade = connect_ || remora::http::codec1::isUpgrade(*headers);
    stream_info_.downstream_remote_address = ConnectionManagerUtility::mutateRequestHeaders(
        *headers, parent_.connection().info().remote_address, config);
    request_headers_ = headers.get();
    // A fragment is the client's business, never the server's: Envoy strips it, so it takes no
    // part in routing (a "/admin#/public" must not match differently upstream and here).
    if (size_t hash = headers->path().find('#'); hash != std::string_view::npos) {
      std::string path(headers->path().substr(0, hash));
      headers->set(h::kPath, path);
    }
    if (!ConnectionManagerUtility::authorityIsValid(headers->host())) {
      rejectBeforeFilters(std::move(headers), 400, "Bad Request", "http.invalid_authority");
      return;
    }
    // A CONNECT names its target in :authority and has no path (Envoy matches it with
    // connect_matcher).
    if (headers->path().empty() ? !connect_ : headers->path()[0] != '/') {
      // Envoy answers an absolute or empty path it cannot route with 404.
      config.stats().downstream_rq_non_relative_path.inc();
      rejectBeforeFilters(std::move(headers), 404, "", "absolute_path_rejected");
      return;
    }
    bool path_ok = ConnectionManagerUtility::normalizePath(*headers, config);
    // Expect: 100-continue is answered here, as Envoy does unless proxy_100_continue is set.
    if (const std::string* expect = headers->get(h::kExpect);
        expect && remora::http::http1::equalsIgnoreCase(*expect, "100-continue")) {
      headers->remove(h::kExpect);
      remora::http::ResponseHeaderMap continue_headers;
      continue_headers.set(h::kStatus, "100");
      encoder_.encode1xxHeaders(continue_headers);
    }
    if (!path_ok) {
      rejectBeforeFilters(std::move(headers), 400, "Bad Request", "path_normalization_failed");
      return;
    }
    if (upgrade && !acceptUpgrade(*headers)) {
      rejectBeforeFilters(std::move(headers), 403, "", "upgrade_failed");
      return;
    }
    installFilters();
    filter_manager_.decodeHeaders(std::move(headers), end_stream);
  }

  void decodeData(buffer::Buffer& data, bool end_stream) override {
    resetIdleTimer();
    if (end_stream) onRequestReceived();
    filter_manager_.decodeData(data, end_stream);
    // An upgraded stream whose response already ended was waiting for the client's direction.
    if (end_stream && awaiting_request_end_) finish();
  }

  void decodeTrailers(remora::http::TrailerMapPtr trailers) override {
    resetIdleTimer();
    onRequestReceived();
    filter_manager_.decodeTrailers(std::move(trailers));
  }

  void sendProtocolError(uint32_t code, std::string_view details) override {
    parent_.config_->stats().downstream_cx_protocol_error.inc();
    stream_info_.setResponseFlag(stream_info::DownstreamProtocolError);
    parent_.close_after_response_ = true;
    if (filter_manager_.responseStarted()) {
      resetStream();
      return;
    }
    // The request never reached the filters: answer directly through the encoder chain.
    filter_manager_.sendLocalReply(code, reasonFor(code), nullptr, details);
  }

  // ---- StreamCallbacks (the downstream stream) ----
  void onResetStream(remora::http::StreamResetReason reason, std::string_view details) override {
    if (done_) return;
    auto& stats = parent_.config_->stats();
    if (reason == remora::http::StreamResetReason::ConnectionTermination ||
        reason == remora::http::StreamResetReason::RemoteReset) {
      stats.downstream_rq_rx_reset.inc();
      stream_info_.setResponseFlag(stream_info::DownstreamConnectionTermination);
    } else {
      stats.downstream_rq_tx_reset.inc();
    }
    if (stream_info_.connection_termination_details.empty()) {
      stream_info_.connection_termination_details = std::string(details);
    }
    finish();
  }
  void onAboveWriteBufferHighWatermark() override {
    filter_manager_.onDownstreamAboveWriteBufferHighWatermark();
  }
  void onBelowWriteBufferLowWatermark() override {
    filter_manager_.onDownstreamBelowWriteBufferLowWatermark();
  }

  // ---- FilterManagerCallbacks ----
  // Without proxy_100_continue (not supported) Envoy answers Expect itself and drops the
  // upstream's informational responses: a client must not see a second 100 Continue. (A 101
  // for an accepted upgrade is a final response: it comes through encodeHeaders.)
  void encode1xxHeaders(remora::http::ResponseHeaderMap&) override {}

  void encodeHeaders(remora::http::ResponseHeaderMap& headers, bool end_stream) override {
    resetIdleTimer();
    // Envoy disarms request_timeout once the response starts (a long download, an upgraded
    // stream, must not be cut by it).
    if (request_timer_) request_timer_->disableTimer();
    uint32_t status = headers.status();
    // A 101 accepts an upgrade, a 2xx a CONNECT: from here both directions carry raw bytes.
    upgraded_ = upgrade_accepted_ && (connect_ ? status >= 200 && status < 300 : status == 101);
    ConnectionManagerUtility::mutateResponseHeaders(headers, *parent_.config_, upgraded_);
    parent_.checkDrainClose();
    // A draining HTTP/1 connection closes after this response (HTTP/2 has its GOAWAY); an
    // upgraded one stops being HTTP anyway.
    if (!parent_.isHttp2() && parent_.drain_state_ != DrainState::NotDraining &&
        !upgrade_accepted_) {
      parent_.close_after_response_ = true;
    }
    if (parent_.close_after_response_ && !upgraded_ && !parent_.isHttp2()) {
      headers.set(h::kConnection, "close");
    }
    stream_info_.response_code = status;
    if (status >= 100 && status < 600)
      parent_.config_->stats().downstream_rq_xx[status / 100 - 1]->inc();
    response_headers_ = &headers;
    stream_info_.first_downstream_tx_byte_sent = sinceStart();
    encoder_.encodeHeaders(headers, end_stream);
    if (end_stream) onResponseComplete();
  }

  void encodeData(buffer::Buffer& data, bool end_stream) override {
    resetIdleTimer();
    encoder_.encodeData(data, end_stream);
    if (end_stream) onResponseComplete();
  }

  void encodeTrailers(remora::http::TrailerMap& trailers) override {
    response_trailers_ = &trailers;
    encoder_.encodeTrailers(trailers);
    onResponseComplete();
  }

  const router::Route* route() override {
    if (!route_cached_) {
      route_cached_ = true;
      // One snapshot per stream: an RDS update reaches new streams; this one keeps its routes
      // (and the Route objects they own) until it ends.
      if (!route_config_) route_config_ = parent_.config_->routeConfig();
      route_ = request_headers_ ? route_config_->route(*request_headers_, randomU64()) : nullptr;
      applyRouteIdleTimeout();
    }
    return route_;
  }
  void clearRouteCache() override {
    route_cached_ = false;
    route_ = nullptr;
  }
  const net::Connection* connection() override { return &parent_.connection(); }
  remora::http::ConnectionFilterState* connectionFilterState() override {
    return &parent_.filter_state_;
  }
  uint64_t streamId() const override { return id_; }
  void resetStream() override {
    if (done_) return;
    encoder_.getStream().resetStream(remora::http::StreamResetReason::LocalReset);
  }
  void onDecoderFilterAboveWriteBufferHighWatermark() override {
    encoder_.getStream().readDisable(true);
    parent_.config_->stats().downstream_flow_control_paused_reading_total.inc();
  }
  void onDecoderFilterBelowWriteBufferLowWatermark() override {
    encoder_.getStream().readDisable(false);
    parent_.config_->stats().downstream_flow_control_resumed_reading_total.inc();
  }
  void onRequestDataTooLarge() override { parent_.config_->stats().downstream_rq_too_large.inc(); }

  remora::http::ResponseHeaderMapPtr makeLocalReply(uint32_t code, std::string& body,
                                                    std::optional<uint32_t> grpc_status) override {
    auto headers = std::make_unique<remora::http::ResponseHeaderMap>();
    if (request_headers_ != nullptr && remora::http::isGrpcRequest(*request_headers_)) {
      // Envoy answers a gRPC request with a trailers-only response.
      remora::http::makeTrailersOnlyGrpcReply(*headers, code, body, grpc_status);
      body.clear();
      return headers;
    }
    headers->set(h::kStatus, std::to_string(code));
    if (!body.empty()) {
      headers->set(h::kContentLength, std::to_string(body.size()));
      headers->set(h::kContentType, "text/plain");
    } else {
      headers->set(h::kContentLength, "0");
    }
    return headers;
  }

  // ---- FilterChainFactoryCallbacks ----
  void addStreamDecoderFilter(remora::http::StreamDecoderFilterSharedPtr filter) override {
    filter_manager_.addDecoderFilter(std::move(filter));
  }
  void addStreamEncoderFilter(remora::http::StreamEncoderFilterSharedPtr filter) override {
    filter_manager_.addEncoderFilter(std::move(filter));
  }
  void addStreamFilter(remora::http::StreamFilterSharedPtr filter) override {
    filter_manager_.addStreamFilter(std::move(filter));
  }

  std::list<std::unique_ptr<ActiveStream>>::iterator position_;

 private:
  void installFilters() {
    if (filters_installed_) return;
    filters_installed_ = true;
    for (const auto& factory : parent_.config_->filterFactories()) factory(*this, parent_.worker_);
  }

  std::chrono::nanoseconds sinceStart() const {
    return parent_.worker_.dispatcher.now() - stream_info_.start_monotonic;
  }

  void resetIdleTimer() {
    if (idle_timer_) idle_timer_->enableTimer(idle_timeout_);
  }

  // A route's idle_timeout replaces stream_idle_timeout for this stream, 0 turning it off (as
  // Envoy's refreshCachedRoute).
  void applyRouteIdleTimeout() {
    const router::RouteEntry* entry = route_ ? route_->routeEntry() : nullptr;
    if (entry == nullptr || !entry->idleTimeout()) return;
    idle_timeout_ = *entry->idleTimeout();
    if (idle_timeout_.count() == 0) {
      if (idle_timer_) idle_timer_->disableTimer();
      idle_timer_.reset();
      return;
    }
    if (!idle_timer_) {
      idle_timer_ = parent_.worker_.dispatcher.createTimer([this] { onStreamIdleTimeout(); });
    }
    idle_timer_->enableTimer(idle_timeout_);
  }

  // Answers a request the filter chain must never see (Envoy checks these before building it):
  // no filter, the router least of all, may act on it. The headers stay for the access log.
  void rejectBeforeFilters(remora::http::RequestHeaderMapPtr headers, uint32_t code,
                           std::string_view body, std::string_view details) {
    rejected_headers_ = std::move(headers);
    request_headers_ = rejected_headers_.get();
    filter_manager_.sendLocalReply(code, body, nullptr, details);
  }

  // The request's last byte arrived: request_timeout (Envoy: "the entire request to be
  // received") is satisfied, however long the response takes.
  void onRequestReceived() {
    request_received_ = true;
    stream_info_.last_downstream_rx_byte_received = sinceStart();
    if (request_timer_) request_timer_->disableTimer();
  }

  void onResponseComplete() {
    stream_info_.last_downstream_tx_byte_sent = sinceStart();
    // Envoy's request/response timespan ends with the last response byte.
    parent_.config_->stats().downstream_rq_time.recordMilliseconds(
        *stream_info_.last_downstream_tx_byte_sent);
    if (upgraded_ && !request_received_) {
      // The upstream's direction ended; the client's may still carry bytes upstream.
      awaiting_request_end_ = true;
      return;
    }
    // A response that ends before its request would leave unread request bytes on an HTTP/1
    // connection: the connection cannot be reused. (HTTP/2 resets the rest of that stream.)
    if (!request_received_ && !parent_.isHttp2()) parent_.close_after_response_ = true;
    finish();
  }

  // Envoy's upgrade decision: the route's upgrade_configs entry for the type wins, else the
  // connection manager's; without a route the router answers 404 as for any request. A refused
  // upgrade is answered 403 and, like an accepted one, ends HTTP on this connection.
  bool acceptUpgrade(const remora::http::RequestHeaderMap& headers) {
    const router::Route* matched = route();
    if (matched == nullptr) return true;
    auto& stats = parent_.config_->stats();
    // HTTP/1 carries no other request after an upgrade, accepted or not; an HTTP/2 stream is one
    // of many.
    if (!parent_.isHttp2()) parent_.close_after_response_ = true;
    const std::string_view type =
        connect_ ? std::string_view("CONNECT") : *headers.get(h::kUpgrade);
    std::optional<bool> enabled;
    if (const router::RouteEntry* entry = matched->routeEntry())
      enabled = entry->upgradeEnabled(type);
    if (!enabled) enabled = parent_.config_->upgradeEnabled(type);
    if (!enabled.value_or(false)) {
      stats.downstream_rq_ws_on_non_ws_route.inc();
      return false;
    }
    upgrade_accepted_ = true;
    stats.downstream_cx_upgrades_total.inc();
    stats.downstream_cx_upgrades_active.inc();
    return true;
  }

  void onRequestHeadersTimeout() {
    parent_.config_->stats().downstream_rq_header_timeout.inc();
    parent_.close_after_response_ = true;
    installFilters();
    filter_manager_.sendLocalReply(408, "request headers timeout", nullptr,
                                   "request_header_timeout");
  }

  void onStreamIdleTimeout() {
    parent_.config_->stats().downstream_rq_idle_timeout.inc();
    stream_info_.setResponseFlag(stream_info::StreamIdleTimeout);
    installFilters();
    // Envoy: 504 once the request is complete (waiting on the upstream), 408 before that; a
    // reset if the response already started.
    filter_manager_.sendLocalReply(filter_manager_.remoteDecodeComplete() ? 504 : 408,
                                   "stream timeout", nullptr, "stream_idle_timeout");
  }

  void onRequestTimeout() {
    parent_.config_->stats().downstream_rq_timeout.inc();
    installFilters();
    filter_manager_.sendLocalReply(408, "request timeout", nullptr, "request_overall_timeout");
  }

  void finish() {
    if (done_) return;
    done_ = true;
    stream_info_.request_complete = sinceStart();
    if (headers_timer_) headers_timer_->disableTimer();
    if (idle_timer_) idle_timer_->disableTimer();
    if (request_timer_) request_timer_->disableTimer();
    filter_manager_.destroyFilters();
    for (const auto& log : parent_.config_->accessLogs()) {
      log->log(request_headers_, response_headers_, response_trailers_, stream_info_);
    }
    encoder_.getStream().removeCallbacks(*this);
    auto& stats = parent_.config_->stats();
    stats.downstream_rq_active.dec();
    stats.downstream_rq_completed.inc();
    if (upgrade_accepted_) stats.downstream_cx_upgrades_active.dec();
    parent_.onStreamDone(*this);
  }

  ConnectionManager& parent_;
  remora::http::ResponseEncoder& encoder_;
  const uint64_t id_;
  stream_info::StreamInfo stream_info_;
  FilterManager filter_manager_;
  remora::http::RequestHeaderMap* request_headers_ = nullptr;  // owned by the filter manager
  remora::http::RequestHeaderMapPtr rejected_headers_;         // ... or here (rejectBeforeFilters)
  bool request_received_ = false;  // the codec delivered the request's end
  remora::http::ResponseHeaderMap* response_headers_ = nullptr;
  remora::http::TrailerMap* response_trailers_ = nullptr;
  std::shared_ptr<const router::RouteConfig> route_config_;
  const router::Route* route_ = nullptr;
  bool route_cached_ = false;
  bool filters_installed_ = false;
  bool connect_ = false;               // a CONNECT request
  bool upgrade_accepted_ = false;      // an upgrade request this route allows
  bool upgraded_ = false;              // ... answered with 101: bytes both ways until both end
  bool awaiting_request_end_ = false;  // upgraded, response done, the client's side still open
  bool done_ = false;
  event::TimerPtr headers_timer_;
  event::TimerPtr idle_timer_;
  std::chrono::milliseconds idle_timeout_{0};  // stream_idle_timeout, or the route's idle_timeout
  event::TimerPtr request_timer_;
};

namespace {
std::string_view reasonFor(uint32_t code) {
  switch (code) {
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 426:
      return "Upgrade Required";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
}
}  // namespace

ConnectionManager::ConnectionManager(std::shared_ptr<const HcmConfig> config,
                                     server::WorkerContext& worker,
                                     std::shared_ptr<const server::DrainDecision> drain_decision)
    : config_(std::move(config)), worker_(worker), drain_decision_(std::move(drain_decision)) {}

ConnectionManager::~ConnectionManager() {
  if (drain_decision_) worker_.drain_callbacks.remove(*this);
}

void ConnectionManager::initializeReadFilterCallbacks(net::ReadFilterCallbacks& callbacks) {
  read_callbacks_ = &callbacks;
  connection().addConnectionCallbacks(*this);
  net::ConnectionByteStats byte_stats;
  byte_stats.rx_total = &config_->stats().downstream_cx_rx_bytes_total;
  byte_stats.tx_total = &config_->stats().downstream_cx_tx_bytes_total;
  connection().setByteStats(byte_stats);
}

net::FilterStatus ConnectionManager::onNewConnection() {
  connected_at_ = worker_.dispatcher.now();
  auto& stats = config_->stats();
  stats.downstream_cx_total.inc();
  stats.downstream_cx_active.inc();
  if (config_->codecType() != HcmConfig::CodecType::Auto) {
    createCodec(config_->codecType() == HcmConfig::CodecType::Http2);
  }
  if (config_->idleTimeout()) {
    idle_timer_ = worker_.dispatcher.createTimer([this] { onIdleTimeout(); });
    idle_timer_->enableTimer(*config_->idleTimeout());
  }
  if (auto max = config_->maxConnectionDuration()) {
    max_duration_timer_ = worker_.dispatcher.createTimer([this] { onMaxDurationReached(); });
    max_duration_timer_->enableTimer(*max);
  }
  // Accepted while the listener drains (a graceful drain keeps accepting): the first response
  // starts the sequence instead.
  if (drain_decision_ && !drain_decision_->draining()) worker_.drain_callbacks.add(*this);
  return net::FilterStatus::StopIteration;
}

void ConnectionManager::createCodec(bool http2) {
  auto& stats = config_->stats();
  http2_ = http2;
  remora::http::ServerConnectionCallbacks& callbacks = *this;
  if (http2) {
    stats.downstream_cx_http2_total.inc();
    stats.downstream_cx_http2_active.inc();
    // Each stream's buffer limit is the listener's per_connection_buffer_limit_bytes, as for
    // HTTP/1 below (and the cluster's upstream).
    remora::http::http2::Http2Options options = config_->http2Options();
    options.buffer_limit = connection().bufferLimit();
    codec_ = std::make_unique<remora::http::http2::ServerConnectionImpl>(
        connection(), callbacks, options, &config_->http2Stats());
    // The drain began before the first bytes told the protocol (codec_type AUTO).
    if (drain_state_ == DrainState::Draining) codec_->shutdownNotice();
    if (drain_state_ == DrainState::Closing) codec_->goAway();
    return;
  }
  stats.downstream_cx_http1_total.inc();
  stats.downstream_cx_http1_active.inc();
  remora::http::codec1::ServerCodecOptions options;
  options.max_request_headers_kb = config_->maxRequestHeadersKb();
  options.max_headers_count = config_->maxHeadersCount();
  options.accept_http_10 = config_->acceptHttp10();
  options.default_host_for_http_10 = config_->defaultHostForHttp10();
  options.enable_trailers = config_->enableTrailers();
  // Envoy's HTTP/1 streams take the listener's per_connection_buffer_limit_bytes as their limit.
  options.buffer_limit = connection().bufferLimit();
  codec_ =
      std::make_unique<remora::http::codec1::ServerCodecImpl>(connection(), callbacks, options);
}

bool ConnectionManager::selectCodec(const buffer::Buffer& data, bool end_stream) {
  const SelectedCodec codec = http_connection_manager::selectCodec(
      config_->codecType(), connection().nextProtocol(), data, end_stream);
  if (codec == SelectedCodec::NeedMoreData) return false;
  createCodec(codec == SelectedCodec::Http2);
  return true;
}

net::FilterStatus ConnectionManager::onData(buffer::Buffer& data, bool end_stream) {
  if (closed_) {
    data.drain(data.length());
    return net::FilterStatus::StopIteration;
  }
  if (codec_ == nullptr && !selectCodec(data, end_stream)) return net::FilterStatus::StopIteration;
  remora::http::CodecStatus status = codec_->dispatch(data);
  if (!status.ok && http2_) config_->stats().downstream_cx_protocol_error.inc();
  if (!status.ok && !closed_) {
    // The stream has its error response queued; close once it is written.
    connection().close(net::ConnectionCloseType::FlushWriteAndDelay);
  } else if (end_stream && !closed_) {
    codec_->onPeerHalfClose();  // the codec enables half-close only for an upgraded stream
  }
  return net::FilterStatus::StopIteration;
}

remora::http::RequestDecoder& ConnectionManager::newStream(remora::http::ResponseEncoder& encoder) {
  static thread_local uint64_t next_id = 1;
  // idle_timeout counts time without streams: bytes that begin no request (stray CRLFs) do not
  // hold the connection open.
  if (idle_timer_) idle_timer_->disableTimer();
  ++requests_served_;
  const bool max_reached = config_->maxRequestsPerConnection() != 0 &&
                           requests_served_ == config_->maxRequestsPerConnection();
  if (max_reached) config_->stats().downstream_cx_max_requests_reached.inc();
  auto stream = std::make_unique<ActiveStream>(*this, encoder, next_id++);
  ActiveStream& ref = *stream;
  streams_.push_front(std::move(stream));
  ref.position_ = streams_.begin();
  if (max_reached) drainAfterStreams();
  return ref;
}

void ConnectionManager::drainAfterStreams() {
  close_after_response_ = true;
  // GOAWAY names the last stream served; the codec closes once those are done.
  if (http2_ && codec_) codec_->goAway();
}

void ConnectionManager::onDrainClose() {
  if (closed_ || drain_state_ != DrainState::NotDraining) return;
  config_->stats().downstream_cx_drain_close.inc();
  startDrainSequence();
}

void ConnectionManager::checkDrainClose() {
  if (drain_state_ != DrainState::NotDraining || !drain_decision_ ||
      !drain_decision_->drainClose(worker_.server)) {
    return;
  }
  config_->stats().downstream_cx_drain_close.inc();
  startDrainSequence();
}

void ConnectionManager::startDrainSequence() {
  drain_state_ = DrainState::Draining;
  if (drain_decision_) worker_.drain_callbacks.remove(*this);
  // HTTP/2: the client stops opening streams, and those racing with this GOAWAY are still
  // served until the final one. HTTP/1: the next response carries "Connection: close".
  if (codec_) codec_->shutdownNotice();
  if (!http2_ && !streams_.empty()) close_after_response_ = true;
  drain_timer_ = worker_.dispatcher.createTimer([this] { onDrainTimeout(); });
  drain_timer_->enableTimer(config_->drainTimeout());
}

void ConnectionManager::onDrainTimeout() {
  drain_state_ = DrainState::Closing;
  close_after_response_ = true;
  if (http2_ && codec_) codec_->goAway();  // the codec closes once the streams are done
  if (streams_.empty() && !closed_)
    connection().close(net::ConnectionCloseType::FlushWriteAndDelay);
}

void ConnectionManager::onStreamDone(ActiveStream& stream) {
  // The stream is its own deferred-deletable: no holder to allocate per request.
  std::unique_ptr<ActiveStream> done = std::move(*stream.position_);
  streams_.erase(stream.position_);
  worker_.dispatcher.deferredDelete(std::move(done));
  // HTTP/2 closes from its codec, once the GOAWAY went out and the last stream's frames with it.
  if (close_after_response_ && !closed_ && !http2_) {
    connection().close(net::ConnectionCloseType::FlushWriteAndDelay);
    return;
  }
  if (streams_.empty()) resetIdleTimer();
}

void ConnectionManager::resetIdleTimer() {
  if (idle_timer_ && streams_.empty()) idle_timer_->enableTimer(*config_->idleTimeout());
}

void ConnectionManager::onIdleTimeout() {
  config_->stats().downstream_cx_idle_timeout.inc();
  if (http2_ && codec_) codec_->goAway();  // tells the client why, before the close
  connection().close(net::ConnectionCloseType::FlushWriteAndDelay);
}

void ConnectionManager::onMaxDurationReached() {
  config_->stats().downstream_cx_max_duration_reached.inc();
  // HTTP/2 sends GOAWAY; HTTP/1 finishes what is in flight with Connection: close. With
  // nothing in flight the connection closes now.
  if (streams_.empty()) {
    if (http2_ && codec_) codec_->goAway();
    connection().close(net::ConnectionCloseType::FlushWriteAndDelay);
  } else {
    drainAfterStreams();
  }
}

void ConnectionManager::onEvent(net::ConnectionEvent event) {
  if (event == net::ConnectionEvent::Connected || closed_) return;
  closed_ = true;
  auto& stats = config_->stats();
  stats.downstream_cx_length_ms.recordMilliseconds(worker_.dispatcher.now() - connected_at_);
  stats.downstream_cx_destroy.inc();
  stats.downstream_cx_active.dec();
  if (codec_) (http2_ ? stats.downstream_cx_http2_active : stats.downstream_cx_http1_active).dec();
  bool remote = event == net::ConnectionEvent::RemoteClose;
  (remote ? stats.downstream_cx_destroy_remote : stats.downstream_cx_destroy_local).inc();
  if (!streams_.empty()) {
    stats.downstream_cx_destroy_active_rq.inc();
    (remote ? stats.downstream_cx_destroy_remote_active_rq
            : stats.downstream_cx_destroy_local_active_rq)
        .inc();
  }
  if (idle_timer_) idle_timer_->disableTimer();
  if (max_duration_timer_) max_duration_timer_->disableTimer();
  if (drain_timer_) drain_timer_->disableTimer();
  if (drain_decision_) worker_.drain_callbacks.remove(*this);
  // The codec resets whatever is still in flight (ConnectionTermination).
  if (codec_) codec_->onConnectionClosed();
}

void ConnectionManager::onAboveWriteBufferHighWatermark() {
  if (codec_) codec_->onUnderlyingConnectionAboveWriteBufferHighWatermark();
}

void ConnectionManager::onBelowWriteBufferLowWatermark() {
  if (codec_) codec_->onUnderlyingConnectionBelowWriteBufferLowWatermark();
}

}  // namespace remora::filters::network::http_connection_manager
