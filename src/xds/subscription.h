#pragma once

#include <google/protobuf/message.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace remora::xds {

// The contract between where configuration comes from (a watched file, an ADS stream, later an
// xDS-over-REST poll) and what it configures (the listener manager, route providers, the cluster
// manager, EDS clusters), as Envoy's Config::Subscription. Sources decode and type-check each
// resource; consumers validate and apply it. Everything runs on the main thread.

// One resource as delivered: a name, the version the server gave it (Delta) or the response's
// version (SotW), and the decoded message (of the subscription's type).
struct DecodedResource {
  std::string name;
  std::string version;
  std::shared_ptr<const google::protobuf::Message> resource;
};

enum class UpdateFailureReason {
  ConnectionFailure,  // the stream to the server failed or could not be made
  FetchTimedOut,      // initial_fetch_timeout passed before the first response
  UpdateRejected,     // the consumer refused the update (it was NACKed)
};

class SubscriptionCallbacks {
 public:
  virtual ~SubscriptionCallbacks() = default;

  // State of the World: `resources` is the whole set the consumer should now have; anything it
  // had that is not here is removed. An error status rejects the whole update (a NACK whose
  // error_detail is the message) and the consumer keeps its previous config.
  virtual Status onConfigUpdate(const std::vector<DecodedResource>& resources,
                                const std::string& version_info) = 0;
  // Delta: `added` are new or changed resources, `removed` names resources to drop.
  virtual Status onConfigUpdate(const std::vector<DecodedResource>& added,
                                const std::vector<std::string>& removed,
                                const std::string& system_version_info) = 0;
  // No update arrived or it was refused; consumers that are warming stop waiting (Envoy's
  // initial_fetch_timeout semantics) and keep serving what they have.
  virtual void onConfigUpdateFailed(UpdateFailureReason reason, const Status& error) = 0;
};

// One subscription to one resource type (type_url) from one config source.
class Subscription {
 public:
  virtual ~Subscription() = default;
  // Begins fetching; an empty set means every resource of the type (wildcard, as LDS and CDS).
  virtual void start(const std::set<std::string>& resource_names) = 0;
  // Changes which resources are wanted (EDS and RDS names follow the clusters and listeners).
  virtual void updateResourceInterest(const std::set<std::string>& resource_names) = 0;
};

using SubscriptionPtr = std::unique_ptr<Subscription>;

// The type URLs remora subscribes to.
inline constexpr char kListenerType[] = "type.googleapis.com/envoy.config.listener.v3.Listener";
inline constexpr char kRouteConfigurationType[] =
    "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
inline constexpr char kClusterType[] = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
inline constexpr char kClusterLoadAssignmentType[] =
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
inline constexpr char kSecretType[] =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

}  // namespace remora::xds
