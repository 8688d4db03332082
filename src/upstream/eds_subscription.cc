#include "upstream/eds_subscription.h"

#include <google/protobuf/util/json_util.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/logger.h"
#include "config/json_value.h"
#include "config/pgv_validator.h"
#include "config/supported_fields.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "upstream/cluster_manager.h"
#include "upstream/load_assignment.h"
#include "xds/ads_mux.h"

namespace remora::upstream {

namespace {

using envoy::config::endpoint::v3::ClusterLoadAssignment;

bool endsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Status applyClusterLoadAssignment(ClusterManager& manager, const std::string& cluster,
                                  const ClusterLoadAssignment& cla) {
  RETURN_IF_ERROR(config::checkSupportedFields(cla));
  RETURN_IF_ERROR(config::validateMessage(cla));
  auto hosts = hostsFromLoadAssignment(cla);
  if (!hosts.ok()) return hosts.status();
  manager.updateHosts(cluster, std::move(hosts.value()), overprovisioningFactor(cla));
  return Status();
}

EdsFileSubscription::EdsFileSubscription(ClusterManager& manager, const Cluster& cluster,
                                         event::Dispatcher& dispatcher)
    : manager_(manager),
      cluster_name_(cluster.name()),
      resource_name_(cluster.proto().eds_cluster_config().service_name().empty()
                         ? cluster.name()
                         : cluster.proto().eds_cluster_config().service_name()),
      stats_(cluster.stats()),
      watcher_(dispatcher) {
  const auto& source = cluster.proto().eds_cluster_config().eds_config();
  std::string directory;
  bool any_entry = false;
  if (source.has_path_config_source()) {
    path_ = source.path_config_source().path();
    if (source.path_config_source().has_watched_directory()) {
      directory = source.path_config_source().watched_directory().path();
      any_entry = true;
    }
  } else {
    // The deprecated ConfigSource.path, which Envoy still accepts.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    path_ = source.path();
#pragma GCC diagnostic pop
  }
  if (directory.empty()) {
    directory = std::filesystem::path(path_).parent_path().string();
    if (directory.empty()) directory = ".";
  }
  const std::string file_name = std::filesystem::path(path_).filename().string();
  const bool watching = watcher_.addDirectory(
      directory, false, [this, any_entry, file_name](const std::string& name) {
        if (any_entry || name == file_name) reload();
      });
  if (!watching) LOG_WARN("eds: cluster {}: cannot watch {}", cluster_name_, directory);
  reload();
}

void EdsFileSubscription::reload() {
  stats_.update_attempt.inc();
  const Status status = load();
  if (!status.ok()) {
    LOG_WARN("eds: cluster {}: {} rejected: {}", cluster_name_, path_, status.message());
  }
  // Envoy's EDS cluster finishes warming on its first update, or on its first failure: a
  // missing or broken file must not hold the server in INITIALIZING.
  onInitialized();
}

Status EdsFileSubscription::load() {
  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    stats_.update_failure.inc();
    return Status::error("cannot read " + path_);
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  const bool yaml = endsWith(path_, ".yaml") || endsWith(path_, ".yml");
  auto tree = yaml ? config::yamlToValue(contents.str()) : config::jsonToValue(contents.str());
  envoy::service::discovery::v3::DiscoveryResponse response;
  if (tree.ok()) {
    auto parsed =
        google::protobuf::util::JsonStringToMessage(config::valueToJson(*tree), &response);
    if (!parsed.ok()) tree = Status::error(std::string(parsed.message()));
  }
  if (!tree.ok()) {
    stats_.update_rejected.inc();
    return tree.status();
  }
  for (const auto& resource : response.resources()) {
    ClusterLoadAssignment cla;
    if (!resource.UnpackTo(&cla)) {
      stats_.update_rejected.inc();
      return Status::error("a resource is not a ClusterLoadAssignment: " + resource.type_url());
    }
    if (cla.cluster_name() != resource_name_) continue;
    const Status applied = applyClusterLoadAssignment(manager_, cluster_name_, cla);
    if (!applied.ok()) {
      stats_.update_rejected.inc();
      return applied;
    }
    stats_.update_success.inc();
    return Status();
  }
  // Envoy keeps the hosts it has when an update lacks the cluster's assignment.
  stats_.update_empty.inc();
  return Status();
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
