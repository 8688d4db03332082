#pragma once

// One service port's virtual host: the routes of the VirtualServices for its host as the proxy's
// scope sees them, merged and with delegates expanded (vs_merge.h; matches, weighted subsets,
// redirect, rewrite, timeout, retries, fault, mirror, header edits; a match whose port or
// sourceLabels exclude this port or proxy is left out), or the default route to
// outbound|<port>||<fqdn>. Shared by sidecar route configs and proxyless gRPC.

#include <string>
#include <vector>

#include "envoy/config/route/v3/route_components.pb.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"
#include "pilot/model.h"
#include "pilot/sidecar_scope.h"

namespace remora::pilot {

struct RouteOptions {
  // Proxyless gRPC clients get no default retry policy or disabled timeout: they apply only what
  // a VirtualService says.
  bool grpc_client = false;
};

envoy::config::route::v3::VirtualHost buildVirtualHost(
    const Model& model, const SidecarScope& scope, const ServiceView& service,
    const ServicePort& port, std::vector<std::string> domains, const RouteOptions& options);

// outbound|<port>|<subset>|<fqdn> for a destination named in VirtualService `vs` and used on
// service port `port` (a destination without a port on a one-port service takes that port).
std::string destinationCluster(const Model& model, const VirtualService& vs, const Destination& d,
                               uint32_t port);

// A tcp_proxy to a route's destinations: one cluster, or weighted_clusters for several.
envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy tcpProxyTo(
    const Model& model, const VirtualService& vs, const std::vector<RouteDestination>& route,
    uint32_t port, const std::string& stat_prefix);

}  // namespace remora::pilot
