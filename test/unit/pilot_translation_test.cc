// remora-pilot's translation: golden-ish assertions on the Istio-shaped resources generated for a
// sidecar and for a proxyless gRPC client.

#include <gtest/gtest.h>

#include "config/load_and_validate.h"
#include "envoy/config/bootstrap/v3/bootstrap.pb.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/http/cors/v3/cors.pb.h"
#include "envoy/extensions/filters/http/fault/v3/fault.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "pilot_test_util.h"

namespace remora::pilot {
namespace {

using namespace testing;  // NOLINT
using envoy::config::cluster::v3::Cluster;
using envoy::config::endpoint::v3::ClusterLoadAssignment;
using envoy::config::listener::v3::Listener;
using envoy::config::route::v3::RouteConfiguration;
using envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;

const std::string kReviews = "reviews.default.svc.cluster.local";

TEST(PilotTranslation, NodeIdInIstioForm) {
  Proxy p = sidecar("10.0.0.5", "productpage-v1", "shop");
  EXPECT_EQ(p.type, "sidecar");
  EXPECT_EQ(p.ip, "10.0.0.5");
  EXPECT_EQ(p.pod, "productpage-v1");
  EXPECT_EQ(p.ns, "shop");
  EXPECT_FALSE(p.grpc);
  envoy::config::core::v3::Node node;
  node.set_id("plain-id");
  (*node.mutable_metadata()->mutable_fields())["GENERATOR"].set_string_value("grpc");
  Proxy g = proxyFromNode(node);
  EXPECT_EQ(g.id, "plain-id");
  EXPECT_TRUE(g.grpc);
}

TEST(PilotTranslation, SidecarClustersAndSubsetEndpoints) {
  Model model = modelFrom(kMesh);
  Resources cds = generate(model, sidecar("10.0.0.1", "reviews-v1"), kClusterType);
  EXPECT_EQ(names(cds),
            (std::vector<std::string>{
                "BlackHoleCluster", "PassthroughCluster", "inbound|9080||",
                "outbound|5432||db.data.svc.cluster.local", "outbound|9080|v1|" + kReviews,
                "outbound|9080|v2|" + kReviews, "outbound|9080||" + kReviews}));
  auto v1 = unpack<Cluster>(cds, "outbound|9080|v1|" + kReviews);
  EXPECT_EQ(v1.type(), Cluster::EDS);
  EXPECT_EQ(v1.lb_policy(), Cluster::LEAST_REQUEST);
  EXPECT_TRUE(v1.eds_cluster_config().eds_config().has_ads());
  // Istio's inbound cluster: to the original destination (the pod IP the application listens
  // on), from 127.0.0.6 so the capture rules let it out, Istio's unlimited breakers.
  auto inbound = unpack<Cluster>(cds, "inbound|9080||");
  EXPECT_EQ(inbound.type(), Cluster::ORIGINAL_DST);
  EXPECT_EQ(inbound.lb_policy(), Cluster::CLUSTER_PROVIDED);
  EXPECT_FALSE(inbound.has_load_assignment());
  EXPECT_EQ(inbound.connect_timeout().seconds(), 10);
  EXPECT_EQ(inbound.cleanup_interval().seconds(), 60);
  EXPECT_EQ(inbound.upstream_bind_config().source_address().address(), "127.0.0.6");
  EXPECT_EQ(inbound.upstream_bind_config().source_address().port_value(), 0u);
  ASSERT_EQ(inbound.circuit_breakers().thresholds_size(), 1);
  const auto& limits = inbound.circuit_breakers().thresholds(0);
  EXPECT_EQ(limits.max_connections().value(), 4294967295u);
  EXPECT_EQ(limits.max_pending_requests().value(), 4294967295u);
  EXPECT_EQ(limits.max_requests().value(), 4294967295u);
  EXPECT_EQ(limits.max_retries().value(), 4294967295u);
  EXPECT_TRUE(limits.track_remaining());
  EXPECT_FALSE(inbound.has_outlier_detection());

  Resources eds = generate(model, sidecar("10.0.0.9", "client"), kEndpointType);
  auto all = unpack<ClusterLoadAssignment>(eds, "outbound|9080||" + kReviews);
  EXPECT_EQ(all.endpoints(0).lb_endpoints_size(), 2);
  // v2's pod is found by IP (no targetRef); v1's by targetRef.
  auto v2 = unpack<ClusterLoadAssignment>(eds, "outbound|9080|v2|" + kReviews);
  ASSERT_EQ(v2.endpoints(0).lb_endpoints_size(), 1);
  EXPECT_EQ(v2.endpoints(0).lb_endpoints(0).endpoint().address().socket_address().address(),
            "10.0.0.2");
  EXPECT_TRUE(v2.endpoints(0).has_locality());
  EXPECT_EQ(v2.endpoints(0).load_balancing_weight().value(), 1u);
  // A proxy that is no endpoint of a service gets no inbound cluster.
  EXPECT_FALSE(
      generate(model, sidecar("10.0.0.9", "client"), kClusterType).count("inbound|9080||"));
}

TEST(PilotTranslation, SidecarListeners) {
  Model model = modelFrom(kMesh);
  Resources lds = generate(model, sidecar("10.0.0.1", "reviews-v1"), kListenerType);
  EXPECT_EQ(names(lds), (std::vector<std::string>{"0.0.0.0_9080", "10.96.0.30_5432",
                                                  "virtualInbound", "virtualOutbound"}));
  auto outbound = unpack<Listener>(lds, "virtualOutbound");
  EXPECT_EQ(outbound.address().socket_address().port_value(), 15001u);
  EXPECT_TRUE(outbound.use_original_dst().value());
  auto inbound = unpack<Listener>(lds, "virtualInbound");
  EXPECT_EQ(inbound.address().socket_address().port_value(), 15006u);
  EXPECT_EQ(inbound.listener_filters(0).name(), "envoy.filters.listener.original_dst");
  EXPECT_EQ(inbound.filter_chains(0).filter_chain_match().destination_port().value(), 9080u);
  auto http = unpack<Listener>(lds, "0.0.0.0_9080");
  EXPECT_FALSE(http.bind_to_port().value());
  HttpConnectionManager hcm;
  ASSERT_TRUE(http.filter_chains(0).filters(0).typed_config().UnpackTo(&hcm));
  EXPECT_EQ(hcm.rds().route_config_name(), "9080");
  EXPECT_EQ(hcm.http_filters(2).name(), "envoy.filters.http.router");
  auto tcp = unpack<Listener>(lds, "10.96.0.30_5432");
  EXPECT_EQ(tcp.address().socket_address().address(), "10.96.0.30");
}

TEST(PilotTranslation, VirtualServiceRoutes) {
  Model model = modelFrom(std::string(kMesh) + R"(
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match:
    - headers: {end-user: {exact: jason}}
    - uri: {prefix: /admin}
      withoutHeaders: {x-debug: {}}
    fault:
      delay: {fixedDelay: 2s, percentage: {value: 50}}
    route:
    - destination: {host: reviews, subset: v2}
  - match:
    - uri: {exact: /old}
    redirect: {uri: /new, redirectCode: 302}
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 90
    - destination: {host: reviews, subset: v2}
      weight: 10
    - destination: {host: reviews, subset: v3}
      weight: 0
    timeout: 3s
    retries: {attempts: 0}
    rewrite: {uri: /v1/, authority: reviews.internal}
    corsPolicy:
      allowOrigins: [{exact: "https://shop.example"}, {regex: "https://.*[.]example"}]
      allowMethods: [GET, POST]
      allowHeaders: [x-a]
      maxAge: 24h
      allowCredentials: true
)");
  Resources rds = generate(model, sidecar("10.0.0.9", "client"), kRouteType);
  auto rc = unpack<RouteConfiguration>(rds, "9080");
  ASSERT_EQ(rc.virtual_hosts_size(), 2);
  const auto& vh = rc.virtual_hosts(0);
  EXPECT_EQ(rc.virtual_hosts(1).name(), "allow_any");
  ASSERT_EQ(vh.routes_size(), 4);  // two matches of the first route, the redirect, the split
  EXPECT_EQ(vh.routes(0).match().headers(0).string_match().exact(), "jason");
  EXPECT_EQ(vh.routes(0).route().cluster(), "outbound|9080|v2|" + kReviews);
  EXPECT_EQ(vh.routes(1).match().prefix(), "/admin");
  EXPECT_TRUE(vh.routes(1).match().headers(0).invert_match());
  EXPECT_TRUE(vh.routes(1).match().headers(0).present_match());
  envoy::extensions::filters::http::fault::v3::HTTPFault fault;
  ASSERT_TRUE(
      vh.routes(1).typed_per_filter_config().at("envoy.filters.http.fault").UnpackTo(&fault));
  EXPECT_EQ(fault.delay().fixed_delay().seconds(), 2);
  EXPECT_EQ(fault.delay().percentage().numerator(), 500000u);
  // Default retries (Istio's): 2 attempts with previous_hosts.
  EXPECT_EQ(vh.routes(0).route().retry_policy().num_retries().value(), 2u);
  EXPECT_EQ(vh.routes(0).route().retry_policy().retry_host_predicate(0).name(),
            "envoy.retry_host_predicates.previous_hosts");
  EXPECT_EQ(vh.routes(2).redirect().path_redirect(), "/new");
  EXPECT_EQ(vh.routes(2).redirect().response_code(),
            envoy::config::route::v3::RedirectAction::FOUND);
  const auto& split = vh.routes(3).route();
  ASSERT_EQ(split.weighted_clusters().clusters_size(), 2);  // the 0-weight destination dropped
  EXPECT_EQ(split.weighted_clusters().clusters(0).weight().value(), 90u);
  EXPECT_EQ(split.timeout().seconds(), 3);
  EXPECT_FALSE(split.has_retry_policy());  // attempts: 0 disables retries
  EXPECT_EQ(split.prefix_rewrite(), "/v1/");
  EXPECT_EQ(split.host_rewrite_literal(), "reviews.internal");
  envoy::extensions::filters::http::cors::v3::CorsPolicy cors;
  ASSERT_TRUE(vh.routes(3).typed_per_filter_config().at("envoy.filters.http.cors").UnpackTo(&cors));
  EXPECT_EQ(cors.allow_origin_string_match(0).exact(), "https://shop.example");
  EXPECT_EQ(cors.allow_origin_string_match(1).safe_regex().regex(), "https://.*[.]example");
  EXPECT_EQ(cors.allow_methods(), "GET,POST");
  EXPECT_EQ(cors.max_age(), "86400");
  EXPECT_TRUE(cors.allow_credentials().value());
  EXPECT_FALSE(vh.routes(0).typed_per_filter_config().count("envoy.filters.http.cors"));
}

TEST(PilotTranslation, VirtualHostDomainsDependOnTheProxyNamespace) {
  Model model = modelFrom(kMesh);
  auto same = unpack<RouteConfiguration>(generate(model, sidecar("10.0.0.9", "client"), kRouteType),
                                         "9080");
  auto other = unpack<RouteConfiguration>(
      generate(model, sidecar("10.0.0.9", "client", "shop"), kRouteType), "9080");
  auto domains = [](const RouteConfiguration& rc) {
    return std::vector<std::string>(rc.virtual_hosts(0).domains().begin(),
                                    rc.virtual_hosts(0).domains().end());
  };
  EXPECT_EQ(domains(same), (std::vector<std::string>{
                               kReviews, kReviews + ":9080", "reviews", "reviews:9080",
                               "reviews.default", "reviews.default:9080", "reviews.default.svc",
                               "reviews.default.svc:9080", "10.96.0.20", "10.96.0.20:9080"}));
  EXPECT_EQ(domains(other).size(), 8u);  // no short name from another namespace
  // With no VirtualService: one default route with Istio's disabled timeout.
  const auto& route = same.virtual_hosts(0).routes(0);
  EXPECT_EQ(route.route().cluster(), "outbound|9080||" + kReviews);
  EXPECT_TRUE(route.route().has_timeout());
  EXPECT_EQ(route.route().timeout().seconds(), 0);
}

TEST(PilotTranslation, ProxylessGrpcGetsApiListeners) {
  Model model = modelFrom(kMesh);
  envoy::config::core::v3::Node node;
  node.set_id("sidecar~10.0.0.9~client.default~default.svc.cluster.local");
  (*node.mutable_metadata()->mutable_fields())["GENERATOR"].set_string_value("grpc");
  Proxy proxy = proxyFromNode(node);
  Resources lds = generate(model, proxy, kListenerType);
  EXPECT_EQ(names(lds),
            (std::vector<std::string>{"db.data.svc.cluster.local:5432", kReviews + ":9080"}));
  auto l = unpack<Listener>(lds, kReviews + ":9080");
  HttpConnectionManager hcm;
  ASSERT_TRUE(l.api_listener().api_listener().UnpackTo(&hcm));
  EXPECT_EQ(hcm.rds().route_config_name(), "outbound|9080||" + kReviews);
  EXPECT_EQ(hcm.http_filters(hcm.http_filters_size() - 1).name(), "envoy.filters.http.router");
  Resources rds = generate(model, proxy, kRouteType);
  auto rc = unpack<RouteConfiguration>(rds, "outbound|9080||" + kReviews);
  EXPECT_EQ(rc.virtual_hosts(0).domains(1), kReviews + ":9080");
  EXPECT_FALSE(rc.virtual_hosts(0).routes(0).route().has_retry_policy());
  Resources cds = generate(model, proxy, kClusterType);
  EXPECT_FALSE(cds.count("PassthroughCluster"));
  EXPECT_TRUE(cds.count("outbound|9080|v1|" + kReviews));
}

TEST(PilotTranslation, DestinationRuleTrafficPolicy) {
  std::string mesh = kMesh;
  mesh.replace(mesh.find("  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}"),
               std::string("  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}").size(),
               R"(  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 10, connectTimeout: 250ms}
      http: {http1MaxPendingRequests: 5, http2MaxRequests: 20, maxRetries: 1}
    outlierDetection: {consecutive5xxErrors: 3, interval: 5s, baseEjectionTime: 30s, maxEjectionPercent: 50})");
  Model model = modelFrom(mesh);
  auto c = unpack<Cluster>(generate(model, sidecar("10.0.0.9", "client"), kClusterType),
                           "outbound|9080|v1|" + kReviews);
  const auto& t = c.circuit_breakers().thresholds(0);
  EXPECT_EQ(t.max_connections().value(), 10u);
  EXPECT_EQ(t.max_pending_requests().value(), 5u);
  EXPECT_EQ(t.max_requests().value(), 20u);
  EXPECT_EQ(t.max_retries().value(), 1u);
  EXPECT_EQ(c.connect_timeout().nanos(), 250000000);
  EXPECT_EQ(c.outlier_detection().consecutive_5xx().value(), 3u);
  EXPECT_EQ(c.outlier_detection().enforcing_consecutive_5xx().value(), 100u);
  EXPECT_EQ(c.outlier_detection().base_ejection_time().seconds(), 30);
  EXPECT_EQ(c.outlier_detection().max_ejection_percent().value(), 50u);
  EXPECT_EQ(c.common_lb_config().healthy_panic_threshold().value(), 0);
}

TEST(PilotTranslation, ServiceEntryHostsBecomeServices) {
  Model model = modelFrom(R"(
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext}
spec:
  hosts: [api.example.com]
  addresses: [240.0.0.1]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: STATIC
  endpoints: [{address: 198.18.0.1, labels: {zone: a}}]
)");
  Resources eds = generate(model, sidecar("10.0.0.9", "client"), kEndpointType);
  auto cla = unpack<ClusterLoadAssignment>(eds, "outbound|443||api.example.com");
  EXPECT_EQ(cla.endpoints(0).lb_endpoints(0).endpoint().address().socket_address().port_value(),
            443u);
}

TEST(PilotTranslation, ServiceEntryResolutionDnsAndNone) {
  Model model = modelFrom(R"(
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: dns}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: tls}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: none}
spec:
  hosts: [db.example.com]
  addresses: [198.18.0.0/24]
  ports: [{number: 5432, name: tcp}]
  resolution: NONE
)");
  Proxy proxy = sidecar("10.0.0.9", "client");
  Resources cds = generate(model, proxy, kClusterType);
  auto dns = unpack<Cluster>(cds, "outbound|443||api.example.com");
  EXPECT_EQ(dns.type(), Cluster::STRICT_DNS);
  EXPECT_EQ(dns.load_assignment()
                .endpoints(0)
                .lb_endpoints(0)
                .endpoint()
                .address()
                .socket_address()
                .address(),
            "api.example.com");
  EXPECT_EQ(unpack<Cluster>(cds, "outbound|5432||db.example.com").type(), Cluster::ORIGINAL_DST);
  EXPECT_TRUE(generate(model, proxy, kEndpointType).empty());  // neither is EDS
  // A CIDR is no listener address: the TCP port gets no outbound listener of its own.
  EXPECT_FALSE(generate(model, proxy, kListenerType).count("198.18.0.0/24_5432"));
}

