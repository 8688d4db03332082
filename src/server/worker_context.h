#pragma once

#include "event/dispatcher.h"
#include "stats/store.h"
#include "upstream/thread_local_cluster_manager.h"

namespace remora::server {

// What a filter may use on the worker that runs it.
struct WorkerContext {
  event::Dispatcher& dispatcher;
  upstream::ThreadLocalClusterManager& clusters;
  stats::Store& stats;
};

}  // namespace remora::server
