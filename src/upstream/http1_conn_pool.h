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
#include "upstream/conn_pool.h"

namespace remora::upstream {

// HTTP/1.1 connections to one host, owned by one worker: one request per connection at a time,
// idle connections kept for reuse (keep-alive), new ones opened while requests wait.
class Http1ConnPool final : public HttpConnPool {
 public:
  Http1ConnPool(event::Dispatcher& dispatcher, HostConstSharedPtr host,
                ClusterConstSharedPtr cluster);
  ~Http1ConnPool() override;

  // Starts a stream: onPoolReady now (an idle connection) or later, or onPoolFailure. Returns a
  // handle while the request waits, nullptr when a callback already ran.
  Cancellable* newStream(http::ResponseDecoder& decoder,
                         ConnectionPoolCallbacks& callbacks) override;
  // Closes idle connections (the host went away or the pool is being retired).
  void drainConnections() override;
  bool idle() const override;

 private:
  class ActiveClient;
  struct PendingRequest;

  void createClient();
  void attachPending(ActiveClient& client);
  void onClientReady(ActiveClient& client);
  void onClientClosed(ActiveClient& client, bool was_connecting, net::ConnectionEvent event);
  void onConnectTimeout(ActiveClient& client);
  void onMaxDuration(ActiveClient& client);
  void failPending(PoolFailureReason reason, std::string_view details);

  event::Dispatcher& dispatcher_;
  const HostConstSharedPtr host_;
  const ClusterConstSharedPtr cluster_;
  std::list<std::unique_ptr<ActiveClient>> clients_;
  std::list<std::unique_ptr<PendingRequest>> pending_;
};

}  // namespace remora::upstream
