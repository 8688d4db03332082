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
#include "upstream/conn_pool_base.h"

namespace remora::upstream {

// HTTP/1.1 connections to one host, owned by one worker: one request per connection at a time,
// idle connections kept for reuse (keep-alive), new ones opened while requests wait.
class Http1ConnPool final : public ConnPoolBase {
 public:
  Http1ConnPool(event::Dispatcher& dispatcher, HostConstSharedPtr host,
                ClusterConstSharedPtr cluster,
                ResourcePriority priority = ResourcePriority::Default);
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

  // Opens a connection when fewer are connecting than requests wait.
  void maybeCreateClient();
  void createClient();
  // Gives `client` the request; false when max_requests refused it (the request has been told).
  bool assign(ActiveClient& client, http::ResponseDecoder& decoder,
              ConnectionPoolCallbacks& callbacks);
  void onClientReady(ActiveClient& client);
  void onClientClosed(ActiveClient& client, bool was_connecting, net::ConnectionEvent event);
  void onConnectTimeout(ActiveClient& client);
  void onMaxDuration(ActiveClient& client);

  std::list<std::unique_ptr<ActiveClient>> clients_;
};

}  // namespace remora::upstream
