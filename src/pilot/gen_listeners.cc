// LDS and RDS for sidecars: virtualOutbound (15001), virtualInbound (15006), one outbound listener
// per service port the proxy's scope lets it see (HTTP ports share `0.0.0.0_<port>` with RDS route
// `<port>`; TCP ports get `<vip>_<port>` with tcp_proxy, one filter chain per VirtualService `tls`
// route (server_names, behind tls_inspector) and `tcp` route (destination subnets), then the
// service's own cluster), and the route configs those listeners name.

#include <optional>
#include <set>

#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/http/cors/v3/cors.pb.h"
#include "envoy/extensions/filters/http/fault/v3/fault.pb.h"
#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/listener/original_dst/v3/original_dst.pb.h"
#include "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"
#include "pilot/generator.h"
#include "pilot/inbound.h"
#include "pilot/route_builder.h"
#include "pilot/sidecar_scope.h"
#include "pilot/traffic_policy.h"
#include "pilot/vs_merge.h"

namespace remora::pilot {
namespace {

using envoy::config::listener::v3::FilterChain;
using envoy::config::listener::v3::Listener;
using envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;

constexpr uint32_t kOutboundCapturePort = 15001;
constexpr uint32_t kInboundCapturePort = 15006;

void setAddress(Listener& l, const std::string& ip, uint32_t port) {
  auto* socket = l.mutable_address()->mutable_socket_address();
  socket->set_address(ip);
  socket->set_port_value(port);
}

void addTcpProxy(FilterChain& chain,
                 const envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy& tcp) {
  auto* filter = chain.add_filters();
  filter->set_name("envoy.filters.network.tcp_proxy");
  filter->mutable_typed_config()->PackFrom(tcp);
}

void addTcpProxy(FilterChain& chain, const std::string& cluster,
                 std::optional<uint64_t> idle_timeout_ms = std::nullopt) {
  envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy tcp;
  tcp.set_stat_prefix(cluster);
  tcp.set_cluster(cluster);
  if (idle_timeout_ms) {
    tcp.mutable_idle_timeout()->set_seconds(static_cast<int64_t>(*idle_timeout_ms / 1000));
    tcp.mutable_idle_timeout()->set_nanos(static_cast<int32_t>(*idle_timeout_ms % 1000 * 1000000));
  }
  addTcpProxy(chain, tcp);
}

// Istio gives an outbound tcp_proxy the idle timeout of the DestinationRule's top-level
// connectionPool.tcp (port-level and subset settings do not reach the listener).
std::optional<uint64_t> tcpIdleTimeout(const DestinationRule* dr) {
  if (dr == nullptr || !dr->traffic_policy || !dr->traffic_policy->connection_pool)
    return std::nullopt;
  return dr->traffic_policy->connection_pool->tcp_idle_timeout_ms;
}

// "10.0.0.0/8" (or a bare address, /32 or /128) as a CidrRange.
void addPrefixRange(envoy::config::listener::v3::FilterChainMatch& match, const std::string& cidr) {
  auto* range = match.add_prefix_ranges();
  auto slash = cidr.find('/');
  range->set_address_prefix(cidr.substr(0, slash));
  uint32_t len = cidr.find(':') != std::string::npos ? 128 : 32;
  if (slash != std::string::npos) len = static_cast<uint32_t>(std::stoul(cidr.substr(slash + 1)));
  range->mutable_prefix_len()->set_value(len);
}

// A TCP service port's listener: a filter chain per applicable `tls` route match (SNI) and `tcp`
// route match (destination subnets), in order, as Istio builds them; the first chain without a
// match condition catches the rest, else the service's own cluster does.
Listener tcpListener(const Model& model, const SidecarScope& scope, const ServiceView& service,
                     const ServicePort& port) {
  Listener l;
  l.set_name(service.vip + "_" + std::to_string(port.port));
  setAddress(l, service.vip, port.port);
  l.mutable_bind_to_port()->set_value(false);
  l.set_traffic_direction(envoy::config::core::v3::OUTBOUND);
  const std::string own = outboundCluster(port.port, "", service.fqdn);
  std::set<std::string> seen;  // identical filter_chain_matches are an error in the proxy
  bool catch_all = false, sni = false;
  auto applies = [&](const L4Match& m) {
    return (!m.port || *m.port == port.port) && scope.selects(m.source_labels);
  };
  auto addChain = [&](const BoundL4Route& r, const L4Match* m) {
    envoy::config::listener::v3::FilterChainMatch match;
    if (m != nullptr) {
      for (const auto& host : m->sni_hosts) match.add_server_names(host);
      for (const auto& cidr : m->destination_subnets) addPrefixRange(match, cidr);
    }
    if (!seen.insert(match.SerializeAsString()).second) return;
    auto* chain = l.add_filter_chains();
    if (match.server_names_size() > 0) sni = true;
    if (match.server_names_size() == 0 && match.prefix_ranges_size() == 0)
      catch_all = true;
    else
      *chain->mutable_filter_chain_match() = match;
    addTcpProxy(*chain, tcpProxyTo(model, *r.vs, r.route->route, port.port, own));
  };
  for (bool tls : {true, false}) {
    for (const auto& r : mergedL4Routes(model, scope, service.fqdn, tls)) {
      if (catch_all) break;
      if (r.route->match.empty()) {
        addChain(r, nullptr);
        continue;
      }
      for (const auto& m : r.route->match)
        if (applies(m) && !catch_all) addChain(r, &m);
    }
  }
  if (!catch_all)
    addTcpProxy(*l.add_filter_chains(), own,
                tcpIdleTimeout(model.destinationRule(service.fqdn, ruleScope(scope))));
  if (sni) {
    auto* inspector = l.add_listener_filters();
    inspector->set_name("envoy.filters.listener.tls_inspector");
    inspector->mutable_typed_config()->PackFrom(
        envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector());
  }
  return l;
}

// The connection manager's HTTP filters, in Istio's order: cors and fault (both driven per route)
// then router.
void addHttpFilters(HttpConnectionManager& hcm, bool outbound) {
  if (outbound) {
    auto* cors = hcm.add_http_filters();
    cors->set_name("envoy.filters.http.cors");
    cors->mutable_typed_config()->PackFrom(envoy::extensions::filters::http::cors::v3::Cors());
    auto* f = hcm.add_http_filters();
    f->set_name("envoy.filters.http.fault");
    f->mutable_typed_config()->PackFrom(envoy::extensions::filters::http::fault::v3::HTTPFault());
  }
  auto* router = hcm.add_http_filters();
  router->set_name("envoy.filters.http.router");
  router->mutable_typed_config()->PackFrom(envoy::extensions::filters::http::router::v3::Router());
}

void addHcm(FilterChain& chain, const HttpConnectionManager& hcm) {
  auto* filter = chain.add_filters();
  filter->set_name("envoy.filters.network.http_connection_manager");
  filter->mutable_typed_config()->PackFrom(hcm);
}

// Unknown destinations pass through, or under REGISTRY_ONLY go nowhere (Istio's names).
Listener virtualOutbound(const SidecarScope& scope) {
  Listener l;
  l.set_name("virtualOutbound");
  setAddress(l, "0.0.0.0", kOutboundCapturePort);
  l.mutable_use_original_dst()->set_value(true);
  l.set_traffic_direction(envoy::config::core::v3::OUTBOUND);
  auto* chain = l.add_filter_chains();
  if (scope.registryOnly()) {
    chain->set_name("virtualOutbound-blackhole");
    addTcpProxy(*chain, "BlackHoleCluster");
  } else {
    chain->set_name("virtualOutbound-catchall-tcp");
    addTcpProxy(*chain, "PassthroughCluster");
  }
  return l;
}

Listener virtualInbound(const Model& model, const Proxy& proxy) {
  Listener l;
  l.set_name("virtualInbound");
  setAddress(l, "0.0.0.0", kInboundCapturePort);
  l.set_traffic_direction(envoy::config::core::v3::INBOUND);
  auto* original_dst = l.add_listener_filters();
  original_dst->set_name("envoy.filters.listener.original_dst");
  original_dst->mutable_typed_config()->PackFrom(
      envoy::extensions::filters::listener::original_dst::v3::OriginalDst());
  for (const auto& in : inboundPorts(model, proxy)) {
    auto* chain = l.add_filter_chains();
    const std::string cluster = inboundCluster(in.port);
    chain->set_name(cluster);
    chain->mutable_filter_chain_match()->mutable_destination_port()->set_value(in.port);
    if (!in.http) {
      addTcpProxy(*chain, cluster);
      continue;
    }
    HttpConnectionManager hcm;
    hcm.set_stat_prefix("inbound_0.0.0.0_" + std::to_string(in.port));
    auto* rc = hcm.mutable_route_config();
    rc->set_name(cluster);
    auto* vhost = rc->add_virtual_hosts();
    vhost->set_name("inbound|http|" + std::to_string(in.port));
    vhost->add_domains("*");
    auto* route = vhost->add_routes();
    route->set_name("default");
    route->mutable_match()->set_prefix("/");
    route->mutable_route()->set_cluster(cluster);
    route->mutable_route()->mutable_timeout();
    addHttpFilters(hcm, false);
    addHcm(*chain, hcm);
  }
  // Traffic to a port no service declares goes through unchanged, as Istio's passthrough chain.
  auto* fallback = l.add_filter_chains();
  fallback->set_name("virtualInbound-catchall-tcp");
  addTcpProxy(*fallback, "PassthroughCluster");
  return l;
}

}  // namespace

void generateSidecarListeners(const Model& model, const Proxy& proxy, Resources& out) {
  const SidecarScope scope(model, proxy);
  out["virtualOutbound"].PackFrom(virtualOutbound(scope));
  out["virtualInbound"].PackFrom(virtualInbound(model, proxy));
  std::set<uint32_t> http_ports;
  for (const auto& service : model.services()) {
    if (!scope.visible(service)) continue;
    for (const auto& port : service.ports) {
      if (isHttpPort(port)) {
        http_ports.insert(port.port);
        continue;
      }
      if (service.vip.empty()) continue;  // a TCP port needs an address to match on
      Listener l = tcpListener(model, scope, service, port);
      out[l.name()].PackFrom(l);
    }
  }
  for (uint32_t port : http_ports) {
    Listener l;
    l.set_name("0.0.0.0_" + std::to_string(port));
    setAddress(l, "0.0.0.0", port);
    l.mutable_bind_to_port()->set_value(false);
    l.set_traffic_direction(envoy::config::core::v3::OUTBOUND);
    HttpConnectionManager hcm;
    hcm.set_stat_prefix("outbound_0.0.0.0_" + std::to_string(port));
    auto* rds = hcm.mutable_rds();
    rds->set_route_config_name(std::to_string(port));
    rds->mutable_config_source()->mutable_ads();
    rds->mutable_config_source()->set_resource_api_version(envoy::config::core::v3::V3);
    addHttpFilters(hcm, true);
    addHcm(*l.add_filter_chains(), hcm);
    out[l.name()].PackFrom(l);
  }
}

void generateSidecarRoutes(const Model& model, const Proxy& proxy, Resources& out) {
  const SidecarScope scope(model, proxy);
  std::map<uint32_t, envoy::config::route::v3::RouteConfiguration> configs;
  for (const auto& service : model.services()) {
    if (!scope.visible(service)) continue;
    for (const auto& port : service.ports) {
      if (!isHttpPort(port)) continue;
      const std::string p = ":" + std::to_string(port.port);
      std::vector<std::string> domains{service.fqdn, service.fqdn + p};
      if (!service.from_service_entry) {
        if (service.ns == proxy.ns) {
          domains.push_back(service.name);
          domains.push_back(service.name + p);
        }
        const std::string short_ns = service.name + "." + service.ns;
        for (const auto& d : {short_ns, short_ns + ".svc"}) {
          domains.push_back(d);
          domains.push_back(d + p);
        }
      }
      if (!service.vip.empty()) {
        domains.push_back(service.vip);
        domains.push_back(service.vip + p);
      }
      auto& rc = configs[port.port];
      rc.set_name(std::to_string(port.port));
      *rc.add_virtual_hosts() =
          buildVirtualHost(model, scope, service, port, domains, RouteOptions{});
    }
  }
  for (auto& [port, rc] : configs) {
    // Unknown hosts on a known port pass through, as Istio's allow_any virtual host, or under
    // REGISTRY_ONLY get its block_all 502.
    auto* any = rc.add_virtual_hosts();
    const char* name = scope.registryOnly() ? "block_all" : "allow_any";
    any->set_name(name);
    any->add_domains("*");
    auto* route = any->add_routes();
    route->set_name(name);
    route->mutable_match()->set_prefix("/");
    if (scope.registryOnly()) {
      route->mutable_direct_response()->set_status(502);
    } else {
      route->mutable_route()->set_cluster("PassthroughCluster");
      route->mutable_route()->mutable_timeout();
    }
    out[rc.name()].PackFrom(rc);
  }
}

}  // namespace remora::pilot
