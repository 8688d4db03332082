#pragma once

#include <memory>

#include "event/dispatcher.h"
#include "filters/network/tcp_proxy/config.h"
#include "net/connection.h"
#include "server/worker_context.h"
#include "stream_info/stream_info.h"
#include "upstream/cluster.h"

namespace remora::filters::network::tcp_proxy {

// envoy.filters.network.tcp_proxy: joins each downstream connection to one upstream connection
// and moves bytes both ways. Half-close passes through (a FIN on one side becomes a FIN on the
// other), and each side's write-buffer watermarks pause reading on the other, so memory stays
// bounded by the two buffer limits whatever the peers' speeds.
class TcpProxyFilter final : public net::ReadFilter, private net::ConnectionCallbacks {
 public:
  TcpProxyFilter(std::shared_ptr<const TcpProxyConfig> config, server::WorkerContext& worker);
  ~TcpProxyFilter() override;

  // net::ReadFilter
  void initializeReadFilterCallbacks(net::ReadFilterCallbacks& callbacks) override;
  net::FilterStatus onNewConnection() override;
  net::FilterStatus onData(buffer::Buffer& data, bool end_stream) override;

 private:
  // Receives the upstream connection's bytes and events and accounts for its life in the
  // cluster's and host's stats. Owned by that connection. When the client leaves while bytes
  // for the server are still buffered, it takes the connection over (`draining_`) until the
  // flush ends, so the filter can go without cutting the server off.
  struct UpstreamCallbacks : public net::ReadFilter, public net::ConnectionCallbacks {
    UpstreamCallbacks(TcpProxyFilter& parent, upstream::ClusterConstSharedPtr cluster,
                      upstream::HostConstSharedPtr host);
    void initializeReadFilterCallbacks(net::ReadFilterCallbacks&) override {}
    net::FilterStatus onData(buffer::Buffer& data, bool end_stream) override;
    void onEvent(net::ConnectionEvent event) override;
    void onAboveWriteBufferHighWatermark() override;
    void onBelowWriteBufferLowWatermark() override;

    TcpProxyFilter* parent_;
    const upstream::ClusterConstSharedPtr cluster_;
    const upstream::HostConstSharedPtr host_;
    upstream::ActiveRequest active_;  // the host's rq_active while the connection lives
    net::ClientConnectionPtr draining_;
    event::Dispatcher* dispatcher_ = nullptr;
    event::MonotonicTime created_at_;  // for upstream_cx_connect_ms and upstream_cx_length_ms
  };

  // Downstream connection callbacks.
  void onEvent(net::ConnectionEvent event) override;
  void onAboveWriteBufferHighWatermark() override;
  void onBelowWriteBufferLowWatermark() override;

  void connectUpstream();
  void onUpstreamData(buffer::Buffer& data, bool end_stream);
  void onUpstreamClosed(net::ConnectionEvent event);
  void onUpstreamConnected();
  void onUpstreamConnectFailed();
  void onConnectTimeout();
  void onIdleTimeout();
  void resetIdleTimer();
  // Closes the upstream (flushing or not); a flushing connection is handed to its callbacks.
  void releaseUpstream(net::ConnectionCloseType close_type);
  // Writes the access log lines for this connection (once, when the downstream closes).
  void logConnection();
  net::Connection& downstream() { return read_callbacks_->connection(); }

  std::shared_ptr<const TcpProxyConfig> config_;
  server::WorkerContext& worker_;
  net::ReadFilterCallbacks* read_callbacks_ = nullptr;
  upstream::ClusterConstSharedPtr cluster_;
  upstream::HostConstSharedPtr host_;
  net::ClientConnectionPtr upstream_;
  std::shared_ptr<UpstreamCallbacks> upstream_callbacks_;
  event::TimerPtr connect_timer_;
  event::TimerPtr idle_timer_;
  // What the access log reports: addresses, the upstream, byte counts and response flags.
  stream_info::StreamInfo stream_info_;
  uint32_t connect_attempts_ = 0;
  bool connected_ = false;
  bool connect_timed_out_ = false;  // the attempt's close is our connect timeout's doing
  bool downstream_closed_ = false;
};

}  // namespace remora::filters::network::tcp_proxy
