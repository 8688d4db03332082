#include "upstream/eds_subscription.h"

#include "common/logger.h"
#include "config/pgv_validator.h"
#include "config/supported_fields.h"
#include "upstream/cluster_manager.h"
#include "upstream/load_assignment.h"
#include "xds/ads_mux.h"

namespace remora::upstream {

using envoy::config::endpoint::v3::ClusterLoadAssignment;

Status applyClusterLoadAssignment(ClusterManager& manager, const std::string& cluster,
                                  const ClusterLoadAssignment& cla) {
  RETURN_IF_ERROR(config::checkSupportedFields(cla));
  RETURN_IF_ERROR(config::validateMessage(cla));
  auto hosts = hostsFromLoadAssignment(cla);
  if (!hosts.ok()) return hosts.status();
  manager.updateHosts(cluster, std::move(hosts.value()), overprovisioningFactor(cla));
  return Status();
}

EdsSubscription::EdsSubscription(ClusterManager& manager, const Cluster& cluster,
                                 xds::SubscriptionFactoryContext& context)
    : manager_(manager),
      cluster_name_(cluster.name()),
      resource_name_(cluster.proto().eds_cluster_config().service_name().empty()
                         ? cluster.name()
                         : cluster.proto().eds_cluster_config().service_name()),
      stats_(cluster.stats()) {
  auto subscription = xds::makeSubscription(cluster.proto().eds_cluster_config().eds_config(),
                                            xds::kClusterLoadAssignmentType, *this, context,
                                            "cluster." + cluster_name_ + ".");
  if (!subscription.ok()) {
    // Checked when the cluster was loaded; a source that cannot be made leaves it empty.
    LOG_ERROR("eds: cluster {}: {}", cluster_name_, subscription.status().message());
    return;
  }
  subscription_ = std::move(subscription).value();
  subscription_->start({resource_name_});
}

Status EdsSubscription::onConfigUpdate(const std::vector<xds::DecodedResource>& resources,
                                       const std::string&) {
  for (const auto& resource : resources) {
    if (resource.name != resource_name_) continue;
    const Status status = applyClusterLoadAssignment(
        manager_, cluster_name_, static_cast<const ClusterLoadAssignment&>(*resource.resource));
    onInitialized();
    return status;
  }
  // Envoy keeps the hosts it has when an update lacks the cluster's assignment.
  stats_.update_empty.inc();
  onInitialized();
  return Status();
}

Status EdsSubscription::onConfigUpdate(const std::vector<xds::DecodedResource>& added,
                                       const std::vector<std::string>&,
                                       const std::string& version) {
  // A removed assignment keeps the hosts as an empty SotW update does.
  return onConfigUpdate(added, version);
}

void EdsSubscription::onConfigUpdateFailed(xds::UpdateFailureReason, const Status& error) {
  LOG_WARN("eds: cluster {}: {}", cluster_name_, error.message());
  // Envoy's EDS cluster finishes warming on its first update, or on its first failure: a
  // missing or broken file must not hold the server in INITIALIZING.
  onInitialized();
}

}  // namespace remora::upstream

namespace remora::upstream {

EdsAdsSubscription::EdsAdsSubscription(ClusterManager& manager, const Cluster& cluster,
                                       xds::AdsMux& mux)
    : manager_(manager),
      cluster_name_(cluster.name()),
      resource_name_(cluster.proto().eds_cluster_config().service_name().empty()
                         ? cluster.name()
                         : cluster.proto().eds_cluster_config().service_name()) {
  subscription_ =
      mux.subscribe(xds::kClusterLoadAssignmentType, *this,
                    xds::initialFetchTimeout(cluster.proto().eds_cluster_config().eds_config()),
                    xds::SubscriptionStats(cluster.statsStore(), "cluster." + cluster_name_ + "."));
  subscription_->start({resource_name_});
}

Status EdsAdsSubscription::apply(const xds::DecodedResource& resource) {
  const auto* cla = dynamic_cast<const ClusterLoadAssignment*>(resource.resource.get());
  if (cla == nullptr) return Status::error("not a ClusterLoadAssignment");
  Status status = applyClusterLoadAssignment(manager_, cluster_name_, *cla);
  if (!status.ok()) {
    status = status.withPrefix("cluster '" + cluster_name_ + "' ClusterLoadAssignment");
  }
  return status;
}

Status EdsAdsSubscription::onConfigUpdate(const std::vector<xds::DecodedResource>& resources,
                                          const std::string&) {
  Status status;
  for (const auto& resource : resources) {
    if (resource.name == resource_name_) status = apply(resource);
  }
  onInitialized();
  return status;
}

Status EdsAdsSubscription::onConfigUpdate(const std::vector<xds::DecodedResource>& added,
                                          const std::vector<std::string>& removed,
                                          const std::string&) {
  Status status;
  for (const auto& name : removed) {
    if (name == resource_name_) manager_.updateHosts(cluster_name_, {});
  }
  for (const auto& resource : added) {
    if (resource.name == resource_name_) status = apply(resource);
  }
  onInitialized();
  return status;
}

void EdsAdsSubscription::onConfigUpdateFailed(xds::UpdateFailureReason reason,
                                              const Status& error) {
  if (reason == xds::UpdateFailureReason::FetchTimedOut) {
    LOG_WARN("eds: cluster {}: no assignment within initial_fetch_timeout; serving without it",
             cluster_name_);
  } else {
    LOG_WARN("eds: cluster {}: {}", cluster_name_, error.message());
  }
  // Warming ends either way: the cluster serves what it has (Envoy's onConfigUpdateFailed).
  onInitialized();
}

}  // namespace remora::upstream
