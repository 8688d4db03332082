#pragma once

#include <chrono>
#include <map>
#include <string>

#include "envoy/admin/v3/config_dump_shared.pb.h"
#include "envoy/config/core/v3/config_source.pb.h"
#include "init/manager.h"
#include "stats/store.h"
#include "upstream/cluster_manager.h"
#include "xds/subscription_factory.h"

namespace remora::upstream {

// CDS (dynamic_resources.cds_config), as Envoy's CdsApi: subscribes to every Cluster and adds,
// updates (a changed proto builds a new cluster) or removes them in the ClusterManager. A
// State-of-the-World response is the whole set: clusters CDS added that it no longer names are
// removed; static clusters cannot be replaced. Clusters that do not validate are reported
// together as the NACK's error_detail and the others applied, as in Envoy. The server's init
// waits for the first response. Stats: cluster_manager.cds.*, cluster_manager.cluster_added /
// cluster_modified / cluster_removed, the active_clusters gauge.
class CdsApi final : public xds::SubscriptionCallbacks {
 public:
  CdsApi(ClusterManager& clusters, stats::Store& stats, init::Manager& server_init);
  Status start(const envoy::config::core::v3::ConfigSource& source,
               xds::SubscriptionFactoryContext& context);

  Status onConfigUpdate(const std::vector<xds::DecodedResource>& resources,
                        const std::string& version_info) override;
  Status onConfigUpdate(const std::vector<xds::DecodedResource>& added,
                        const std::vector<std::string>& removed,
                        const std::string& system_version_info) override;
  void onConfigUpdateFailed(xds::UpdateFailureReason reason, const Status& error) override;

  bool addedViaApi(const std::string& name) const { return api_clusters_.count(name) > 0; }
  // version_info (of the last CDS response processed) and dynamic_active_clusters, with each
  // one's version and when it was last updated.
  void dump(envoy::admin::v3::ClustersConfigDump& out) const;

 private:
  struct ApiCluster {
    envoy::config::cluster::v3::Cluster proto;
    std::string version;
    std::chrono::system_clock::time_point last_updated;
  };
  Status apply(const std::vector<xds::DecodedResource>& added,
               const std::vector<std::string>& removed, const std::string& version);

  ClusterManager& clusters_;
  stats::Store& stats_;
  init::Target init_target_;
  xds::SubscriptionPtr subscription_;
  std::map<std::string, ApiCluster> api_clusters_;
  std::string system_version_info_;
};

}  // namespace remora::upstream
