// LDS and RDS for proxyless gRPC clients (node metadata GENERATOR: grpc), as Istio's grpc
// generator: an api_listener Listener `<fqdn>:<port>` per service port whose connection manager
// points at RDS `outbound|<port>||<fqdn>`. Clusters and endpoints are the sidecar ones.

#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/http/fault/v3/fault.pb.h"
#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "pilot/generator.h"
#include "pilot/route_builder.h"
#include "pilot/sidecar_scope.h"

namespace remora::pilot {

void generateGrpcListeners(const Model& model, const Proxy& proxy, Resources& out) {
  using envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
  const SidecarScope scope(model, proxy);
  for (const auto& service : model.services()) {
    if (!scope.visible(service)) continue;
    for (const auto& port : service.ports) {
      envoy::config::listener::v3::Listener l;
      l.set_name(service.fqdn + ":" + std::to_string(port.port));
      HttpConnectionManager hcm;
      hcm.set_stat_prefix(l.name());
      auto* rds = hcm.mutable_rds();
      rds->set_route_config_name(outboundCluster(port.port, "", service.fqdn));
      rds->mutable_config_source()->mutable_ads();
      rds->mutable_config_source()->set_resource_api_version(envoy::config::core::v3::V3);
      auto* fault = hcm.add_http_filters();
      fault->set_name("envoy.filters.http.fault");
      fault->mutable_typed_config()->PackFrom(
          envoy::extensions::filters::http::fault::v3::HTTPFault());
      auto* router = hcm.add_http_filters();
      router->set_name("envoy.filters.http.router");
      router->mutable_typed_config()->PackFrom(
          envoy::extensions::filters::http::router::v3::Router());
      l.mutable_api_listener()->mutable_api_listener()->PackFrom(hcm);
      out[l.name()].PackFrom(l);
    }
  }
}

void generateGrpcRoutes(const Model& model, const Proxy& proxy, Resources& out) {
  const SidecarScope scope(model, proxy);
  for (const auto& service : model.services()) {
    if (!scope.visible(service)) continue;
    for (const auto& port : service.ports) {
      envoy::config::route::v3::RouteConfiguration rc;
      rc.set_name(outboundCluster(port.port, "", service.fqdn));
      const std::string p = ":" + std::to_string(port.port);
      std::vector<std::string> domains{service.fqdn, service.fqdn + p};
      if (!service.from_service_entry) {
        domains.push_back(service.name + "." + service.ns);
        domains.push_back(service.name + "." + service.ns + p);
        if (service.ns == proxy.ns) {
          domains.push_back(service.name);
          domains.push_back(service.name + p);
        }
      }
      *rc.add_virtual_hosts() =
          buildVirtualHost(model, scope, service, port, domains, RouteOptions{.grpc_client = true});
      out[rc.name()].PackFrom(rc);
    }
  }
}

}  // namespace remora::pilot
