#pragma once

// One service port's virtual host: the routes of the VirtualService for its host (matches,
// weighted subsets, redirect, rewrite, timeout, retries, fault, mirror, header edits), or the
// default route to outbound|<port>||<fqdn>. Shared by sidecar route configs and proxyless gRPC.

#include <string>
#include <vector>

#include "envoy/config/route/v3/route_components.pb.h"
#include "pilot/model.h"

namespace remora::pilot {

struct RouteOptions {
  // Proxyless gRPC clients get no default retry policy or disabled timeout: they apply only what
  // a VirtualService says.
  bool grpc_client = false;
  // Which DestinationRule (and so which consistent hash) applies for the proxy.
  RuleScope rules;
};

envoy::config::route::v3::VirtualHost buildVirtualHost(const Model& model,
                                                       const ServiceView& service,
                                                       const ServicePort& port,
                                                       std::vector<std::string> domains,
                                                       const RouteOptions& options);

}  // namespace remora::pilot
