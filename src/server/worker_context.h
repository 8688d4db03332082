#pragma once

#include <atomic>
#include <string>

#include "event/dispatcher.h"
#include "stats/store.h"
#include "upstream/thread_local_cluster_manager.h"

namespace remora::server {

class DrainCallbacks;

// Server-wide state that workers read on the request path, without locks. Owned by the server.
struct ServerState {
  // POST /healthcheck/fail sets it, /healthcheck/ok clears it; the health_check filter reads it.
  std::atomic<bool> health_check_failed{false};
  // Envoy's local cluster name (node.cluster, --service-cluster); fixed before workers start.
  std::string local_cluster_name;
};

// What a filter may use on the worker that runs it.
struct WorkerContext {
  event::Dispatcher& dispatcher;
  upstream::ThreadLocalClusterManager& clusters;
  stats::Store& stats;
  const ServerState& server;
  // Filters that act at once when their listener starts draining (server/drain_decision.h).
  DrainCallbacks& drain_callbacks;
};

}  // namespace remora::server
