#pragma once

// The routes a proxy applies for one host, from every VirtualService exported to it: several
// VirtualServices for a host are merged by concatenating their routes, oldest first (Istio's
// creation order, then namespace/name), and an http route with `delegate` is replaced by the
// delegate VirtualService's routes, each narrowed by the delegating route's matches (Istio's
// merge: root match ∧ delegate match; a delegate match no root match contains makes that
// delegate route not match at all).

#include <string>
#include <vector>

#include "pilot/model.h"
#include "pilot/sidecar_scope.h"

namespace remora::pilot {

// A route with the VirtualService it came from (destinations resolve in that one's namespace).
struct BoundHttpRoute {
  HttpRoute route;
  const VirtualService* vs = nullptr;
};
struct BoundL4Route {
  const L4Route* route = nullptr;
  const VirtualService* vs = nullptr;
};

std::vector<BoundHttpRoute> mergedHttpRoutes(const Model& model, const SidecarScope& scope,
                                             const std::string& fqdn);
// The `tcp` (tls = false) or `tls` routes for a host.
std::vector<BoundL4Route> mergedL4Routes(const Model& model, const SidecarScope& scope,
                                         const std::string& fqdn, bool tls);

// Istio's mergeHTTPMatchRequests: the matches of a delegate route under a root route's; nullopt
// when they conflict (the delegate route then does not apply).
std::optional<std::vector<HttpMatch>> mergeMatches(const std::vector<HttpMatch>& root,
                                                   const std::vector<HttpMatch>& delegate);

}  // namespace remora::pilot
