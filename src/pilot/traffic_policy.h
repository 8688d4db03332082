#pragma once

// A DestinationRule's traffic policy for one cluster, merged as Istio merges it: the top-level
// policy, replaced wholesale by its portLevelSettings entry for the port; then a subset's
// loadBalancer/connectionPool/outlierDetection each replace the merged one; then the subset's own
// portLevelSettings entry replaces all three (port-level settings never inherit). Also the
// consistent hash a route to that cluster hashes on, chosen by Istio's (different) precedence.

#include <optional>
#include <string>

#include "envoy/config/route/v3/route_components.pb.h"
#include "pilot/model.h"
#include "pilot/sidecar_scope.h"

namespace remora::pilot {

// The policy of outbound|port|subset|host; `subset` empty for the subset-less cluster. Null `dr`
// gives the empty policy.
PolicySettings effectivePolicy(const DestinationRule* dr, uint32_t port, const std::string& subset);

// The hash for a VirtualService destination (Istio's hashForHTTPDestination): the subset's
// port-level hash, else the subset's, else the top-level port-level one, else the top-level one.
// Port-level entries count only when the destination names its port.
std::optional<ConsistentHash> destinationHash(const DestinationRule* dr, const std::string& subset,
                                              std::optional<uint32_t> port);
// The hash for a service's default route (no VirtualService): the port-level one, else the
// top-level one.
std::optional<ConsistentHash> serviceHash(const DestinationRule* dr, uint32_t port);

// Appends the route hash_policy for `hash` (header, cookie, source IP or query parameter).
void addHashPolicy(const ConsistentHash& hash, envoy::config::route::v3::RouteAction& action);

// The namespace and workload labels a proxy looks DestinationRules up with.
inline RuleScope ruleScope(const SidecarScope& scope) {
  return RuleScope{scope.proxyNamespace(), &scope.workloadLabels()};
}

// Route hooks: the hash_policy of a VirtualService destination (host resolved in `vs_ns`) and of
// a service's default route, with the DestinationRule the proxy (`scope`) applies. Return
// whether a policy was added.
bool addDestinationHashPolicy(const Model& model, const std::string& vs_ns, const Destination& d,
                              const RuleScope& scope,
                              envoy::config::route::v3::RouteAction& action);
bool addServiceHashPolicy(const Model& model, const ServiceView& service, const ServicePort& port,
                          const RuleScope& scope, envoy::config::route::v3::RouteAction& action);

}  // namespace remora::pilot
