#include "filters/network/tcp_proxy/tcp_proxy.h"

#include "common/logger.h"
#include "common/random.h"
#include "net/connection_impl.h"
#include "net/socket.h"
#include "upstream/outlier_detection_monitor.h"
#include "upstream/upstream_connection.h"

namespace remora::filters::network::tcp_proxy {

TcpProxyFilter::TcpProxyFilter(std::shared_ptr<const TcpProxyConfig> config,
                               server::WorkerContext& worker)
    : config_(std::move(config)), worker_(worker) {}

TcpProxyFilter::~TcpProxyFilter() { releaseUpstream(net::ConnectionCloseType::NoFlush); }

void TcpProxyFilter::initializeReadFilterCallbacks(net::ReadFilterCallbacks& callbacks) {
  read_callbacks_ = &callbacks;
  downstream().addConnectionCallbacks(*this);
  // A FIN from the client must reach the server as a FIN, not as a reset of both sides.
  downstream().enableHalfClose(true);
  net::ConnectionByteStats byte_stats;
  byte_stats.rx_total = &config_->stats().downstream_cx_rx_bytes_total;
  byte_stats.tx_total = &config_->stats().downstream_cx_tx_bytes_total;
  downstream().setByteStats(byte_stats);
}

net::FilterStatus TcpProxyFilter::onNewConnection() {
  config_->stats().downstream_cx_total.inc();
  stream_info_.start_time = std::chrono::system_clock::now();
  stream_info_.start_monotonic = std::chrono::steady_clock::now();
  const auto& info = downstream().info();
  stream_info_.downstream_local_address = info.local_address;
  stream_info_.downstream_remote_address = info.remote_address;
  stream_info_.downstream_direct_remote_address = info.remote_address;
  stream_info_.requested_server_name = info.requested_server_name;
  const std::string& cluster_name = config_->pickCluster(randomU64());
  stream_info_.upstream_cluster = cluster_name;
  auto* entry = worker_.clusters.get(cluster_name);
  if (entry == nullptr) {
    config_->stats().downstream_cx_no_route.inc();
    stream_info_.setResponseFlag(stream_info::NoClusterFound);
    downstream().close(net::ConnectionCloseType::NoFlush);
    return net::FilterStatus::StopIteration;
  }
  cluster_ = entry->cluster;
  // Hold the client's bytes until there is somewhere to send them.
  downstream().readDisable(true);
  connectUpstream();
  return net::FilterStatus::StopIteration;
}

void TcpProxyFilter::connectUpstream() {
  ++connect_attempts_;
  // The cluster's max_connections (DEFAULT priority), counted across all workers: over it the
  // client is closed, as Envoy's tcp_proxy does.
  upstream::Resource& connections =
      cluster_->resourceManager(upstream::ResourcePriority::Default).connections();
  if (!connections.tryAcquire()) {
    cluster_->stats().upstream_cx_overflow.inc();
    stream_info_.setResponseFlag(stream_info::UpstreamOverflow);
    downstream().close(net::ConnectionCloseType::NoFlush);
    return;
  }
  upstream::ResourceHold cx_hold(connections);
  auto* entry = worker_.clusters.get(cluster_->name());
  upstream::LoadBalancerContext lb_context{&downstream().info()};
  host_ = entry != nullptr ? entry->lb->chooseHost(lb_context) : nullptr;
  auto& cluster_stats = cluster_->stats();
  if (host_ == nullptr) {
    cluster_stats.upstream_cx_none_healthy.inc();
    stream_info_.setResponseFlag(stream_info::NoHealthyUpstream);
    downstream().close(net::ConnectionCloseType::NoFlush);
    return;
  }
  cluster_stats.upstream_cx_total.inc();
  host_->stats.cx_total.fetch_add(1, std::memory_order_relaxed);
  // Read once: a LOGICAL_DNS host's address may move meanwhile.
  const net::Address address = host_->currentAddress();
  stream_info_.upstream_host = address;
  stream_info_.attempt_count = connect_attempts_;
  auto fd = net::startConnect(address, cluster_->upstreamBindAddress());
  if (!fd.ok()) {
    LOG_DEBUG("tcp_proxy: {}", fd.status().message());
    cluster_stats.upstream_cx_connect_fail.inc();
    host_->stats.cx_connect_fail.fetch_add(1, std::memory_order_relaxed);
    onUpstreamConnectFailed();
    return;
  }
  upstream_ = std::make_unique<net::ConnectionImpl>(
      worker_.dispatcher, *fd, std::make_unique<net::RawBufferSocket>(), false);
  upstream_callbacks_ = std::make_shared<UpstreamCallbacks>(*this, cluster_, host_);
  upstream_callbacks_->cx_hold_ = std::move(cx_hold);
  upstream_callbacks_->dispatcher_ = &worker_.dispatcher;
  upstream_callbacks_->created_at_ = worker_.dispatcher.now();
  upstream_->enableHalfClose(true);
  upstream_->setBufferLimits(cluster_->perConnectionBufferLimit());
  net::ConnectionByteStats byte_stats;
  byte_stats.rx_total = &cluster_stats.upstream_cx_rx_bytes_total;
  byte_stats.tx_total = &cluster_stats.upstream_cx_tx_bytes_total;
  upstream_->setByteStats(byte_stats);
  upstream_->addConnectionCallbacks(*upstream_callbacks_);
  upstream_->addReadFilter(upstream_callbacks_);
  upstream_->initializeReadFilters();
  upstream_->connect(address);
  if (!connect_timer_)
    connect_timer_ = worker_.dispatcher.createTimer([this] { onConnectTimeout(); });
  connect_timer_->enableTimer(cluster_->connectTimeout());
}

net::FilterStatus TcpProxyFilter::onData(buffer::Buffer& data, bool end_stream) {
  if (upstream_ == nullptr || !connected_) {
    data.drain(data.length());  // reads are disabled until connected; nothing should be here
    return net::FilterStatus::StopIteration;
  }
  resetIdleTimer();
  stream_info_.bytes_received += data.length();
  upstream_->write(data, end_stream);
  return net::FilterStatus::StopIteration;
}

void TcpProxyFilter::onUpstreamData(buffer::Buffer& data, bool end_stream) {
  resetIdleTimer();
  stream_info_.bytes_sent += data.length();
  downstream().write(data, end_stream);
}

void TcpProxyFilter::onUpstreamConnected() {
  connected_ = true;
  connect_timer_->disableTimer();
  // For tcp_proxy, connecting is the whole transaction outlier detection sees (as Envoy).
  if (auto* monitor = host_->outlierMonitor())
    monitor->putResult(upstream::outlier::Result::LocalOriginConnectSuccessFinal);
  stream_info_.upstream_local_address = upstream_->info().local_address;
  resetIdleTimer();
  downstream().readDisable(false);
}

void TcpProxyFilter::onUpstreamClosed(net::ConnectionEvent event) {
  upstream_callbacks_->parent_ = nullptr;
  upstream_callbacks_.reset();
  worker_.dispatcher.deferredDelete(std::move(upstream_));
  if (downstream_closed_) return;
  if (!connected_) {
    onUpstreamConnectFailed();
    return;
  }
  // Deliver what is already buffered for the client, then close.
  downstream().close(net::ConnectionCloseType::FlushWrite);
}

void TcpProxyFilter::onUpstreamConnectFailed() {
  if (connect_timer_) connect_timer_->disableTimer();
  if (auto* monitor = host_->outlierMonitor()) {
    monitor->putResult(connect_timed_out_ ? upstream::outlier::Result::LocalOriginTimeout
                                          : upstream::outlier::Result::LocalOriginConnectFailed);
  }
  connect_timed_out_ = false;
  stream_info_.setResponseFlag(stream_info::UpstreamConnectionFailure);
  if (connect_attempts_ < config_->maxConnectAttempts()) {
    connectUpstream();
    return;
  }
  // Envoy marks a connection whose every attempt failed with URX too ("UF,URX").
  stream_info_.setResponseFlag(stream_info::UpstreamRetryLimitExceeded);
  if (config_->maxConnectAttempts() > 1)
    cluster_->stats().upstream_cx_connect_attempts_exceeded.inc();
  downstream().close(net::ConnectionCloseType::NoFlush);
}

void TcpProxyFilter::onConnectTimeout() {
  // Envoy counts a connect timeout as a connect failure too.
  cluster_->stats().upstream_cx_connect_timeout.inc();
  cluster_->stats().upstream_cx_connect_fail.inc();
  host_->stats.cx_connect_fail.fetch_add(1, std::memory_order_relaxed);
  connect_timed_out_ = true;
  // Closing raises LocalClose, which retries or gives up in onUpstreamClosed.
  upstream_->close(net::ConnectionCloseType::NoFlush);
}

void TcpProxyFilter::resetIdleTimer() {
  auto timeout = config_->idleTimeout();
  if (!timeout) return;
  if (!idle_timer_) idle_timer_ = worker_.dispatcher.createTimer([this] { onIdleTimeout(); });
  idle_timer_->enableTimer(*timeout);
}

void TcpProxyFilter::onIdleTimeout() {
  config_->stats().idle_timeout.inc();
  downstream().close(net::ConnectionCloseType::NoFlush);
}

void TcpProxyFilter::releaseUpstream(net::ConnectionCloseType close_type) {
  if (upstream_ == nullptr) return;
  auto callbacks = upstream_callbacks_;
  callbacks->parent_ = nullptr;
  upstream_callbacks_.reset();
  upstream_->close(close_type);
  if (upstream_->state() == net::Connection::State::Closed) {
    worker_.dispatcher.deferredDelete(std::move(upstream_));
  } else {
    callbacks->draining_ = std::move(upstream_);  // still flushing to the server
  }
}

void TcpProxyFilter::onEvent(net::ConnectionEvent event) {
  if (event == net::ConnectionEvent::Connected || downstream_closed_) return;
  downstream_closed_ = true;
  logConnection();
  if (connect_timer_) connect_timer_->disableTimer();
  if (idle_timer_) idle_timer_->disableTimer();
  releaseUpstream(event == net::ConnectionEvent::RemoteClose ? net::ConnectionCloseType::FlushWrite
                                                             : net::ConnectionCloseType::NoFlush);
}

void TcpProxyFilter::logConnection() {
  if (config_->accessLogs().empty()) return;
  stream_info_.request_complete = stream_info_.sinceStart(std::chrono::steady_clock::now());
  for (const auto& log : config_->accessLogs()) {
    log->log(nullptr, nullptr, nullptr, stream_info_);
  }
}

void TcpProxyFilter::onAboveWriteBufferHighWatermark() {
  // The client reads slower than the server sends: stop reading from the server.
  if (upstream_) {
    upstream_->readDisable(true);
    cluster_->stats().upstream_flow_control_paused_reading_total.inc();
  }
}

void TcpProxyFilter::onBelowWriteBufferLowWatermark() {
  if (upstream_) {
    upstream_->readDisable(false);
    cluster_->stats().upstream_flow_control_resumed_reading_total.inc();
  }
}

net::FilterStatus TcpProxyFilter::UpstreamCallbacks::onData(buffer::Buffer& data, bool end_stream) {
  if (parent_) {
    parent_->onUpstreamData(data, end_stream);
  } else {
    data.drain(data.length());
  }
  return net::FilterStatus::StopIteration;
}

TcpProxyFilter::UpstreamCallbacks::UpstreamCallbacks(TcpProxyFilter& parent,
                                                     upstream::ClusterConstSharedPtr cluster,
                                                     upstream::HostConstSharedPtr host)
    : parent_(&parent), cluster_(std::move(cluster)), host_(std::move(host)), active_(*host_) {
  cluster_->stats().upstream_cx_active.inc();
  host_->stats.cx_active.fetch_add(1, std::memory_order_relaxed);
}

void TcpProxyFilter::UpstreamCallbacks::onEvent(net::ConnectionEvent event) {
  auto& stats = cluster_->stats();
  const event::MonotonicTime now = dispatcher_->now();
  if (event == net::ConnectionEvent::Connected) {
    stats.upstream_cx_connect_ms.recordMilliseconds(now - created_at_);
    if (parent_) parent_->onUpstreamConnected();
    return;
  }
  stats.upstream_cx_length_ms.recordMilliseconds(now - created_at_);
  upstream::chargeUpstreamConnectionClosed(*host_, *cluster_, event);
  active_.release();
  cx_hold_.release();
  if (parent_ && !parent_->connected_ && event == net::ConnectionEvent::RemoteClose) {
    stats.upstream_cx_connect_fail.inc();
    host_->stats.cx_connect_fail.fetch_add(1, std::memory_order_relaxed);
  }
  if (parent_) {
    parent_->onUpstreamClosed(event);
  } else if (draining_) {
    // Breaks the ownership cycle (connection -> callbacks -> connection) after this event.
    dispatcher_->deferredDelete(std::move(draining_));
  }
}

void TcpProxyFilter::UpstreamCallbacks::onAboveWriteBufferHighWatermark() {
  // The server reads slower than the client sends: stop reading from the client.
  if (parent_) {
    parent_->downstream().readDisable(true);
    parent_->config_->stats().downstream_flow_control_paused_reading_total.inc();
  }
}

void TcpProxyFilter::UpstreamCallbacks::onBelowWriteBufferLowWatermark() {
  if (parent_) {
    parent_->downstream().readDisable(false);
    parent_->config_->stats().downstream_flow_control_resumed_reading_total.inc();
  }
}

}  // namespace remora::filters::network::tcp_proxy
