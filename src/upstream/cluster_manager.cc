#include "upstream/cluster_manager.h"

#include "common/assert.h"
#include "common/logger.h"
#include "init/manager.h"
#include "upstream/health_checker.h"
#include "upstream/outlier_detection.h"

namespace remora::upstream {

ClusterManager::ClusterManager(event::Dispatcher& main_dispatcher) : dispatcher_(main_dispatcher) {}

ClusterManager::~ClusterManager() = default;

void ClusterManager::addCluster(ClusterConstSharedPtr cluster) {
  const std::string name = cluster->name();
  stats::Store& store = cluster->statsStore();
  auto& entry = entries_[name];
  // A new configuration (CDS) starts its sources afresh; the old ones stop reporting first.
  entry.discovery.reset();
  entry.health_checker.reset();
  entry.outlier_detector.reset();
  entry.member_callbacks.clear();
  entry.cluster = cluster;

  const bool needs_warming =
      cluster->type() == ClusterType::StrictDns || cluster->type() == ClusterType::LogicalDns ||
      cluster->type() == ClusterType::Eds || !cluster->proto().health_checks().empty();
  const bool initializing =
      init_manager_ != nullptr && init_manager_->state() != init::Manager::State::Initialized;
  const bool was_hidden = entry.hidden;
  entry.hidden = needs_warming && init_manager_ != nullptr && !initializing;
  auto& warming_gauge = store.gauge("cluster_manager.warming_clusters");
  if (entry.hidden != was_hidden) entry.hidden ? warming_gauge.inc() : warming_gauge.dec();
  entry.warming = needs_warming ? Warming::Discovery : Warming::Done;
  // The new target is registered before the one it replaces goes (and counts as ready), so a
  // cluster replaced while the server starts keeps holding it up.
  auto previous_target = std::move(entry.init_target);
  if (needs_warming && initializing) {
    entry.init_target = std::make_unique<init::Target>("cluster " + name, nullptr);
    init_manager_->add(*entry.init_target);
  }
  previous_target.reset();

  replace(name, cluster);
  // Attaches its monitors to the hosts now, before the publish posted above.
  if (cluster->proto().has_outlier_detection()) {
    auto config = outlier::DetectorConfig::create(cluster->proto().outlier_detection(), name);
    RELEASE_ASSERT(config.ok(), "outlier_detection is checked at load");
    entry.outlier_detector =
        outlier::Detector::create(*this, name, *config, cluster->statsStore(), dispatcher_);
  }
  if (!cluster->proto().health_checks().empty()) {
    entry.health_checker =
        createHealthChecker(dispatcher_, *this, cluster, cluster->proto().health_checks(0));
    entry.health_checker->start(cluster->hosts());
    // Workers report through every snapshot of this configuration, possibly after the cluster
    // was replaced: the post holds the checker weakly and finds it gone.
    std::weak_ptr<HealthChecker> weak_checker = entry.health_checker;
    cluster->setImmediateHealthCheckFailReporter([this, weak_checker](HostConstSharedPtr host) {
      dispatcher_.post([weak_checker, host = std::move(host)] {
        if (auto checker = weak_checker.lock()) checker->onImmediateFailFromTraffic(*host);
      });
    });
    addMemberUpdateCallback(name, [hc = entry.health_checker.get()](const HostVector& added,
                                                                    const HostVector& removed) {
      hc->onMembershipChange(added, removed);
    });
    if (entry.outlier_detector) {
      // successful_active_health_check_uneject_host: a passing check returns an ejected host.
      entry.health_checker->addHostCheckCompleteCb(
          [detector = entry.outlier_detector.get()](const Host& host) {
            if (!host.healthFlagGet(HealthFlag::FailedActiveHc)) {
              detector->onSuccessfulActiveHealthCheck(host);
            }
          });
    }
  }
  // Last: DNS or EDS may report hosts at once, and the health sources above hear of them.
  entry.discovery = createClusterDiscovery(*this, *cluster, dispatcher_, subscriptions_);
  if (entry.warming == Warming::Done) return;
  if (entry.discovery) {
    entry.discovery->whenInitialized([this, name] { onDiscoveryInitialized(name); });
  } else {
    onDiscoveryInitialized(name);
  }
}

std::set<std::string, std::less<>> ClusterManager::names() const {
  std::set<std::string, std::less<>> out;
  for (const auto& [name, entry] : entries_) out.insert(name);
  return out;
}

bool ClusterManager::isWarm(std::string_view name) const {
  auto it = entries_.find(name);
  return it != entries_.end() && it->second.warming == Warming::Done;
}

void ClusterManager::onDiscoveryInitialized(const std::string& name) {
  auto it = entries_.find(name);
  if (it == entries_.end() || it->second.warming != Warming::Discovery) return;
  ClusterEntry& entry = it->second;
  if (!entry.health_checker) {
    onWarm(name);
    return;
  }
  // Envoy waits for the hosts the first discovery produced to have been checked once.
  entry.warming = Warming::HealthCheck;
  entry.health_checker->whenFirstRoundDone([this, name] { onWarm(name); });
}

void ClusterManager::onWarm(const std::string& name) {
  auto it = entries_.find(name);
  if (it == entries_.end() || it->second.warming == Warming::Done) return;
  ClusterEntry& entry = it->second;
  entry.warming = Warming::Done;
  LOG_DEBUG("cluster {}: warm", name);
  if (entry.hidden) {
    entry.hidden = false;
    entry.cluster->statsStore().gauge("cluster_manager.warming_clusters").dec();
    replace(name, entry.cluster);
  }
  if (entry.init_target) entry.init_target->ready();
}

ClusterConstSharedPtr ClusterManager::get(std::string_view name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : it->second.cluster;
}

void ClusterManager::updateHosts(std::string_view name, HostVector hosts,
                                 std::optional<uint32_t> overprovisioning_factor) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  const Cluster& current = *it->second.cluster;
  // Keep the Host objects of continuing members: their health flags and stats are theirs.
  std::map<std::pair<std::string_view, uint32_t>, const HostConstSharedPtr*> existing;
  for (const auto& host : current.hosts()) {
    existing.emplace(std::pair{std::string_view(host->address_string), host->priority}, &host);
  }
  bool health_changed = false;
  const bool factor_changed =
      overprovisioning_factor && *overprovisioning_factor != current.overprovisioningFactor();
  HostVector added;
  HostVector next;
  next.reserve(hosts.size());
  for (auto& host : hosts) {
    auto found = existing.find({host->address_string, host->priority});
    if (found != existing.end() && (*found->second)->weight == host->weight &&
        (*found->second)->hostname == host->hostname &&
        (*found->second)->locality == host->locality &&
        (*found->second)->locality_weight == host->locality_weight) {
      const Host& kept = **found->second;
      for (HealthFlag flag : {HealthFlag::FailedEdsHealth, HealthFlag::DegradedEdsHealth}) {
        const bool set = host->healthFlagGet(flag);
        if (kept.healthFlagGet(flag) == set) continue;
        set ? kept.healthFlagSet(flag) : kept.healthFlagClear(flag);
        health_changed = true;
      }
      next.push_back(*found->second);
      existing.erase(found);
    } else {
      if (found != existing.end()) existing.erase(found);
      added.push_back(host);
      next.push_back(std::move(host));
    }
  }
  HostVector removed;
  for (const auto& [key, host] : existing) removed.push_back(*host);
  const bool membership_changed = !added.empty() || !removed.empty();
  if (!membership_changed && !health_changed && !factor_changed) return;

