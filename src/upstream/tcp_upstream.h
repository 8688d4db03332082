#pragma once

#include <memory>
#include <vector>

#include "event/dispatcher.h"
#include "http/codec.h"
#include "net/connection.h"
#include "upstream/cluster.h"
#include "upstream/conn_pool.h"

namespace remora::upstream {

// The router's upstream for a CONNECT it terminates (Envoy's TcpUpstream, chosen by a route's
// upgrade_configs CONNECT with connect_config): one plain TCP connection to the host per
// request, driven through the same encoder, decoder and pool callbacks as an HTTP stream, so the
// router's attempt logic is unchanged. Nothing of the request's head goes upstream: once the
// connection is up the pool callbacks hear onPoolReady, and encodeHeaders answers the decoder
// with a synthesized 200 (Envoy's). From then on request data is written as bytes (its end as
// our FIN) and the host's bytes come back as response data (its FIN as end_stream); the
// connection closes once both directions have ended. Counted in the cluster's upstream_cx_*
// stats like a pooled connection; never reused. Its owner frees it through deferredDelete (it
// may be inside one of its callbacks).
class TcpUpstream final : public http::RequestEncoder,
                          public http::Stream,
                          public Cancellable,
                          public event::DeferredDeletable,
                          private net::ConnectionCallbacks,
                          private net::ReadFilter {
 public:
  TcpUpstream(event::Dispatcher& dispatcher, HostConstSharedPtr host, ClusterConstSharedPtr cluster,
              ResourcePriority priority = ResourcePriority::Default);
  ~TcpUpstream() override;

  // Starts the connection. Returns this (cancel() withdraws) while connecting, or nullptr when
  // `callbacks` already heard onPoolFailure: Overflow when the cluster's max_connections (at
  // `priority`) is reached (upstream_cx_overflow), as a pool's new connection would.
  Cancellable* start(http::ResponseDecoder& decoder, ConnectionPoolCallbacks& callbacks);

  // http::RequestEncoder
  void encodeHeaders(const http::RequestHeaderMap& headers, bool end_stream) override;
  void encodeData(buffer::Buffer& data, bool end_stream) override;
  void encodeTrailers(const http::TrailerMap& trailers) override;
  http::Stream& getStream() override { return *this; }
  bool requestBytesSent() const override;

  // http::Stream
  void addCallbacks(http::StreamCallbacks& callbacks) override;
  void removeCallbacks(http::StreamCallbacks& callbacks) override;
  void resetStream(http::StreamResetReason reason) override;
  void readDisable(bool disable) override;
  uint32_t bufferLimit() const override { return cluster_->perConnectionBufferLimit(); }

  // Cancellable: the connect is abandoned; no callback runs.
  void cancel() override;

 private:
  // net::ConnectionCallbacks
  void onEvent(net::ConnectionEvent event) override;
  void onAboveWriteBufferHighWatermark() override;
  void onBelowWriteBufferLowWatermark() override;
  // net::ReadFilter
  void initializeReadFilterCallbacks(net::ReadFilterCallbacks&) override {}
  net::FilterStatus onData(buffer::Buffer& data, bool end_stream) override;

  void onConnectTimeout();
  void onClosed(net::ConnectionEvent event);
  void runReset(http::StreamResetReason reason);
  void close();

  event::Dispatcher& dispatcher_;
  const HostConstSharedPtr host_;
  const ClusterConstSharedPtr cluster_;
  const ResourcePriority priority_;
  ResourceHold cx_hold_;  // the max_connections slot, held while the connection is open
  net::ClientConnectionPtr connection_;
  event::TimerPtr connect_timer_;
  http::ResponseDecoder* decoder_ = nullptr;
  ConnectionPoolCallbacks* pool_callbacks_ = nullptr;  // while connecting
  std::vector<http::StreamCallbacks*> callbacks_;
  event::MonotonicTime created_at_;
  bool connecting_ = false;
  bool timed_out_ = false;
  bool request_ended_ = false;   // our FIN is queued
  bool response_ended_ = false;  // the host's FIN arrived
  bool reset_ = false;
  bool closed_ = false;
};

}  // namespace remora::upstream
