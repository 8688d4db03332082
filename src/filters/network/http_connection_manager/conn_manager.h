#pragma once

#include <list>
#include <memory>

#include "filters/network/http_connection_manager/config.h"
#include "http/codec.h"
#include "http/filter_manager.h"
#include "net/connection.h"
#include "server/drain_decision.h"
#include "server/worker_context.h"

namespace remora::filters::network::http_connection_manager {

// envoy.filters.network.http_connection_manager: turns a downstream connection into HTTP streams
// (through a codec), runs each stream's HTTP filter chain, and writes the responses back. One per
// connection, on its worker.
class ConnectionManager final : public net::ReadFilter,
                                private net::ConnectionCallbacks,
                                private remora::http::ServerConnectionCallbacks,
                                private server::DrainCallbacks::Callback {
 public:
  // `drain_decision`: the listener's (may be null: never drains).
  ConnectionManager(std::shared_ptr<const HcmConfig> config, server::WorkerContext& worker,
                    std::shared_ptr<const server::DrainDecision> drain_decision = nullptr);
  ~ConnectionManager() override;

  // net::ReadFilter
  void initializeReadFilterCallbacks(net::ReadFilterCallbacks& callbacks) override;
  net::FilterStatus onNewConnection() override;
  net::FilterStatus onData(buffer::Buffer& data, bool end_stream) override;

 private:
  class ActiveStream;
  friend class ActiveStream;

  // net::ConnectionCallbacks
  void onEvent(net::ConnectionEvent event) override;
  void onAboveWriteBufferHighWatermark() override;
  void onBelowWriteBufferLowWatermark() override;
  // http::ServerConnectionCallbacks
  remora::http::RequestDecoder& newStream(remora::http::ResponseEncoder& encoder) override;
  // server::DrainCallbacks::Callback: the listener started draining.
  void onDrainClose() override;
  const server::DrainDecision& drainDecision() const override { return *drain_decision_; }

  // Envoy's drain sequence. Draining: HTTP/2 has sent its shutdown-notice GOAWAY (streams still
  // accepted), HTTP/1 answers with "Connection: close". Closing, drain_timeout later: the final
  // GOAWAY; the connection closes once no stream is left.
  enum class DrainState { NotDraining, Draining, Closing };
  // At each response head (Envoy's check): starts the drain sequence if the listener drains or
  // the server fails health checks.
  void checkDrainClose();
  void startDrainSequence();
  void onDrainTimeout();

  // Builds the codec: at once for codec_type HTTP1 or HTTP2; for AUTO once the negotiated ALPN
  // or the first bytes tell (codec_selection.h).
  void createCodec(bool http2);
  // AUTO: true once the codec is chosen and exists.
  bool selectCodec(const buffer::Buffer& data, bool end_stream);
  bool isHttp2() const { return http2_; }
  // Ends the connection after the streams in flight: HTTP/2 sends GOAWAY, HTTP/1 marks the
  // current response "connection: close".
  void drainAfterStreams();
  void onStreamDone(ActiveStream& stream);
  void onIdleTimeout();
  void onMaxDurationReached();
  void resetIdleTimer();
  net::Connection& connection() { return read_callbacks_->connection(); }

  std::shared_ptr<const HcmConfig> config_;
  server::WorkerContext& worker_;
  net::ReadFilterCallbacks* read_callbacks_ = nullptr;
  std::unique_ptr<remora::http::ServerCodec> codec_;
  std::list<std::unique_ptr<ActiveStream>> streams_;
  // Filters use it until their stream finishes (onDestroy), never from their destructors: a
  // finished stream is deleted later, possibly after this connection manager.
  remora::http::ConnectionFilterState filter_state_;
  event::TimerPtr idle_timer_;
  event::TimerPtr max_duration_timer_;
  std::shared_ptr<const server::DrainDecision> drain_decision_;
  DrainState drain_state_ = DrainState::NotDraining;
  event::TimerPtr drain_timer_;
  event::MonotonicTime connected_at_;  // for downstream_cx_length_ms
  uint32_t requests_served_ = 0;
  bool close_after_response_ = false;
  bool http2_ = false;
  bool closed_ = false;
};

}  // namespace remora::filters::network::http_connection_manager
