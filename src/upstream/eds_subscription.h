#pragma once

#include <string>

#include "common/status.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "init/target.h"
#include "upstream/cluster_discovery.h"
#include "xds/subscription.h"
#include "xds/subscription_factory.h"

namespace remora::xds {
class AdsMux;
}

namespace remora::upstream {

// Installs an EDS ClusterLoadAssignment as `cluster`'s membership: validated (fields remora
// honours, protoc-gen-validate rules, IP endpoints), its hosts with their EDS health, weights,
// priorities and localities, and its overprovisioning factor. Every EDS source comes through
// here. An error leaves the cluster as it was.
Status applyClusterLoadAssignment(ClusterManager& manager, const std::string& cluster,
                                  const envoy::config::endpoint::v3::ClusterLoadAssignment& cla);

// An EDS cluster's membership from its eds_config, through whatever subscription the config
// source makes (xds/subscription_factory.h: a watched file, ADS): it asks for the assignment
// named by eds_cluster_config.service_name (default: the cluster's name) and applies it. A
// response that does not validate is refused (update_rejected, the previous membership kept);
// one without the cluster's assignment keeps the hosts too (update_empty), as Envoy's.
class EdsSubscription final : public ClusterDiscovery, public xds::SubscriptionCallbacks {
 public:
  EdsSubscription(ClusterManager& manager, const Cluster& cluster,
                  xds::SubscriptionFactoryContext& context);

  Status onConfigUpdate(const std::vector<xds::DecodedResource>& resources,
                        const std::string& version_info) override;
  Status onConfigUpdate(const std::vector<xds::DecodedResource>& added,
                        const std::vector<std::string>& removed,
                        const std::string& system_version_info) override;
  void onConfigUpdateFailed(xds::UpdateFailureReason reason, const Status& error) override;

 private:
  ClusterManager& manager_;
  const std::string cluster_name_;
  const std::string resource_name_;
  ClusterStats& stats_;
  xds::SubscriptionPtr subscription_;
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
