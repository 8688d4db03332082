#pragma once

#include <memory>

#include "event/dispatcher.h"
#include "init/target.h"
#include "upstream/cluster.h"
#include "xds/subscription_factory.h"

namespace remora::upstream {

class ClusterManager;

// What keeps a cluster's membership current on the main thread (DNS resolution, an EDS
// subscription). It reports through ClusterManager::updateHosts(); destroying it stops it.
class ClusterDiscovery {
 public:
  virtual ~ClusterDiscovery() = default;
  // What the cluster's warming waits on (its first EDS assignment); nullptr: nothing.
  virtual init::Target* initTarget() { return nullptr; }
};
using ClusterDiscoveryPtr = std::unique_ptr<ClusterDiscovery>;

// Starts the discovery a cluster's type asks for: STRICT_DNS and LOGICAL_DNS resolve their
// endpoints' names, EDS subscribes to its eds_config (through `subscriptions`; none: the cluster
// stays empty). nullptr for STATIC and ORIGINAL_DST.
ClusterDiscoveryPtr createClusterDiscovery(ClusterManager& manager, const Cluster& cluster,
                                           event::Dispatcher& dispatcher,
                                           xds::SubscriptionFactoryContext* subscriptions);

}  // namespace remora::upstream
