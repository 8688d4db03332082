#pragma once

#include <google/protobuf/message.h>

#include <functional>
#include <memory>
#include <set>
#include <string>

#include "common/status.h"
#include "net/connection.h"
#include "server/drain_decision.h"
#include "server/worker_context.h"
#include "stats/store.h"

namespace remora::init {
class Manager;
}
namespace remora::router {
class RouteConfigProviderManager;
}

namespace remora::filters::network {

// Main-thread context while a filter's config is built.
struct FactoryContext {
  stats::Store& stats;
  // Names of the clusters that exist, for reference checks.
  const std::set<std::string, std::less<>>& cluster_names;
  // The listener's drain state (null where there is no listener, e.g. in tests).
  std::shared_ptr<const server::DrainDecision> drain_decision;
  // Where the connection manager finds RDS route configs (null: rds is refused).
  router::RouteConfigProviderManager* route_providers = nullptr;
  // The listener's init manager: what it waits on before serving (RDS's first response).
  init::Manager* init_manager = nullptr;
};

// Runs on a worker for each new connection: adds this filter's instance to the connection.
using FilterFactoryCb =
    std::function<void(net::Connection& connection, server::WorkerContext& worker)>;

// One network filter extension: turns its typed_config into a FilterFactoryCb, once, on the main
// thread. The config has been validated (PGV rules, supported fields) before this runs.
class NamedNetworkFilterConfigFactory {
 public:
  virtual ~NamedNetworkFilterConfigFactory() = default;
  virtual StatusOr<FilterFactoryCb> createFilterFactory(const google::protobuf::Message& config,
                                                        FactoryContext& context) const = 0;
};

}  // namespace remora::filters::network
