#pragma once

#include <list>
#include <memory>

#include "event/dispatcher.h"
#include "http/codec.h"
#include "net/connection.h"
#include "upstream/cluster.h"
#include "upstream/conn_pool_base.h"

namespace remora::upstream {

// HTTP/2 connections to one host, owned by one worker: streams are multiplexed on a connection
// up to the peer's SETTINGS_MAX_CONCURRENT_STREAMS (and our own max_concurrent_streams), and a
// new connection opens only when every open one is full. A connection that reached
// max_requests_per_connection, received GOAWAY or outlived max_connection_duration takes no new
// stream and closes once its last one ends. Until its SETTINGS arrive a connecting connection is
// assumed to take as many streams as our own limit allows.
class Http2ConnPool final : public ConnPoolBase {
 public:
  Http2ConnPool(event::Dispatcher& dispatcher, HostConstSharedPtr host,
                ClusterConstSharedPtr cluster,
                ResourcePriority priority = ResourcePriority::Default);
  ~Http2ConnPool() override;

  Cancellable* newStream(http::ResponseDecoder& decoder,
                         ConnectionPoolCallbacks& callbacks) override;
  void drainConnections() override;
  bool idle() const override;

 private:
  class ActiveClient;
  class StreamWrapper;

  // A connection that takes a stream now, or nullptr.
  ActiveClient* readyClient();
  // Gives `client` the request; false when max_requests refused it (the request has been told).
  bool assign(ActiveClient& client, http::ResponseDecoder& decoder,
              ConnectionPoolCallbacks& callbacks);
  void createClient();
  // processPending() on the next loop iteration: never from inside a codec callback.
  void schedule();
  // Gives waiting requests to connections with room; opens one more if they are all full.
  void processPending();
  void onClientClosed(ActiveClient& client, bool was_connecting, net::ConnectionEvent event);

  std::list<std::unique_ptr<ActiveClient>> clients_;
  event::TimerPtr process_timer_;
};

}  // namespace remora::upstream
