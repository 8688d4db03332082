// CDS and EDS: outbound clusters per service port and DestinationRule subset, the sidecar's
// inbound clusters, PassthroughCluster and BlackHoleCluster, and the endpoints of each EDS cluster.

#include <set>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb.h"
#include "pilot/generator.h"
#include "pilot/inbound.h"
#include "pilot/sidecar_scope.h"

namespace remora::pilot {
namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::config::endpoint::v3::ClusterLoadAssignment;

constexpr int kConnectTimeoutSeconds = 10;  // Istio's default connectTimeout

void put(Resources& out, const std::string& name, const google::protobuf::Message& message) {
  out[name].PackFrom(message);
}

Cluster::LbPolicy lbPolicy(const DestinationRule* dr) {
  if (dr == nullptr || !dr->lb_simple) return Cluster::ROUND_ROBIN;
  if (*dr->lb_simple == "LEAST_REQUEST" || *dr->lb_simple == "LEAST_CONN")
    return Cluster::LEAST_REQUEST;
  if (*dr->lb_simple == "RANDOM") return Cluster::RANDOM;
  return Cluster::ROUND_ROBIN;
}

void setDuration(uint64_t ms, google::protobuf::Duration& out) {
  out.set_seconds(static_cast<int64_t>(ms / 1000));
  out.set_nanos(static_cast<int32_t>((ms % 1000) * 1000000));
}

// DestinationRule connectionPool → circuit breakers and connect timeout; outlierDetection →
// outlier_detection (Istio enforces only the detectors a rule names).
void applyTrafficPolicy(const DestinationRule& dr, Cluster& c) {
  if (const auto& pool = dr.connection_pool) {
    auto* t = c.mutable_circuit_breakers()->add_thresholds();
    if (pool->max_connections) t->mutable_max_connections()->set_value(*pool->max_connections);
    if (pool->max_pending_requests)
      t->mutable_max_pending_requests()->set_value(*pool->max_pending_requests);
    if (pool->max_requests) t->mutable_max_requests()->set_value(*pool->max_requests);
    if (pool->max_retries) t->mutable_max_retries()->set_value(*pool->max_retries);
    if (pool->connect_timeout_ms)
      setDuration(*pool->connect_timeout_ms, *c.mutable_connect_timeout());
  }
  if (const auto& od = dr.outlier_detection) {
    auto* o = c.mutable_outlier_detection();
    if (od->consecutive_5xx) o->mutable_consecutive_5xx()->set_value(*od->consecutive_5xx);
    o->mutable_enforcing_consecutive_5xx()->set_value(od->consecutive_5xx.value_or(0) ? 100 : 0);
    if (od->consecutive_gateway_errors) {
      o->mutable_consecutive_gateway_failure()->set_value(*od->consecutive_gateway_errors);
      o->mutable_enforcing_consecutive_gateway_failure()->set_value(100);
    }
    if (od->interval_ms) setDuration(*od->interval_ms, *o->mutable_interval());
    if (od->base_ejection_time_ms)
      setDuration(*od->base_ejection_time_ms, *o->mutable_base_ejection_time());
    if (od->max_ejection_percent)
      o->mutable_max_ejection_percent()->set_value(*od->max_ejection_percent);
    // Istio: minHealthPercent is the panic threshold, 0 (panic disabled) unless set.
    c.mutable_common_lb_config()->mutable_healthy_panic_threshold()->set_value(
        od->min_health_percent.value_or(0));
  }
}

Cluster edsCluster(const std::string& name, const ServicePort& port, const DestinationRule* dr,
                   bool grpc_client) {
  Cluster c;
  c.set_name(name);
  c.set_type(Cluster::EDS);
  c.mutable_connect_timeout()->set_seconds(kConnectTimeoutSeconds);
  c.set_lb_policy(lbPolicy(dr));
  if (dr != nullptr) applyTrafficPolicy(*dr, c);
  auto* eds = c.mutable_eds_cluster_config()->mutable_eds_config();
  eds->mutable_ads();
  eds->set_resource_api_version(envoy::config::core::v3::V3);
  if (!grpc_client && isHttp2Port(port)) {
    envoy::extensions::upstreams::http::v3::HttpProtocolOptions options;
    options.mutable_explicit_http_config()->mutable_http2_protocol_options();
    (*c.mutable_typed_extension_protocol_options())
        ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
            .PackFrom(options);
  }
  return c;
}

ClusterLoadAssignment loadAssignment(const std::string& name,
                                     const std::vector<EndpointView>& endpoints) {
  ClusterLoadAssignment cla;
  cla.set_cluster_name(name);
  if (endpoints.empty()) return cla;
  auto* locality = cla.add_endpoints();
  // gRPC's xDS client rejects a group without a locality and ignores one without a weight.
  locality->mutable_locality();
  locality->mutable_load_balancing_weight()->set_value(1);
  for (const auto& e : endpoints) {
    auto* lb = locality->add_lb_endpoints();
    auto* socket = lb->mutable_endpoint()->mutable_address()->mutable_socket_address();
    socket->set_address(e.ip);
    socket->set_port_value(e.port);
    lb->set_health_status(e.ready ? envoy::config::core::v3::HEALTHY
                                  : envoy::config::core::v3::UNHEALTHY);
  }
  return cla;
}

// Calls fn(cluster name, service, port, subset labels) for every outbound cluster of a service
// the proxy's scope lets it see.
template <typename Fn>
void forEachOutbound(const Model& model, const SidecarScope& scope, Fn fn) {
  for (const auto& service : model.services()) {
    if (!scope.visible(service)) continue;
    const DestinationRule* dr = model.destinationRule(service.fqdn);
    for (const auto& port : service.ports) {
      fn(outboundCluster(port.port, "", service.fqdn), service, port, Labels{}, dr);
      if (dr == nullptr) continue;
      for (const auto& subset : dr->subsets)
        fn(outboundCluster(port.port, subset.name, service.fqdn), service, port, subset.labels, dr);
    }
  }
}

// How a service's endpoints reach the proxy: EDS for Kubernetes services and STATIC
// ServiceEntries, DNS names resolved by the proxy for resolution DNS, the connection's original
// destination for resolution NONE (as Istio).
enum class Discovery { kEds, kDns, kOriginalDst };

Discovery discoveryOf(const ServiceView& service) {
  if (!service.from_service_entry) return Discovery::kEds;
  if (service.entry->resolution == "DNS") return Discovery::kDns;
  if (service.entry->resolution == "NONE") return Discovery::kOriginalDst;
  return Discovery::kEds;
}

// A resolution DNS ServiceEntry's cluster: its endpoints' addresses (or the host itself) as
// STRICT_DNS hosts.
Cluster dnsCluster(const std::string& name, const Model& model, const ServiceView& service,
                   const ServicePort& port, const Labels& subset, const DestinationRule* dr) {
  Cluster c;
  c.set_name(name);
  c.set_type(Cluster::STRICT_DNS);
  c.mutable_connect_timeout()->set_seconds(kConnectTimeoutSeconds);
  c.set_lb_policy(lbPolicy(dr));
  if (dr != nullptr) applyTrafficPolicy(*dr, c);
  std::vector<EndpointView> endpoints = model.endpoints(service, port, subset);
  if (service.entry->endpoints.empty())
    endpoints.push_back(EndpointView{service.fqdn, port.target_port, true, nullptr});
  *c.mutable_load_assignment() = loadAssignment(name, endpoints);
  return c;
}

}  // namespace

