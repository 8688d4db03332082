#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "buffer/buffer.h"
#include "event/dispatcher.h"
#include "net/address.h"

namespace remora::stats {
class Counter;
class Gauge;
}  // namespace remora::stats

namespace remora::net {

enum class ConnectionEvent {
  RemoteClose,  // the peer closed or reset, or a connect failed
  LocalClose,   // we closed
  Connected,    // a client connection's connect completed
};

enum class ConnectionCloseType {
  // Write out what is buffered, then close. The flush is bounded: a peer that reads nothing for
  // Envoy's delayed_close_timeout (1 s) is closed on anyway.
  FlushWrite,
  NoFlush,  // close now, discarding buffered writes
  // Write out what is buffered, shut down our write side, then read and discard what the peer
  // still sends until it closes or kDelayedCloseTimeout passes (Envoy's delayed_close_timeout).
  // Closing a socket with unread input makes the kernel send a RST, which can destroy a response
  // (a 400, 413 or 431) the peer has not read yet.
  FlushWriteAndDelay,
};

enum class FilterStatus { Continue, StopIteration };

class Connection;

// Lifecycle and flow-control notifications for whoever uses a connection.
class ConnectionCallbacks {
 public:
  virtual ~ConnectionCallbacks() = default;
  virtual void onEvent(ConnectionEvent event) = 0;
  // The connection's write buffer went above its limit: stop feeding it.
  virtual void onAboveWriteBufferHighWatermark() {}
  // The write buffer drained to half its limit: resume feeding it.
  virtual void onBelowWriteBufferLowWatermark() {}
};

// Given to each read filter so it can reach its connection and resume the chain.
class ReadFilterCallbacks {
 public:
  virtual ~ReadFilterCallbacks() = default;
  virtual Connection& connection() = 0;
  // Resumes iteration after this filter returned StopIteration from onNewConnection.
  virtual void continueReading() = 0;
};

// A network (L4) filter on the read path: Envoy's Network::ReadFilter.
class ReadFilter {
 public:
  virtual ~ReadFilter() = default;
  virtual void initializeReadFilterCallbacks(ReadFilterCallbacks& callbacks) = 0;
  // A connection was accepted and its filter chain built.
  virtual FilterStatus onNewConnection() { return FilterStatus::Continue; }
  // Bytes arrived (possibly none, with end_stream on the peer's FIN under half-close). The
  // filter drains what it consumes from `data`.
  virtual FilterStatus onData(buffer::Buffer& data, bool end_stream) = 0;
};
using ReadFilterSharedPtr = std::shared_ptr<ReadFilter>;

// What the accept path and listener filters learned about a downstream connection.
struct ConnectionInfo {
  Address local_address;  // the original destination once original_dst restored it
  Address remote_address;
  bool local_address_restored = false;
  std::string requested_server_name;               // SNI, from tls_inspector
  std::string transport_protocol;                  // "raw_buffer" or "tls"
  std::vector<std::string> application_protocols;  // ALPN offers / http_inspector
};

// Byte counters a connection bumps as it reads and writes (e.g. a cluster's upstream_cx_*).
struct ConnectionByteStats {
  stats::Counter* rx_total = nullptr;
  stats::Counter* tx_total = nullptr;
  stats::Gauge* rx_buffered = nullptr;
  stats::Gauge* tx_buffered = nullptr;
};

// A TCP connection owned by one worker. Destroyed through the dispatcher's deferredDelete.
class Connection : public event::DeferredDeletable {
 public:
  enum class State { Open, Closing, Closed };

  virtual uint64_t id() const = 0;
  virtual event::Dispatcher& dispatcher() = 0;
  virtual void addConnectionCallbacks(ConnectionCallbacks& callbacks) = 0;
  virtual void removeConnectionCallbacks(ConnectionCallbacks& callbacks) = 0;
  // Adds a read filter; filters see data in the order added.
  virtual void addReadFilter(ReadFilterSharedPtr filter) = 0;
  // Calls onNewConnection on each filter; false when there are none.
  virtual bool initializeReadFilters() = 0;
  // Queues `data` (drained) for writing; end_stream half-closes our side once it is flushed.
  virtual void write(buffer::Buffer& data, bool end_stream) = 0;
  virtual void close(ConnectionCloseType type) = 0;
  // Counted: each disable needs a matching enable before reading resumes.
  virtual void readDisable(bool disable) = 0;
  virtual bool readEnabled() const = 0;
  // With half-close, a peer's FIN reaches filters as end_stream instead of closing.
  virtual void enableHalfClose(bool enabled) = 0;
  // per_connection_buffer_limit_bytes: the write buffer's high watermark and the read chunk cap.
  virtual void setBufferLimits(uint32_t limit) = 0;
  // The limit set above (0: none). HTTP/1 streams on the connection take it as their buffer
  // limit, as Envoy's codec does.
  virtual uint32_t bufferLimit() const = 0;
  virtual void setByteStats(const ConnectionByteStats& stats) = 0;
  virtual State state() const = 0;
  virtual ConnectionInfo& info() = 0;
  virtual const ConnectionInfo& info() const = 0;
  virtual bool aboveHighWatermark() const = 0;
  // Bytes the socket has accepted from write() so far (not those still buffered).
  virtual uint64_t bytesSent() const = 0;
  // The application protocol the transport socket negotiated (ALPN), empty when none.
  virtual std::string_view nextProtocol() const = 0;
};
using ConnectionPtr = std::unique_ptr<Connection>;

// An outbound connection whose non-blocking connect to `remote` was started on its socket;
// connect() watches it, and Connected or RemoteClose reports the outcome.
class ClientConnection : public Connection {
 public:
  virtual void connect(const Address& remote) = 0;
  // Why the connect failed, worded as Envoy's transport failure reason ("delayed connect error:
  // Connection refused"); empty while connecting, once connected, or when it timed out.
  virtual std::string_view transportFailureReason() const = 0;
};
using ClientConnectionPtr = std::unique_ptr<ClientConnection>;

}  // namespace remora::net
