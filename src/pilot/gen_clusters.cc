// CDS and EDS: outbound clusters per service port and DestinationRule subset, the sidecar's
// inbound clusters, PassthroughCluster and BlackHoleCluster, and the endpoints of each EDS cluster.

#include <limits>
#include <set>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb.h"
#include "pilot/generator.h"
#include "pilot/inbound.h"
#include "pilot/sidecar_scope.h"
#include "pilot/traffic_policy.h"

namespace remora::pilot {
namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::config::endpoint::v3::ClusterLoadAssignment;
using envoy::extensions::upstreams::http::v3::HttpProtocolOptions;

constexpr int kConnectTimeoutSeconds = 10;  // Istio's default connectTimeout
const Labels kNoLabels;
constexpr int kInboundCleanupIntervalSeconds = 60;
constexpr uint32_t kUnlimited = std::numeric_limits<uint32_t>::max();  // Istio's default limits

void put(Resources& out, const std::string& name, const google::protobuf::Message& message) {
  out[name].PackFrom(message);
}

void setDuration(uint64_t ms, google::protobuf::Duration& out) {
  out.set_seconds(static_cast<int64_t>(ms / 1000));
  out.set_nanos(static_cast<int32_t>((ms % 1000) * 1000000));
}

// loadBalancer.simple → lb_policy (LEAST_REQUEST when unset, Istio's default); consistentHash →
// RING_HASH (ringHash or the deprecated minimumRingSize, a ring of at least 1024 when unsized) or
// MAGLEV, as Istio.
void applyLoadBalancer(const std::optional<LoadBalancer>& lb, Cluster& c) {
  c.set_lb_policy(Cluster::LEAST_REQUEST);
  if (!lb) return;
  if (lb->simple == "ROUND_ROBIN")
    c.set_lb_policy(Cluster::ROUND_ROBIN);
  else if (lb->simple == "RANDOM")
    c.set_lb_policy(Cluster::RANDOM);
  if (!lb->consistent_hash) return;
  const ConsistentHash& hash = *lb->consistent_hash;
  switch (hash.algorithm) {
    case ConsistentHash::Algorithm::kMaglev:
      c.set_lb_policy(Cluster::MAGLEV);
      if (hash.size) c.mutable_maglev_lb_config()->mutable_table_size()->set_value(hash.size);
      break;
    case ConsistentHash::Algorithm::kRingHash:
      c.set_lb_policy(Cluster::RING_HASH);
      if (hash.size)
        c.mutable_ring_hash_lb_config()->mutable_minimum_ring_size()->set_value(hash.size);
      break;
    case ConsistentHash::Algorithm::kDefaultRing:
      c.set_lb_policy(Cluster::RING_HASH);
      c.mutable_ring_hash_lb_config()->mutable_minimum_ring_size()->set_value(hash.size ? hash.size
                                                                                        : 1024);
      break;
  }
}

// connectionPool → circuit breakers and connect timeout, and the upstream HTTP protocol options
// Istio sets: idle timeout (http's, else tcp's), max requests and duration per connection,
// max concurrent streams on HTTP/2 clusters, the client's protocol (useClientProtocol), and an
// HTTP/2 upgrade (h2UpgradePolicy UPGRADE).
void applyConnectionPool(const ConnectionPool& pool, Cluster& c, HttpProtocolOptions& options) {
  auto* breakers = c.mutable_circuit_breakers();
  auto* t = breakers->thresholds_size() > 0 ? breakers->mutable_thresholds(0)
                                            : breakers->add_thresholds();
  if (pool.max_connections) t->mutable_max_connections()->set_value(*pool.max_connections);
  if (pool.max_pending_requests)
    t->mutable_max_pending_requests()->set_value(*pool.max_pending_requests);
  if (pool.max_requests) t->mutable_max_requests()->set_value(*pool.max_requests);
  if (pool.max_retries) t->mutable_max_retries()->set_value(*pool.max_retries);
  if (pool.connect_timeout_ms) setDuration(*pool.connect_timeout_ms, *c.mutable_connect_timeout());
  auto idle = pool.http_idle_timeout_ms ? pool.http_idle_timeout_ms : pool.tcp_idle_timeout_ms;
  if (idle)
    setDuration(*idle, *options.mutable_common_http_protocol_options()->mutable_idle_timeout());
  if (pool.max_requests_per_connection.value_or(0) > 0)
    options.mutable_common_http_protocol_options()
        ->mutable_max_requests_per_connection()
        ->set_value(*pool.max_requests_per_connection);
  if (pool.max_connection_duration_ms)
    setDuration(*pool.max_connection_duration_ms,
                *options.mutable_common_http_protocol_options()->mutable_max_connection_duration());
  if (pool.max_concurrent_streams.value_or(0) > 0 && options.has_explicit_http_config() &&
      options.explicit_http_config().has_http2_protocol_options())
    options.mutable_explicit_http_config()
        ->mutable_http2_protocol_options()
        ->mutable_max_concurrent_streams()
        ->set_value(*pool.max_concurrent_streams);
  if (pool.use_client_protocol) {
    auto* downstream = options.mutable_use_downstream_protocol_config();
    downstream->mutable_http_protocol_options();
    downstream->mutable_http2_protocol_options();
  }
  if (pool.h2_upgrade_policy == "UPGRADE" && !pool.use_client_protocol)
    options.mutable_explicit_http_config()->mutable_http2_protocol_options();
}

// outlierDetection → outlier_detection (Istio enforces only the detectors a rule names).
void applyOutlierDetection(const OutlierDetection& od, Cluster& c) {
  auto* o = c.mutable_outlier_detection();
  if (od.consecutive_5xx) o->mutable_consecutive_5xx()->set_value(*od.consecutive_5xx);
  o->mutable_enforcing_consecutive_5xx()->set_value(od.consecutive_5xx.value_or(0) ? 100 : 0);
  if (od.consecutive_gateway_errors) {
    o->mutable_consecutive_gateway_failure()->set_value(*od.consecutive_gateway_errors);
    o->mutable_enforcing_consecutive_gateway_failure()->set_value(100);
  }
  if (od.interval_ms) setDuration(*od.interval_ms, *o->mutable_interval());
  if (od.base_ejection_time_ms)
    setDuration(*od.base_ejection_time_ms, *o->mutable_base_ejection_time());
  if (od.max_ejection_percent)
    o->mutable_max_ejection_percent()->set_value(*od.max_ejection_percent);
  // Istio: minHealthPercent is the panic threshold, 0 (panic disabled) unless set.
  c.mutable_common_lb_config()->mutable_healthy_panic_threshold()->set_value(
      od.min_health_percent.value_or(0));
}

// HttpProtocolOptions onto the cluster when any is set; they need a protocol (Envoy requires
// upstream_protocol_options): HTTP/1.1 unless set.
void packProtocolOptions(HttpProtocolOptions& options, Cluster& c) {
  if (options.ByteSizeLong() == 0) return;
  if (!options.has_explicit_http_config() && !options.has_use_downstream_protocol_config())
    options.mutable_explicit_http_config()->mutable_http_protocol_options();
  (*c.mutable_typed_extension_protocol_options())
      ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
          .PackFrom(options);
}

// The merged DestinationRule policy of one cluster. Proxyless gRPC clients get only the
// consistent hash, as from Istio's grpc generator: their xDS client accepts no lb_policy but
// ROUND_ROBIN and RING_HASH and reads no pool or protocol options.
void applyTrafficPolicy(const PolicySettings& policy, const ServicePort& port, bool grpc_client,
                        Cluster& c) {
  if (grpc_client) {
    LoadBalancer hash_only{.simple = "ROUND_ROBIN"};
    if (policy.load_balancer) hash_only.consistent_hash = policy.load_balancer->consistent_hash;
    applyLoadBalancer(hash_only, c);
    return;
  }
  HttpProtocolOptions options;
  if (isHttp2Port(port)) options.mutable_explicit_http_config()->mutable_http2_protocol_options();
  applyLoadBalancer(policy.load_balancer, c);
  if (policy.connection_pool) applyConnectionPool(*policy.connection_pool, c, options);
  if (policy.outlier_detection) applyOutlierDetection(*policy.outlier_detection, c);
  packProtocolOptions(options, c);
}

Cluster edsCluster(const std::string& name, const ServicePort& port, const PolicySettings& policy,
                   bool grpc_client) {
  Cluster c;
  c.set_name(name);
  c.set_type(Cluster::EDS);
  c.mutable_connect_timeout()->set_seconds(kConnectTimeoutSeconds);
  applyTrafficPolicy(policy, port, grpc_client, c);
  auto* eds = c.mutable_eds_cluster_config()->mutable_eds_config();
  eds->mutable_ads();
  eds->set_resource_api_version(envoy::config::core::v3::V3);
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

// Calls fn(cluster name, service, port, subset, DestinationRule) for every outbound cluster of a
// service the proxy's scope lets it see, with the rule the proxy applies (`subset` null for the
// subset-less cluster).
template <typename Fn>
void forEachOutbound(const Model& model, const SidecarScope& scope, Fn fn) {
  const RuleScope rules = ruleScope(scope);
  for (const auto& service : model.services()) {
    if (!scope.visible(service)) continue;
    const DestinationRule* dr = model.destinationRule(service.fqdn, rules);
    for (const auto& port : service.ports) {
      fn(outboundCluster(port.port, "", service.fqdn), service, port, nullptr, dr);
      if (dr == nullptr) continue;
      for (const auto& subset : dr->subsets)
        fn(outboundCluster(port.port, subset.name, service.fqdn), service, port, &subset, dr);
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
                   const ServicePort& port, const Labels& subset, const PolicySettings& policy,
                   bool grpc_client) {
  Cluster c;
  c.set_name(name);
  c.set_type(Cluster::STRICT_DNS);
  c.mutable_connect_timeout()->set_seconds(kConnectTimeoutSeconds);
  applyTrafficPolicy(policy, port, grpc_client, c);
  std::vector<EndpointView> endpoints = model.endpoints(service, port, subset);
  if (service.entry->endpoints.empty())
    endpoints.push_back(EndpointView{service.fqdn, port.target_port, true, nullptr});
  *c.mutable_load_assignment() = loadAssignment(name, endpoints);
  return c;
}

// A sidecar's inbound cluster, as Istio (1.10+) builds it: the connection goes on to its original
// destination (the pod IP and port, which the application sees as its local address) from
// 127.0.0.6, the source the capture rules let out of the pod's own OUTPUT chain
// (`-o lo -s 127.0.0.6/32 -j RETURN`). Circuit breakers are Istio's defaults (effectively
// unlimited) unless a DestinationRule's connectionPool, the only part of it applied inbound, says
// otherwise; idle upstream pools live for 60 s rather than Envoy's 5 s cleanup_interval.
Cluster inboundClusterFor(const InboundPort& inbound) {
  Cluster c;
  c.set_name(inboundCluster(inbound.port));
  c.set_type(Cluster::ORIGINAL_DST);
  c.set_lb_policy(Cluster::CLUSTER_PROVIDED);
  c.mutable_connect_timeout()->set_seconds(kConnectTimeoutSeconds);
  c.mutable_cleanup_interval()->set_seconds(kInboundCleanupIntervalSeconds);
  auto* source = c.mutable_upstream_bind_config()->mutable_source_address();
  source->set_address(inbound.ipv6 ? "::6" : "127.0.0.6");
  source->set_port_value(0);
  auto* t = c.mutable_circuit_breakers()->add_thresholds();
  t->mutable_max_connections()->set_value(kUnlimited);
  t->mutable_max_pending_requests()->set_value(kUnlimited);
  t->mutable_max_requests()->set_value(kUnlimited);
  t->mutable_max_retries()->set_value(kUnlimited);
  t->set_track_remaining(true);
  HttpProtocolOptions options;
  if (inbound.http2) options.mutable_explicit_http_config()->mutable_http2_protocol_options();
  if (auto pool = effectivePolicy(inbound.destination_rule, inbound.port, "").connection_pool)
    applyConnectionPool(*pool, c, options);
  packProtocolOptions(options, c);
  return c;
}

}  // namespace

void generateClusters(const Model& model, const Proxy& proxy, Resources& out) {
  forEachOutbound(
      model, SidecarScope(model, proxy),
      [&](const std::string& name, const ServiceView& service, const ServicePort& port,
          const Subset* subset, const DestinationRule* dr) {
        const PolicySettings policy = effectivePolicy(dr, port.port, subset ? subset->name : "");
        const Labels& labels = subset ? subset->labels : kNoLabels;
        switch (discoveryOf(service)) {
          case Discovery::kEds:
            put(out, name, edsCluster(name, port, policy, proxy.grpc));
            break;
          case Discovery::kDns:
            put(out, name, dnsCluster(name, model, service, port, labels, policy, proxy.grpc));
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

  for (const auto& inbound : inboundPorts(model, proxy))
    put(out, inboundCluster(inbound.port), inboundClusterFor(inbound));
}

void generateEndpoints(const Model& model, const Proxy& proxy, Resources& out) {
  forEachOutbound(model, SidecarScope(model, proxy),
                  [&](const std::string& name, const ServiceView& service, const ServicePort& port,
                      const Subset* subset, const DestinationRule*) {
                    if (discoveryOf(service) != Discovery::kEds) return;
                    put(out, name,
                        loadAssignment(name, model.endpoints(service, port,
                                                             subset ? subset->labels : kNoLabels)));
                  });
}

}  // namespace remora::pilot