void generateClusters(const Model& model, const Proxy& proxy, Resources& out) {
  forEachOutbound(model, SidecarScope(model, proxy),
                  [&](const std::string& name, const ServiceView& service, const ServicePort& port,
                      const Labels& subset, const DestinationRule* dr) {
                    switch (discoveryOf(service)) {
                      case Discovery::kEds:
                        put(out, name, edsCluster(name, port, dr, proxy.grpc));
                        break;
                      case Discovery::kDns:
                        put(out, name, dnsCluster(name, model, service, port, subset, dr));
                        break;
                      case Discovery::kOriginalDst: {
                        if (proxy.grpc) break;  // gRPC has no original destination to go to
                        Cluster c;
                        c.set_name(name);
                        c.set_type(Cluster::ORIGINAL_DST);
                        c.set_lb_policy(Cluster::CLUSTER_PROVIDED);
                        c.mutable_connect_timeout()->set_seconds(kConnectTimeoutSeconds);
                        put(out, name, c);
                        break;
                      }
                    }
                  });
  if (proxy.grpc) return;

  Cluster passthrough;
  passthrough.set_name("PassthroughCluster");
  passthrough.set_type(Cluster::ORIGINAL_DST);
  passthrough.set_lb_policy(Cluster::CLUSTER_PROVIDED);
  passthrough.mutable_connect_timeout()->set_seconds(kConnectTimeoutSeconds);
  put(out, passthrough.name(), passthrough);

  Cluster blackhole;
  blackhole.set_name("BlackHoleCluster");
  blackhole.set_type(Cluster::STATIC);
  blackhole.mutable_connect_timeout()->set_seconds(kConnectTimeoutSeconds);
  blackhole.mutable_load_assignment()->set_cluster_name("BlackHoleCluster");
  put(out, blackhole.name(), blackhole);

  for (const auto& inbound : inboundPorts(model, proxy)) {
    Cluster c;
    c.set_name(inboundCluster(inbound.port));
    c.set_type(Cluster::STATIC);
    c.mutable_connect_timeout()->set_seconds(kConnectTimeoutSeconds);
    *c.mutable_load_assignment() =
        loadAssignment(c.name(), {EndpointView{"127.0.0.1", inbound.port, true, nullptr}});
    if (inbound.http2) {
      envoy::extensions::upstreams::http::v3::HttpProtocolOptions options;
      options.mutable_explicit_http_config()->mutable_http2_protocol_options();
      (*c.mutable_typed_extension_protocol_options())
          ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
              .PackFrom(options);
    }
    put(out, c.name(), c);
  }
}

void generateEndpoints(const Model& model, const Proxy& proxy, Resources& out) {
  forEachOutbound(model, SidecarScope(model, proxy),
                  [&](const std::string& name, const ServiceView& service, const ServicePort& port,
                      const Labels& subset, const DestinationRule*) {
                    if (discoveryOf(service) != Discovery::kEds) return;
                    put(out, name, loadAssignment(name, model.endpoints(service, port, subset)));
                  });
}

}  // namespace remora::pilot
