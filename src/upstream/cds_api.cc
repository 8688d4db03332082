#include "upstream/cds_api.h"

#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>

#include <set>

#include "common/logger.h"
#include "config/load_and_validate.h"

namespace remora::upstream {

CdsApi::CdsApi(ClusterManager& clusters, stats::Store& stats, init::Manager& server_init)
    : clusters_(clusters), stats_(stats), init_target_("CDS", [this] {
        if (subscription_) subscription_->start({});
      }) {
  server_init.add(init_target_);
  stats_.counter("cluster_manager.cluster_modified");
  stats_.counter("cluster_manager.cluster_removed");
}

Status CdsApi::start(const envoy::config::core::v3::ConfigSource& source,
                     xds::SubscriptionFactoryContext& context) {
  auto subscription =
      xds::makeSubscription(source, xds::kClusterType, *this, context, "cluster_manager.cds.");
  if (!subscription.ok()) return subscription.status().withPrefix("dynamic_resources.cds_config");
  subscription_ = std::move(subscription).value();
  return Status();
}

Status CdsApi::onConfigUpdate(const std::vector<xds::DecodedResource>& resources,
                              const std::string& version_info) {
  std::set<std::string> named;
  for (const auto& resource : resources) {
    if (!named.insert(resource.name).second) {
      init_target_.ready();
      return Status::error("duplicate cluster " + resource.name + " found");
    }
  }
  std::vector<std::string> removed;
  for (const auto& [name, cluster] : api_clusters_) {
    if (named.count(name) == 0) removed.push_back(name);
  }
  return apply(resources, removed, version_info);
}

Status CdsApi::onConfigUpdate(const std::vector<xds::DecodedResource>& added,
                              const std::vector<std::string>& removed,
                              const std::string& system_version_info) {
  return apply(added, removed, system_version_info);
}

Status CdsApi::apply(const std::vector<xds::DecodedResource>& added,
                     const std::vector<std::string>& removed, const std::string& version) {
  system_version_info_ = version;  // processed, as Envoy's, even when a cluster is refused
  for (const auto& name : removed) {
    if (api_clusters_.erase(name) == 0) continue;
    clusters_.removeCluster(name);
    stats_.counter("cluster_manager.cluster_removed").inc();
    LOG_INFO("cds: removed cluster '{}'", name);
  }
  std::string errors;
  for (const auto& resource : added) {
    envoy::config::cluster::v3::Cluster proto;
    proto.CopyFrom(*resource.resource);
    Status status = config::validateResource(proto);
    const bool known = clusters_.get(proto.name()) != nullptr;
    auto api = api_clusters_.find(proto.name());
    if (status.ok() && known && api == api_clusters_.end()) {
      status = Status::error("cannot update static cluster " + proto.name());
    }
    if (!status.ok()) {
      LOG_WARN("cds: cluster '{}' rejected: {}", resource.name, status.message());
      if (!errors.empty()) errors += "\n";
      errors += status.message();
      continue;
    }
    if (api != api_clusters_.end() &&
        google::protobuf::util::MessageDifferencer::Equals(api->second.proto, proto)) {
      continue;  // unchanged: the cluster (its hosts, health, pools) stays as it is
    }
    clusters_.addCluster(std::make_shared<const Cluster>(proto, stats_));
    stats_.counter(known ? "cluster_manager.cluster_modified" : "cluster_manager.cluster_added")
        .inc();
    api_clusters_[proto.name()] =
        ApiCluster{proto, resource.version.empty() ? version : resource.version,
                   std::chrono::system_clock::now()};
  }
  stats_.gauge("cluster_manager.active_clusters")
      .set(static_cast<int64_t>(clusters_.clusters()->size()));
  init_target_.ready();
  if (!errors.empty()) return Status::error(errors);
  return Status();
}

void CdsApi::onConfigUpdateFailed(xds::UpdateFailureReason, const Status& error) {
  LOG_WARN("cds: {}", error.message());
  init_target_.ready();
}

void CdsApi::dump(envoy::admin::v3::ClustersConfigDump& out) const {
  out.set_version_info(system_version_info_);
  for (const auto& [name, cluster] : api_clusters_) {
    auto* dynamic = out.add_dynamic_active_clusters();
    dynamic->set_version_info(cluster.version);
    dynamic->mutable_cluster()->PackFrom(cluster.proto);
    *dynamic->mutable_last_updated() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
        std::chrono::duration_cast<std::chrono::nanoseconds>(
            cluster.last_updated.time_since_epoch())
            .count());
  }
}

}  // namespace remora::upstream
