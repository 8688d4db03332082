#include "upstream/cluster_discovery.h"

#include "common/assert.h"
#include "upstream/cluster_manager.h"
#include "upstream/dns_cluster.h"
#include "upstream/eds_subscription.h"
#include "upstream/original_dst_hosts.h"

namespace remora::upstream {

void ClusterDiscovery::whenInitialized(std::function<void()> done) {
  if (initialized_) {
    done();
    return;
  }
  on_initialized_ = std::move(done);
}

void ClusterDiscovery::onInitialized() {
  if (initialized_) return;
  initialized_ = true;
  if (on_initialized_) {
    auto done = std::move(on_initialized_);
    on_initialized_ = nullptr;
    done();
  }
}

ClusterDiscoveryPtr createClusterDiscovery(ClusterManager& manager, const Cluster& cluster,
                                           event::Dispatcher& dispatcher,
                                           xds::SubscriptionFactoryContext* subscriptions) {
  switch (cluster.type()) {
    case ClusterType::StrictDns:
    case ClusterType::LogicalDns:
      return std::make_unique<DnsClusterDiscovery>(manager, cluster, dispatcher);
    case ClusterType::Eds:
      if (cluster.proto().eds_cluster_config().eds_config().has_ads()) {
        RELEASE_ASSERT(manager.adsMux() != nullptr,
                       "EDS over ADS needs ads_config (checked at load)");
        return std::make_unique<EdsAdsSubscription>(manager, cluster, *manager.adsMux());
      }
      if (subscriptions == nullptr) return nullptr;
      return std::make_unique<EdsSubscription>(manager, cluster, *subscriptions);
    case ClusterType::OriginalDst:
      return std::make_unique<OriginalDstCleanup>(cluster, dispatcher);
    case ClusterType::Static:
      break;
  }
  return nullptr;
}

}  // namespace remora::upstream
