#include "upstream/tcp_upstream.h"

#include <algorithm>

#include "net/connection_impl.h"
#include "net/socket.h"
#include "net/transport_socket_factory.h"
#include "upstream/upstream_connection.h"

namespace remora::upstream {

TcpUpstream::TcpUpstream(event::Dispatcher& dispatcher, HostConstSharedPtr host,
                         ClusterConstSharedPtr cluster, ResourcePriority priority)
    : dispatcher_(dispatcher),
      host_(std::move(host)),
      cluster_(std::move(cluster)),
      priority_(priority) {}

TcpUpstream::~TcpUpstream() {
  callbacks_.clear();
  pool_callbacks_ = nullptr;
  decoder_ = nullptr;
  close();
}

Cancellable* TcpUpstream::start(http::ResponseDecoder& decoder,
                                ConnectionPoolCallbacks& callbacks) {
  decoder_ = &decoder;
  Resource& connections = cluster_->resourceManager(priority_).connections();
  if (!connections.tryAcquire()) {
    cluster_->stats().upstream_cx_overflow.inc();
    callbacks.onPoolFailure(PoolFailureReason::Overflow, "", host_);
    return nullptr;
  }
  cx_hold_ = ResourceHold(connections);
  std::string error;
  connection_ = openUpstreamConnection(dispatcher_, *host_, *cluster_, error);
  if (connection_ == nullptr) {
    cx_hold_.release();
    callbacks.onPoolFailure(PoolFailureReason::LocalConnectionFailure, error, host_);
    return nullptr;
  }
  pool_callbacks_ = &callbacks;
  connecting_ = true;
  created_at_ = dispatcher_.now();
  // Each direction ends on its own: the host's FIN ends the response, ours the request.
  connection_->enableHalfClose(true);
  connection_->addConnectionCallbacks(*this);
  // The read filter is this object; the connection must not own it.
  connection_->addReadFilter(std::shared_ptr<net::ReadFilter>(std::shared_ptr<void>(), this));
  connection_->initializeReadFilters();
  connect_timer_ = dispatcher_.createTimer([this] { onConnectTimeout(); });
  connect_timer_->enableTimer(cluster_->connectTimeout());
  return this;
}

void TcpUpstream::encodeHeaders(const http::RequestHeaderMap&, bool end_stream) {
  // The CONNECT ends here: the host only ever sees the payload. The tunnel is up, so the client
  // hears 200 now (Envoy answers once the TCP connection is established).
  if (end_stream) {
    buffer::Buffer none;
    encodeData(none, true);
  }
  if (reset_ || decoder_ == nullptr) return;
  auto headers = std::make_unique<http::ResponseHeaderMap>();
  headers->set(http::headers::kStatus, "200");
  decoder_->decodeHeaders(std::move(headers), false);
}

void TcpUpstream::encodeData(buffer::Buffer& data, bool end_stream) {
  if (reset_ || closed_ || request_ended_) {
    data.drain(data.length());
    return;
  }
  if (end_stream) request_ended_ = true;
  connection_->write(data, end_stream);
}

void TcpUpstream::encodeTrailers(const http::TrailerMap&) {
  buffer::Buffer none;
  encodeData(none, true);
}

bool TcpUpstream::requestBytesSent() const {
  return connection_ != nullptr && connection_->bytesSent() > 0;
}

void TcpUpstream::addCallbacks(http::StreamCallbacks& callbacks) {
  callbacks_.push_back(&callbacks);
}

void TcpUpstream::removeCallbacks(http::StreamCallbacks& callbacks) {
  callbacks_.erase(std::remove(callbacks_.begin(), callbacks_.end(), &callbacks), callbacks_.end());
}

void TcpUpstream::resetStream(http::StreamResetReason reason) {
  if (reset_) return;
  reset_ = true;
  close();
  runReset(reason);
}

void TcpUpstream::readDisable(bool disable) {
  if (connection_ != nullptr && !closed_) connection_->readDisable(disable);
}

void TcpUpstream::cancel() {
  pool_callbacks_ = nullptr;
  decoder_ = nullptr;
  reset_ = true;
  close();
}

void TcpUpstream::onEvent(net::ConnectionEvent event) {
  if (event == net::ConnectionEvent::Connected) {
    connecting_ = false;
    connect_timer_->disableTimer();
    cluster_->stats().upstream_cx_connect_ms.recordMilliseconds(dispatcher_.now() - created_at_);
    ConnectionPoolCallbacks* callbacks = pool_callbacks_;
    pool_callbacks_ = nullptr;
    if (callbacks != nullptr) callbacks->onPoolReady(*this, host_, false);
    return;
  }
  onClosed(event);
}

void TcpUpstream::onAboveWriteBufferHighWatermark() {
  auto callbacks = callbacks_;
  for (http::StreamCallbacks* cb : callbacks) cb->onAboveWriteBufferHighWatermark();
}

void TcpUpstream::onBelowWriteBufferLowWatermark() {
  auto callbacks = callbacks_;
  for (http::StreamCallbacks* cb : callbacks) cb->onBelowWriteBufferLowWatermark();
}

net::FilterStatus TcpUpstream::onData(buffer::Buffer& data, bool end_stream) {
  if (reset_ || response_ended_ || decoder_ == nullptr) {
    data.drain(data.length());
    return net::FilterStatus::StopIteration;
  }
  if (end_stream) response_ended_ = true;
  decoder_->decodeData(data, end_stream);
  return net::FilterStatus::StopIteration;
}

void TcpUpstream::onConnectTimeout() {
  // Envoy counts a connect timeout as a connect failure too (in onClosed).
  cluster_->stats().upstream_cx_connect_timeout.inc();
  timed_out_ = true;
  connection_->close(net::ConnectionCloseType::NoFlush);
}

void TcpUpstream::onClosed(net::ConnectionEvent event) {
  if (closed_) return;
  closed_ = true;
  cx_hold_.release();
  if (connect_timer_) connect_timer_->disableTimer();
  auto& stats = cluster_->stats();
  chargeUpstreamConnectionClosed(*host_, *cluster_, event);
  stats.upstream_cx_length_ms.recordMilliseconds(dispatcher_.now() - created_at_);
  if (connecting_) {
    connecting_ = false;
    ConnectionPoolCallbacks* callbacks = pool_callbacks_;
    pool_callbacks_ = nullptr;
    if (callbacks != nullptr) {  // not cancelled: the connect failed
      stats.upstream_cx_connect_fail.inc();
      host_->stats.cx_connect_fail.fetch_add(1, std::memory_order_relaxed);
      const std::string reason(timed_out_ ? std::string_view()
                                          : connection_->transportFailureReason());
      callbacks->onPoolFailure(
          timed_out_ ? PoolFailureReason::Timeout : PoolFailureReason::RemoteConnectionFailure,
          reason, host_);
    }
    return;
  }
  // Closed with a direction still open: the tunnel broke (a reset, not an end).
  if (!reset_ && !(request_ended_ && response_ended_)) {
    reset_ = true;
    runReset(http::StreamResetReason::ConnectionTermination);
  }
}

void TcpUpstream::runReset(http::StreamResetReason reason) {
  auto callbacks = callbacks_;  // a callback may remove itself
  for (http::StreamCallbacks* cb : callbacks) cb->onResetStream(reason, "");
}

void TcpUpstream::close() {
  cx_hold_.release();
  if (connection_ == nullptr) return;
  if (!closed_) connection_->close(net::ConnectionCloseType::NoFlush);
  connection_->removeConnectionCallbacks(*this);
  // Deferred: we may be inside the connection's own callback.
  dispatcher_.deferredDelete(std::move(connection_));
}

}  // namespace remora::upstream
