#pragma once

#include <chrono>
#include <list>
#include <memory>
#include <optional>
#include <string_view>

#include "event/dispatcher.h"
#include "http/codec.h"
#include "net/connection.h"
#include "upstream/cluster.h"

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

// HTTP/1.1 connections to one host, owned by one worker: one request per connection at a time,
// idle connections kept for reuse (keep-alive), new ones opened while requests wait.
class Http1ConnPool {
 public:
  Http1ConnPool(event::Dispatcher& dispatcher, HostConstSharedPtr host,
                ClusterConstSharedPtr cluster);
  ~Http1ConnPool();

  // Starts a stream: onPoolReady now (an idle connection) or later, or onPoolFailure. Returns a
  // handle while the request waits, nullptr when a callback already ran.
  Cancellable* newStream(http::ResponseDecoder& decoder, ConnectionPoolCallbacks& callbacks);
  // Closes idle connections (the host went away or the pool is being retired).
  void drainConnections();
  bool idle() const;

 private:
  class ActiveClient;
  struct PendingRequest;

  void createClient();
  void attachPending(ActiveClient& client);
  void onClientReady(ActiveClient& client);
  void onClientClosed(ActiveClient& client, bool was_connecting, net::ConnectionEvent event);
  void onConnectTimeout(ActiveClient& client);
  void failPending(PoolFailureReason reason, std::string_view details);

  event::Dispatcher& dispatcher_;
  const HostConstSharedPtr host_;
  const ClusterConstSharedPtr cluster_;
  std::list<std::unique_ptr<ActiveClient>> clients_;
  std::list<std::unique_ptr<PendingRequest>> pending_;
};

}  // namespace remora::upstream
