#pragma once

#include <functional>
#include <memory>

#include "event/dispatcher.h"
#include "upstream/cluster.h"
#include "xds/subscription_factory.h"

namespace remora::upstream {

class ClusterManager;

// What keeps a cluster's membership current on the main thread (DNS resolution, an EDS
// subscription). It reports through ClusterManager::updateHosts(); destroying it stops it.
class ClusterDiscovery {
 public:
  virtual ~ClusterDiscovery() = default;

  // Runs `done` once, when the first update has been applied or has failed (Envoy's cluster
  // pre-init: the first DNS answers for every name; the first EDS file load; the first ADS
  // assignment, a refused one or initial_fetch_timeout): at once if that has already happened.
  // The ClusterManager's warming waits on it.
  void whenInitialized(std::function<void()> done);

 protected:
  // The subclass's first update attempt (every name's, for DNS) is over, whatever its outcome.
  void onInitialized();

 private:
  bool initialized_ = false;
  std::function<void()> on_initialized_;
};
using ClusterDiscoveryPtr = std::unique_ptr<ClusterDiscovery>;

// Starts the discovery a cluster's type asks for: STRICT_DNS and LOGICAL_DNS resolve their
// endpoints' names, EDS subscribes to its eds_config (through `subscriptions`; none: the cluster
// stays empty), ORIGINAL_DST sweeps its unused hosts. nullptr for STATIC.
ClusterDiscoveryPtr createClusterDiscovery(ClusterManager& manager, const Cluster& cluster,
                                           event::Dispatcher& dispatcher,
                                           xds::SubscriptionFactoryContext* subscriptions);

}  // namespace remora::upstream