  if (membership_changed) current.stats().membership_change.inc();
  it->second.cluster = current.withHosts(
      std::move(next), overprovisioning_factor.value_or(current.overprovisioningFactor()));
  replace(it->first, it->second.cluster);
  if (!membership_changed) return;
  for (const auto& cb : it->second.member_callbacks) cb(added, removed);
}

void ClusterManager::onHostHealthChanged(std::string_view name) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  it->second.cluster = it->second.cluster->withHosts(it->second.cluster->hosts());
  replace(it->first, it->second.cluster);
}

const outlier::Detector* ClusterManager::outlierDetector(std::string_view name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : it->second.outlier_detector.get();
}

void ClusterManager::addMemberUpdateCallback(std::string_view name, MemberUpdateCb cb) {
  auto it = entries_.find(name);
  RELEASE_ASSERT(it != entries_.end(), "member callback for an unknown cluster");
  it->second.member_callbacks.push_back(std::move(cb));
}

bool ClusterManager::removeCluster(std::string_view name) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return false;
  if (it->second.hidden) {
    it->second.cluster->statsStore().gauge("cluster_manager.warming_clusters").dec();
  }
  entries_.erase(it);  // its discovery and health sources stop first (a warming target with them)
  auto map = std::make_shared<ClusterMap>(*clusters_);
  map->erase(std::string(name));
  clusters_ = std::move(map);
  schedulePublish();
  return true;
}

void ClusterManager::replace(const std::string& name, ClusterConstSharedPtr next) {
  auto entry = entries_.find(name);
  // A warming cluster reaches the workers when warm; what it replaces serves until then.
  if (entry != entries_.end() && entry->second.hidden) return;
  auto map = std::make_shared<ClusterMap>(*clusters_);
  (*map)[name] = next;
  clusters_ = std::move(map);
  schedulePublish();
}

void ClusterManager::schedulePublish() {
  if (publish_scheduled_ || !publisher_) return;
  publish_scheduled_ = true;
  // Posted to our own loop: every change made in this turn goes out in one map.
  dispatcher_.post([this] {
    publish_scheduled_ = false;
    publisher_(clusters_);
  });
}

}  // namespace remora::upstream
