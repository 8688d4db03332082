#pragma once

#include <list>

#include "net/connection.h"
#include "net/transport_socket.h"

namespace remora::net {

// The one Connection implementation, client and server side. Reads and writes through its
// TransportSocket; the fd is registered edge-triggered once and drained until EAGAIN.
class ConnectionImpl : public ClientConnection,
                       private ReadFilterCallbacks,
                       private buffer::WatermarkCallbacks {
 public:
  // Takes ownership of `fd`, an accepted socket (connected == true) or one whose non-blocking
  // connect has started (connected == false; call connect() to watch it complete).
  ConnectionImpl(event::Dispatcher& dispatcher, int fd, TransportSocketPtr transport,
                 bool connected);
  ~ConnectionImpl() override;

  // Connection
  uint64_t id() const override { return id_; }
  event::Dispatcher& dispatcher() override { return dispatcher_; }
  void addConnectionCallbacks(ConnectionCallbacks& callbacks) override;
  void removeConnectionCallbacks(ConnectionCallbacks& callbacks) override;
  void addReadFilter(ReadFilterSharedPtr filter) override;
  bool initializeReadFilters() override;
  void write(buffer::Buffer& data, bool end_stream) override;
  void close(ConnectionCloseType type) override;
  void readDisable(bool disable) override;
  bool readEnabled() const override { return read_disable_count_ == 0; }
  void enableHalfClose(bool enabled) override { half_close_ = enabled; }
  void setBufferLimits(uint32_t limit) override;
  uint32_t bufferLimit() const override { return buffer_limit_; }
  void setByteStats(const ConnectionByteStats& stats) override { byte_stats_ = stats; }
  State state() const override { return state_; }
  ConnectionInfo& info() override { return info_; }
  const ConnectionInfo& info() const override { return info_; }
  bool aboveHighWatermark() const override { return write_buffer_.aboveHighWatermark(); }
  uint64_t bytesSent() const override { return bytes_sent_; }
  std::string_view nextProtocol() const override { return transport_->protocol(); }

  // ClientConnection
  void connect(const Address& remote) override;
  std::string_view transportFailureReason() const override { return failure_reason_; }

 private:
  // ReadFilterCallbacks
  Connection& connection() override { return *this; }
  void continueReading() override;
  // WatermarkCallbacks (the write buffer's)
  void onAboveHighWatermark() override;
  void onBelowLowWatermark() override;

  void onFileEvent(uint32_t events);
  void onConnectComplete();
  void onReadReady();
  void onWriteReady();
  void dispatchRead(bool end_stream);
  void flushWrites();
  void readBeforeReset();
  void closeSocket(ConnectionEvent event);
  // FlushWriteAndDelay, once the writes are out: half-close and discard input until the peer
  // closes or the delay passes.
  void startDelayedClose();
  void discardInput();
  void raiseEvent(ConnectionEvent event);
  void maybeFinishHalfClose(ConnectionEvent event);

  const uint64_t id_;
  event::Dispatcher& dispatcher_;
  int fd_;
  TransportSocketPtr transport_;
  event::FileEventPtr file_event_;
  State state_ = State::Open;
  bool connecting_;
  std::string failure_reason_;
  // The peer's FIN (EPOLLRDHUP) was seen: read until end of stream instead of stopping at the
  // first short read, since no further edge will announce it.
  bool peer_closed_seen_ = false;
  bool delay_close_ = false;       // close(FlushWriteAndDelay) asked for
  bool discarding_input_ = false;  // the delayed close is under way
  event::TimerPtr delayed_close_timer_;
  bool half_close_ = false;
  bool read_end_stream_ = false;   // peer's FIN seen
  bool write_end_stream_ = false;  // end_stream queued by write()
  bool write_shutdown_ = false;    // our FIN sent
  uint32_t read_disable_count_ = 0;
  uint32_t buffer_limit_ = 1024 * 1024;
  buffer::Buffer read_buffer_;
  buffer::Buffer write_buffer_;
  std::list<ConnectionCallbacks*> callbacks_;
  std::vector<ReadFilterSharedPtr> filters_;
  size_t next_filter_ = 0;  // where continueReading() resumes onNewConnection
  bool filters_initialized_ = false;
  ConnectionByteStats byte_stats_;
  uint64_t bytes_sent_ = 0;
  ConnectionInfo info_;
};

}  // namespace remora::net
