#pragma once

#include <string_view>

#include "http/codec.h"
#include "upstream/host.h"

namespace remora::upstream {

enum class PoolFailureReason {
  Overflow,                 // circuit breaker (pending / connections) said no
  LocalConnectionFailure,   // we could not start a connection
  RemoteConnectionFailure,  // the connect failed or the peer closed before it completed
  Timeout,                  // connect_timeout expired
};

// Told how a request for a pooled stream ends.
class ConnectionPoolCallbacks {
 public:
  virtual ~ConnectionPoolCallbacks() = default;
  virtual void onPoolFailure(PoolFailureReason reason, std::string_view details,
                             const HostConstSharedPtr& host) = 0;
  // `encoder` sends the request; `reused` says the connection carried a request before, which
  // matters when it turns out to have been closed by the upstream (the keep-alive race).
  virtual void onPoolReady(http::RequestEncoder& encoder, const HostConstSharedPtr& host,
                           bool reused) = 0;
};

// A request waiting for a connection; cancel() withdraws it.
class Cancellable {
 public:
  virtual ~Cancellable() = default;
  virtual void cancel() = 0;
};

// Connections to one host for one protocol, owned by one worker (Http1ConnPool,
// Http2ConnPool): the router asks for a stream and does not care how it is carried.
class HttpConnPool {
 public:
  virtual ~HttpConnPool() = default;
  // Starts a stream: onPoolReady now (a connection with room) or later, or onPoolFailure.
  // Returns a handle while the request waits, nullptr when a callback already ran.
  virtual Cancellable* newStream(http::ResponseDecoder& decoder,
                                 ConnectionPoolCallbacks& callbacks) = 0;
  // Closes connections that carry nothing (the host went away or the pool is being retired).
  virtual void drainConnections() = 0;
  virtual bool idle() const = 0;
  // The host this pool connects to.
  virtual const HostConstSharedPtr& host() const = 0;
};

}  // namespace remora::upstream
