#include "upstream/conn_pool_base.h"

#include "upstream/upstream_connection.h"

namespace remora::upstream {

ConnPoolBase::ConnPoolBase(event::Dispatcher& dispatcher, HostConstSharedPtr host,
                           ClusterConstSharedPtr cluster, ResourcePriority priority)
    : dispatcher_(dispatcher),
      host_(std::move(host)),
      cluster_(std::move(cluster)),
      resources_(cluster_->resourceManager(priority)) {}

ConnPoolBase::~ConnPoolBase() {
  // Normally empty: the pools fail their waiting requests before closing their connections.
  failPending(PoolFailureReason::LocalConnectionFailure, "pool destroyed");
}

void ConnPoolBase::PendingRequest::cancel() {
  auto& stats = pool_.cluster_->stats();
  stats.upstream_rq_cancelled.inc();
  stats.upstream_rq_pending_active.dec();
  pool_.pending_.erase(position_);  // destroys this, releasing its slot
}

ConnPoolBase::PendingRequest* ConnPoolBase::queuePending(http::ResponseDecoder& decoder,
                                                         ConnectionPoolCallbacks& callbacks) {
  auto& stats = cluster_->stats();
  if (!resources_.pendingRequests().tryAcquire()) {
    stats.upstream_rq_pending_overflow.inc();
    callbacks.onPoolFailure(PoolFailureReason::Overflow, "", host_);
    return nullptr;
  }
  auto pending = std::make_unique<PendingRequest>(*this, decoder, callbacks,
                                                  ResourceHold(resources_.pendingRequests()));
  PendingRequest* raw = pending.get();
  pending_.push_back(std::move(pending));
  raw->position_ = std::prev(pending_.end());
  stats.upstream_rq_pending_total.inc();
  stats.upstream_rq_pending_active.inc();
  return raw;
}

ConnPoolBase::PendingRequestPtr ConnPoolBase::popPending() {
  if (pending_.empty()) return nullptr;
  PendingRequestPtr next = std::move(pending_.front());
  pending_.pop_front();
  next->hold_.release();
  cluster_->stats().upstream_rq_pending_active.dec();
  return next;
}

bool ConnPoolBase::isPending(const PendingRequest* request) const {
  for (const auto& p : pending_) {
    if (p.get() == request) return true;
  }
  return false;
}

void ConnPoolBase::failPending(PoolFailureReason reason, std::string_view details) {
  while (PendingRequestPtr request = popPending()) {
    cluster_->stats().upstream_rq_pending_failure_eject.inc();
    request->callbacks_.onPoolFailure(reason, details, host_);
  }
}

ResourceHold ConnPoolBase::acquireRequest(ConnectionPoolCallbacks& callbacks) {
  if (!resources_.requests().tryAcquire()) {
    cluster_->stats().upstream_rq_pending_overflow.inc();
    callbacks.onPoolFailure(PoolFailureReason::Overflow, "", host_);
    return {};
  }
  return ResourceHold(resources_.requests());
}

net::ClientConnectionPtr ConnPoolBase::openConnection(
    bool pool_has_connections, ResourceHold& hold, std::string& error,
    const net::TransportSocketOptions& transport_options) {
  Resource& connections = resources_.connections();
  if (!connections.tryAcquire()) {
    cluster_->stats().upstream_cx_overflow.inc();
    if (pool_has_connections) return nullptr;
    connections.acquire();
  }
  hold = ResourceHold(connections);
  auto connection =
      openUpstreamConnection(dispatcher_, *host_, *cluster_, error, transport_options);
  if (connection == nullptr) {
    hold.release();
    failPending(PoolFailureReason::LocalConnectionFailure, error);
  }
  return connection;
}

void ConnPoolBase::chargeConnectionClosed(net::ConnectionEvent event, bool had_active_requests,
                                          ResourceHold& hold) {
  chargeUpstreamConnectionClosed(*host_, *cluster_, event);
  if (had_active_requests) cluster_->stats().upstream_cx_destroy_with_active_rq.inc();
  hold.release();
}

void ConnPoolBase::onConnectFailed(bool timed_out, std::string_view failure_reason) {
  cluster_->stats().upstream_cx_connect_fail.inc();
  host_->stats.cx_connect_fail.fetch_add(1, std::memory_order_relaxed);
  failPending(timed_out ? PoolFailureReason::Timeout : PoolFailureReason::RemoteConnectionFailure,
              timed_out ? std::string_view() : failure_reason);
}

}  // namespace remora::upstream
