#pragma once

#include <list>
#include <memory>
#include <string>
#include <string_view>

#include "event/dispatcher.h"
#include "http/codec.h"
#include "net/connection.h"
#include "net/transport_socket_factory.h"
#include "upstream/cluster.h"
#include "upstream/conn_pool.h"
#include "upstream/resource_manager.h"

namespace remora::upstream {

// What the HTTP/1 and HTTP/2 pools share (Envoy's ConnPoolImplBase): the queue of requests
// waiting for a connection (cancel, fail all on a connect failure, the pending stats), the
// bookkeeping of opening and closing a connection, and the cluster's circuit breakers for the
// pool's priority, each enforced here and nowhere else:
//   max_pending_requests: a request that must wait is refused (upstream_rq_pending_overflow);
//   max_requests: a stream about to go to a connection is refused (Envoy counts this as
//     upstream_rq_pending_overflow too);
//   max_connections: no further connection opens (upstream_cx_overflow) and requests wait,
//     except that a pool with no connection at all opens one, as Envoy's does, so its waiting
//     requests are never stranded by connections other pools hold.
// A refused request hears onPoolFailure(Overflow).
class ConnPoolBase : public HttpConnPool {
 public:
  ~ConnPoolBase() override;
  const HostConstSharedPtr& host() const override { return host_; }

 protected:
  ConnPoolBase(event::Dispatcher& dispatcher, HostConstSharedPtr host,
               ClusterConstSharedPtr cluster, ResourcePriority priority);

  // A request waiting for a connection; holds a max_pending_requests slot.
  struct PendingRequest final : public Cancellable {
    PendingRequest(ConnPoolBase& pool, http::ResponseDecoder& decoder,
                   ConnectionPoolCallbacks& callbacks, ResourceHold hold)
        : pool_(pool), decoder_(decoder), callbacks_(callbacks), hold_(std::move(hold)) {}
    void cancel() override;

    ConnPoolBase& pool_;
    http::ResponseDecoder& decoder_;
    ConnectionPoolCallbacks& callbacks_;
    ResourceHold hold_;
    std::list<std::unique_ptr<PendingRequest>>::iterator position_;
  };
  using PendingRequestPtr = std::unique_ptr<PendingRequest>;

  // Queues a request no connection can take now, within max_pending_requests; over it, fails
  // the request with Overflow and returns nullptr.
  PendingRequest* queuePending(http::ResponseDecoder& decoder, ConnectionPoolCallbacks& callbacks);
  // The oldest waiting request, taken off the queue; nullptr when none waits.
  PendingRequestPtr popPending();
  bool hasPending() const { return !pending_.empty(); }
  size_t pendingCount() const { return pending_.size(); }
  // Whether `request` still waits (a callback may have run since it was queued).
  bool isPending(const PendingRequest* request) const;
  // Fails every waiting request (a connect failure, or the pool going away): Envoy purges them
  // all and the router decides about retries.
  void failPending(PoolFailureReason reason, std::string_view details);

  // A max_requests slot for a stream about to go to a connection; over the limit the request
  // hears onPoolFailure(Overflow) and the hold comes back empty.
  ResourceHold acquireRequest(ConnectionPoolCallbacks& callbacks);

  // Starts a connection to the host if max_connections allows (or the pool has none:
  // `pool_has_connections` false); `hold` receives its connection slot. nullptr with `error`
  // empty: the limit said no (counted upstream_cx_overflow); with `error` set: the connect could
  // not start (the waiting requests have been failed).
  net::ClientConnectionPtr openConnection(
      bool pool_has_connections, ResourceHold& hold, std::string& error,
      const net::TransportSocketOptions& transport_options = {});
  // A connection closed: cx_active, upstream_cx_destroy*, the host's cx_active, its slot.
  void chargeConnectionClosed(net::ConnectionEvent event, bool had_active_requests,
                              ResourceHold& hold);
  // The connection never completed: counts the connect failure and fails the waiting requests,
  // which shared its fate, with its transport failure reason (a timeout carries none).
  void onConnectFailed(bool timed_out, std::string_view failure_reason);

  event::Dispatcher& dispatcher_;
  const HostConstSharedPtr host_;
  const ClusterConstSharedPtr cluster_;
  ResourceManager& resources_;

 private:
  std::list<PendingRequestPtr> pending_;
};

}  // namespace remora::upstream
