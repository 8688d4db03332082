#pragma once

#include <string>

#include "common/file_watcher.h"
#include "common/status.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "init/target.h"
#include "upstream/cluster_discovery.h"
#include "xds/subscription.h"

namespace remora::xds {
class AdsMux;
}

namespace remora::upstream {

// Installs an EDS ClusterLoadAssignment as `cluster`'s membership: validated (fields remora
// honours, protoc-gen-validate rules, IP endpoints), its hosts with their EDS health, weights,
// priorities and localities, and its overprovisioning factor. Every EDS source (the file below,
// an ADS stream later) comes through here. An error leaves the cluster as it was.
Status applyClusterLoadAssignment(ClusterManager& manager, const std::string& cluster,
                                  const envoy::config::endpoint::v3::ClusterLoadAssignment& cla);

// An EDS cluster fed from a file (eds_config.path_config_source, or the deprecated
// eds_config.path), as Envoy's filesystem subscription: the file holds a DiscoveryResponse
// (YAML for .yaml/.yml, JSON otherwise) whose resources are ClusterLoadAssignments; the one
// named by eds_cluster_config.service_name (default: the cluster's name) is applied. The file is
// read at start and again whenever it is moved into place (`mv`, an atomic replace) — the
// directory is watched, so the rename is seen — or, with watched_directory, whenever anything
// is moved into that directory. A file that does not parse or validate is rejected and the
// previous membership kept (update_rejected), as is one without the cluster's resource
// (update_empty).
class EdsFileSubscription final : public ClusterDiscovery {
 public:
  EdsFileSubscription(ClusterManager& manager, const Cluster& cluster,
                      event::Dispatcher& dispatcher);

 private:
  void reload();
  Status load();

  ClusterManager& manager_;
  const std::string cluster_name_;
  const std::string resource_name_;
  std::string path_;
  ClusterStats& stats_;
  FileWatcher watcher_;
};

// An EDS cluster fed over the ADS stream (eds_config { ads: {} }), as Envoy's EdsClusterImpl on a
// gRPC subscription: subscribes to the ClusterLoadAssignment named by service_name (default: the
// cluster's name) and applies each one received; one that does not validate is refused (a NACK
// carrying the reason) and the cluster keeps its hosts. The cluster warms until the first
// assignment arrives, is refused, or initial_fetch_timeout passes. A delta removal of the
// assignment empties the cluster, as Envoy.
class EdsAdsSubscription final : public ClusterDiscovery, public xds::SubscriptionCallbacks {
 public:
  EdsAdsSubscription(ClusterManager& manager, const Cluster& cluster, xds::AdsMux& mux);

  // xds::SubscriptionCallbacks
  Status onConfigUpdate(const std::vector<xds::DecodedResource>& resources,
                        const std::string& version_info) override;
  Status onConfigUpdate(const std::vector<xds::DecodedResource>& added,
                        const std::vector<std::string>& removed,
                        const std::string& system_version_info) override;
  void onConfigUpdateFailed(xds::UpdateFailureReason reason, const Status& error) override;

 private:
  Status apply(const xds::DecodedResource& resource);

  ClusterManager& manager_;
  const std::string cluster_name_;
  const std::string resource_name_;
  xds::SubscriptionPtr subscription_;
};

}  // namespace remora::upstream
