#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "event/dispatcher.h"
#include "init/target.h"
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

  // Where clusters register their warming (the server's init manager). Set before the first
  // addCluster; without one, every cluster is served at once, warm or not.
  void setInitManager(init::Manager* manager) { init_manager_ = manager; }

  // Adds a cluster built from its proto (startup or CDS), or replaces the one of that name.
  //
  // Warming (Envoy's cluster initialization): a STRICT_DNS or LOGICAL_DNS cluster is warm once
  // every name's first resolution has finished, an EDS cluster once its first load has been
  // applied or has failed, and then, if it has health_checks, once every host has had its first
  // check (its hosts are failed until then). STATIC and ORIGINAL_DST clusters without health
  // checks are warm at once. While the init manager has not finished, a warming cluster is
  // served (nothing accepts yet) and holds the manager up through an init::Target. Added after
  // that (CDS), a warming cluster stays out of the map the workers see until it is warm
  // (cluster_manager.warming_clusters counts it); a cluster it replaces keeps serving meanwhile.
  void addCluster(ClusterConstSharedPtr cluster);
  // Whether `name` is known and has finished warming.
  bool isWarm(std::string_view name) const;
  // Removes a cluster (CDS): it leaves the next map the workers get; their requests in flight
  // finish on the snapshot they hold. False when there is none of that name.
  bool removeCluster(std::string_view name);
  // The current map: what workers have or are about to receive.
  ClusterMapConstSharedPtr clusters() const { return clusters_; }
  // Every cluster added, warming ones included: a listener may name a cluster CDS has just
  // added and EDS has not filled yet (its connections find no cluster until it is warm).
  std::set<std::string, std::less<>> names() const;
  ClusterConstSharedPtr get(std::string_view name) const;
  void setPublisher(Publisher publisher) { publisher_ = std::move(publisher); }
  // Where EDS clusters get their subscriptions (set by the server before it adds clusters).
  void setSubscriptionFactoryContext(xds::SubscriptionFactoryContext* context) {
    subscriptions_ = context;
  }
  // The ADS stream EDS clusters with eds_config { ads: {} } subscribe on (none without ads_config).
  void setAdsMux(xds::AdsMux* mux) { ads_mux_ = mux; }
  xds::AdsMux* adsMux() const { return ads_mux_; }

  // New membership for `cluster`. A host whose address (and priority) is already a member keeps
  // its Host object, so its stats, health flags and open connections carry over; only its EDS
  // health (FailedEdsHealth, DegradedEdsHealth) follows the new one. Counts membership_change and
  // tells the member callbacks. An EDS assignment also brings its overprovisioning factor.
  void updateHosts(std::string_view cluster, HostVector hosts,
                   std::optional<uint32_t> overprovisioning_factor = std::nullopt);
  // A host of `cluster` changed health flags: rebuild its balancers over the healthy hosts.
  void onHostHealthChanged(std::string_view cluster);
  void addMemberUpdateCallback(std::string_view cluster, MemberUpdateCb cb);
  // The cluster's outlier detector (for /clusters); null without outlier_detection.
  const outlier::Detector* outlierDetector(std::string_view cluster) const;

 private:
  enum class Warming { Discovery, HealthCheck, Done };
  struct ClusterEntry {
    ClusterConstSharedPtr cluster;
    Warming warming = Warming::Done;
    // Kept out of the published map until warm (a cluster added after initialization).
    bool hidden = false;
    // Holds the init manager up while this cluster warms (startup only).
    std::unique_ptr<init::Target> init_target;
    std::vector<MemberUpdateCb> member_callbacks;
    ClusterDiscoveryPtr discovery;                        // DNS or EDS; none for STATIC
    std::shared_ptr<outlier::Detector> outlier_detector;  // from the proto's outlier_detection
    // From the cluster's health_checks (one at most); runs on this thread. Shared so what is
    // posted to it (a worker's immediate-fail report) holds it weakly and cannot outlive it.
    std::shared_ptr<HealthChecker> health_checker;
  };

  void startWarming(const std::string& name, ClusterEntry& entry);
  void onDiscoveryInitialized(const std::string& name);
  void onWarm(const std::string& name);
  void replace(const std::string& name, ClusterConstSharedPtr next);
  void schedulePublish();

  event::Dispatcher& dispatcher_;
  init::Manager* init_manager_ = nullptr;
  std::map<std::string, ClusterEntry, std::less<>> entries_;
  ClusterMapConstSharedPtr clusters_ = std::make_shared<ClusterMap>();
  Publisher publisher_;
  xds::SubscriptionFactoryContext* subscriptions_ = nullptr;
  bool publish_scheduled_ = false;
  xds::AdsMux* ads_mux_ = nullptr;
};

}  // namespace remora::upstream
