#include "upstream/eds_subscription.h"

#include "common/logger.h"
#include "config/pgv_validator.h"
#include "config/supported_fields.h"
#include "upstream/cluster_manager.h"
#include "upstream/load_assignment.h"

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
    return applyClusterLoadAssignment(
        manager_, cluster_name_, static_cast<const ClusterLoadAssignment&>(*resource.resource));
  }
  // Envoy keeps the hosts it has when an update lacks the cluster's assignment.
  stats_.update_empty.inc();
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
}

}  // namespace remora::upstream
