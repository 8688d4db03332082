#include "upstream/cluster_manager.h"

#include "common/assert.h"
#include "init/manager.h"
#include "upstream/health_checker.h"
#include "upstream/outlier_detection.h"

namespace remora::upstream {

ClusterManager::ClusterManager(event::Dispatcher& main_dispatcher) : dispatcher_(main_dispatcher) {}

ClusterManager::~ClusterManager() = default;

void ClusterManager::addCluster(ClusterConstSharedPtr cluster) {
  const std::string name = cluster->name();
  auto& entry = entries_[name];
  // A new configuration (CDS) starts its sources afresh; the old ones stop reporting first.
  entry.discovery.reset();
  entry.health_checker.reset();
  entry.outlier_detector.reset();
  entry.member_callbacks.clear();
  entry.cluster = cluster;
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
    cluster->setImmediateHealthCheckFailReporter(
        [this, hc = entry.health_checker.get()](HostConstSharedPtr host) {
          dispatcher_.post([hc, host = std::move(host)] { hc->onImmediateFailFromTraffic(*host); });
        });
    addMemberUpdateCallback(name, [hc = entry.health_checker.get()](const HostVector& added,
                                                                    const HostVector& removed) {
      hc->onMembershipChange(added, removed);
    });
  }
  // Last: DNS or EDS may report hosts at once, and the health sources above hear of them.
  entry.discovery = createClusterDiscovery(*this, *cluster, dispatcher_, subscriptions_);
  if (entry.discovery != nullptr && init_manager_ != nullptr) {
    if (init::Target* target = entry.discovery->initTarget()) init_manager_->add(*target);
  }
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
      const bool eds_unhealthy = host->healthFlagGet(HealthFlag::FailedEdsHealth);
      if (kept.healthFlagGet(HealthFlag::FailedEdsHealth) != eds_unhealthy) {
        eds_unhealthy ? kept.healthFlagSet(HealthFlag::FailedEdsHealth)
                      : kept.healthFlagClear(HealthFlag::FailedEdsHealth);
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

void ClusterManager::addMemberUpdateCallback(std::string_view name, MemberUpdateCb cb) {
  auto it = entries_.find(name);
  RELEASE_ASSERT(it != entries_.end(), "member callback for an unknown cluster");
  it->second.member_callbacks.push_back(std::move(cb));
}

bool ClusterManager::removeCluster(std::string_view name) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return false;
  entries_.erase(it);  // its discovery and health sources stop first
  auto map = std::make_shared<ClusterMap>(*clusters_);
  map->erase(std::string(name));
  clusters_ = std::move(map);
  schedulePublish();
  return true;
}

void ClusterManager::replace(const std::string& name, ClusterConstSharedPtr next) {
  auto map = std::make_shared<ClusterMap>(*clusters_);
  (*map)[name] = std::move(next);
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