// A DestinationRule's connectionPool applies to the inbound cluster too (only that part of it, as
// in Istio).
TEST(PilotTranslation, InboundClusterTakesTheConnectionPool) {
  std::string mesh = kMesh;
  const std::string lb = "trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}";
  ASSERT_NE(mesh.find(lb), std::string::npos);
  mesh.replace(
      mesh.find(lb), lb.size(),
      "trafficPolicy:\n    connectionPool: {tcp: {maxConnections: 7, connectTimeout: 2s}}\n"
      "    outlierDetection: {consecutive5xxErrors: 3}");
  Model model = modelFrom(mesh);
  auto inbound = unpack<Cluster>(generate(model, sidecar("10.0.0.1", "reviews-v1"), kClusterType),
                                 "inbound|9080||");
  ASSERT_EQ(inbound.circuit_breakers().thresholds_size(), 1);
  EXPECT_EQ(inbound.circuit_breakers().thresholds(0).max_connections().value(), 7u);
  EXPECT_EQ(inbound.circuit_breakers().thresholds(0).max_requests().value(), 4294967295u);
  EXPECT_EQ(inbound.connect_timeout().seconds(), 2);
  EXPECT_FALSE(inbound.has_outlier_detection());
}

// Kubernetes mirrors EndpointSlices into an Endpoints object; Istio reads the slices only, so a
// service with both must not get its endpoints twice.
TEST(PilotModel, EndpointSlicesHideTheirServicesEndpointsObject) {
  const char* base = R"(
apiVersion: v1
kind: Service
metadata: {name: r}
spec:
  clusterIP: 10.96.0.9
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: r}
subsets: [{addresses: [{ip: 10.1.0.1}, {ip: 10.1.0.2}], ports: [{name: http, port: 80}]}]
)";
  const char* slice = R"(
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: r-abc, labels: {kubernetes.io/service-name: r}}
addressType: IPv4
ports: [{name: http, port: 80}]
endpoints: [{addresses: [10.1.0.1]}]
)";
  auto count = [](const Model& model) {
    const ServiceView* service = model.findService("r.default.svc.cluster.local");
    EXPECT_NE(service, nullptr);
    return service ? model.endpoints(*service, service->ports.at(0)).size() : 0u;
  };
  EXPECT_EQ(count(modelFrom(base)), 2u);
  EXPECT_EQ(count(modelFrom(std::string(base) + slice)), 1u);
}

}  // namespace
}  // namespace remora::pilot

namespace remora::pilot {
namespace {

// The generated resources that need no ADS (the capture listeners and the static clusters) pass
// remora's own bootstrap validation: the proxy accepts what the pilot sends.
TEST(PilotTranslation, StaticSidecarResourcesPassRemorasValidation) {
  using namespace testing;  // NOLINT
  Model model = modelFrom(kMesh);
  Proxy proxy = sidecar("10.0.0.1", "reviews-v1");
  Resources lds = generate(model, proxy, kListenerType);
  Resources cds = generate(model, proxy, kClusterType);
  envoy::config::bootstrap::v3::Bootstrap bootstrap;
  for (const char* name : {"virtualOutbound", "virtualInbound"})
    *bootstrap.mutable_static_resources()->add_listeners() = unpack<Listener>(lds, name);
  for (const char* name : {"PassthroughCluster", "BlackHoleCluster", "inbound|9080||"})
    *bootstrap.mutable_static_resources()->add_clusters() = unpack<Cluster>(cds, name);
  Status status = config::validateBootstrap(bootstrap);
  EXPECT_TRUE(status.ok()) << status.message();
}

}  // namespace
}  // namespace remora::pilot
