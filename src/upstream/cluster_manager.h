#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "event/dispatcher.h"
#include "upstream/cluster_discovery.h"
#include "upstream/thread_local_cluster_manager.h"

namespace remora::init {
class Manager;
}
namespace remora::xds {
class AdsMux;
}

namespace remora::upstream {

namespace outlier {
class Detector;
}
class HealthChecker;

// The main thread's owner of every cluster. What changes a cluster at run time lives beside it
// here — membership sources (DNS, EDS) and health sources (active health checking, outlier
// detection) — and reports through updateHosts() and onHostHealthChanged(). Each change builds
// the cluster's next immutable snapshot; the new cluster map reaches the workers through the
// publisher once per event-loop turn, however many changes that turn made.
class ClusterManager {
 public:
  // Delivers a cluster map to every worker (the server posts it to each worker's
  // ThreadLocalClusterManager).
  using Publisher = std::function<void(ClusterMapConstSharedPtr)>;
  // A cluster's membership changed: the hosts that joined and those that left.
  using MemberUpdateCb = std::function<void(const HostVector& added, const HostVector& removed)>;

  explicit ClusterManager(event::Dispatcher& main_dispatcher);
  ~ClusterManager();

  // Adds a cluster built from its proto (startup or CDS).
  void addCluster(ClusterConstSharedPtr cluster);
  // Removes a cluster (CDS): it leaves the next map the workers get; their requests in flight
  // finish on the snapshot they hold. False when there is none of that name.
  bool removeCluster(std::string_view name);
  // The current map: what workers have or are about to receive.
  ClusterMapConstSharedPtr clusters() const { return clusters_; }
  ClusterConstSharedPtr get(std::string_view name) const;
  void setPublisher(Publisher publisher) { publisher_ = std::move(publisher); }
  // Where EDS clusters get their subscriptions (set by the server before it adds clusters).
  void setSubscriptionFactoryContext(xds::SubscriptionFactoryContext* context) {
    subscriptions_ = context;
  }
  // The ADS stream EDS clusters with eds_config { ads: {} } subscribe on (none without ads_config).
  void setAdsMux(xds::AdsMux* mux) { ads_mux_ = mux; }
  xds::AdsMux* adsMux() const { return ads_mux_; }
  // Where clusters register what their warming waits on (the server's init manager for the
  // bootstrap's clusters); none: nothing waits.
  void setInitManager(init::Manager* manager) { init_manager_ = manager; }

  // New membership for `cluster`. A host whose address (and priority) is already a member keeps
  // its Host object, so its stats, health flags and open connections carry over; only its EDS
  // health (FailedEdsHealth) follows the new one. Counts membership_change and tells the member
  // callbacks. An EDS assignment also brings its overprovisioning factor.
  void updateHosts(std::string_view cluster, HostVector hosts,
                   std::optional<uint32_t> overprovisioning_factor = std::nullopt);
  // A host of `cluster` changed health flags: rebuild its balancers over the healthy hosts.
  void onHostHealthChanged(std::string_view cluster);
  void addMemberUpdateCallback(std::string_view cluster, MemberUpdateCb cb);

 private:
  struct ClusterEntry {
    ClusterConstSharedPtr cluster;
    std::vector<MemberUpdateCb> member_callbacks;
    ClusterDiscoveryPtr discovery;                        // DNS or EDS; none for STATIC
    std::shared_ptr<outlier::Detector> outlier_detector;  // from the proto's outlier_detection
    // From the cluster's health_checks (one at most); runs on this thread.
    std::unique_ptr<HealthChecker> health_checker;
  };

  void replace(const std::string& name, ClusterConstSharedPtr next);
  void schedulePublish();

  event::Dispatcher& dispatcher_;
  std::map<std::string, ClusterEntry, std::less<>> entries_;
  ClusterMapConstSharedPtr clusters_ = std::make_shared<ClusterMap>();
  Publisher publisher_;
  xds::SubscriptionFactoryContext* subscriptions_ = nullptr;
  bool publish_scheduled_ = false;
  xds::AdsMux* ads_mux_ = nullptr;
  init::Manager* init_manager_ = nullptr;
};

}  // namespace remora::upstream
