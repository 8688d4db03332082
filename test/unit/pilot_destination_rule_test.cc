// remora-pilot's DestinationRule translation: portLevelSettings and subset policies merged as Istio
// merges them, consistentHash on clusters and routes, connectionPool's HTTP options, and which
// rule applies to a proxy (namespaces, exportTo).

#include <gtest/gtest.h>

#include "config/load_and_validate.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb.h"
#include "pilot_test_util.h"

namespace remora::pilot {
namespace {

using namespace testing;  // NOLINT
using envoy::config::cluster::v3::Cluster;
using envoy::config::route::v3::RouteConfiguration;
using envoy::extensions::upstreams::http::v3::HttpProtocolOptions;

const std::string kReviews = "reviews.default.svc.cluster.local";

// reviews with two HTTP ports and two versioned pods; the DestinationRule is appended per test.
const char* kService = R"(
apiVersion: v1
kind: Service
metadata: {name: reviews}
spec:
  clusterIP: 10.96.0.20
  ports: [{name: http, port: 9080}, {name: http-admin, port: 9081}, {name: grpc, port: 9090}]
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1, labels: {app: reviews, version: v1}}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v2, labels: {app: reviews, version: v2}}
status: {podIP: 10.0.0.2}
---
)";

Model withRule(const std::string& rule) { return modelFrom(std::string(kService) + rule); }

Resources clusters(const Model& model, const std::string& ns = "default") {
  return generate(model, sidecar("10.0.0.9", "client", ns), kClusterType);
}

HttpProtocolOptions protocolOptions(const Cluster& c) {
  HttpProtocolOptions options;
  auto it = c.typed_extension_protocol_options().find(
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions");
  EXPECT_NE(it, c.typed_extension_protocol_options().end()) << c.name();
  if (it != c.typed_extension_protocol_options().end()) EXPECT_TRUE(it->second.UnpackTo(&options));
  return options;
}

// The single route of the virtual host for `fqdn:port` in the sidecar's route config `port`.
envoy::config::route::v3::Route routeFor(const Model& model, uint32_t port, size_t index = 0) {
  auto rc = unpack<RouteConfiguration>(generate(model, sidecar("10.0.0.9", "client"), kRouteType),
                                       std::to_string(port));
  for (const auto& vh : rc.virtual_hosts())
    if (vh.name() == kReviews + ":" + std::to_string(port)) return vh.routes(index);
  ADD_FAILURE() << "no virtual host for port " << port;
  return {};
}

TEST(PilotDestinationRule, PortLevelSettingsReplaceTheTopLevelPolicyForTheirPort) {
  Model model = withRule(R"(
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {simple: RANDOM}
    connectionPool: {tcp: {maxConnections: 10}}
    outlierDetection: {consecutive5xxErrors: 3}
    portLevelSettings:
    - port: {number: 9081}
      loadBalancer: {simple: ROUND_ROBIN}
)");
  Resources cds = clusters(model);
  auto main = unpack<Cluster>(cds, "outbound|9080||" + kReviews);
  EXPECT_EQ(main.lb_policy(), Cluster::RANDOM);
  EXPECT_EQ(main.circuit_breakers().thresholds(0).max_connections().value(), 10u);
  EXPECT_TRUE(main.has_outlier_detection());
  // Port-level settings do not inherit: 9081 gets ROUND_ROBIN and none of the rest.
  auto admin = unpack<Cluster>(cds, "outbound|9081||" + kReviews);
  EXPECT_EQ(admin.lb_policy(), Cluster::ROUND_ROBIN);
  EXPECT_FALSE(admin.has_circuit_breakers());
  EXPECT_FALSE(admin.has_outlier_detection());
}

TEST(PilotDestinationRule, SubsetPolicyOverridesFieldByFieldThenItsOwnPortLevelSettings) {
  Model model = withRule(R"(
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 3}
    portLevelSettings:
    - port: {number: 9081}
      connectionPool: {tcp: {maxConnections: 4}}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy: {loadBalancer: {simple: RANDOM}}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      connectionPool: {http: {maxRetries: 9}}
      portLevelSettings:
      - port: {number: 9080}
        connectionPool: {tcp: {maxConnections: 7}}
)");
  Resources cds = clusters(model);
  auto v1 = unpack<Cluster>(cds, "outbound|9080|v1|" + kReviews);
  EXPECT_EQ(v1.lb_policy(), Cluster::RANDOM);
  EXPECT_EQ(v1.outlier_detection().consecutive_5xx().value(), 3u);  // inherited
  // On 9081 the subset starts from the top-level port-level policy (no outlier detection).
  auto v1_admin = unpack<Cluster>(cds, "outbound|9081|v1|" + kReviews);
  EXPECT_EQ(v1_admin.lb_policy(), Cluster::RANDOM);
  EXPECT_EQ(v1_admin.circuit_breakers().thresholds(0).max_connections().value(), 4u);
  EXPECT_FALSE(v1_admin.has_outlier_detection());
  // v2's port-level entry replaces everything on 9080; elsewhere its connectionPool applies.
  auto v2 = unpack<Cluster>(cds, "outbound|9080|v2|" + kReviews);
  EXPECT_EQ(v2.lb_policy(), Cluster::LEAST_REQUEST);  // Istio's default, not the top-level one
  EXPECT_FALSE(v2.has_outlier_detection());
  EXPECT_EQ(v2.circuit_breakers().thresholds(0).max_connections().value(), 7u);
  EXPECT_FALSE(v2.circuit_breakers().thresholds(0).has_max_retries());
  auto v2_admin = unpack<Cluster>(cds, "outbound|9081|v2|" + kReviews);
  EXPECT_EQ(v2_admin.circuit_breakers().thresholds(0).max_retries().value(), 9u);
  EXPECT_FALSE(v2_admin.circuit_breakers().thresholds(0).has_max_connections());
  // 9081's top-level port-level entry dropped the top-level loadBalancer for every subset.
  EXPECT_EQ(v2_admin.lb_policy(), Cluster::LEAST_REQUEST);
  // The subset-less cluster keeps the top-level policy.
  EXPECT_EQ(unpack<Cluster>(cds, "outbound|9080||" + kReviews).lb_policy(), Cluster::ROUND_ROBIN);
}

TEST(PilotDestinationRule, ConsistentHashRingsAndTables) {
  Model model = withRule(R"(
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {consistentHash: {httpHeaderName: x-user}}
    portLevelSettings:
    - port: {number: 9081}
      loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 65537}}}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      loadBalancer: {consistentHash: {httpQueryParameterName: user, ringHash: {minimumRingSize: 2048}}}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      loadBalancer: {consistentHash: {httpCookie: {name: session, path: /, ttl: 30s}, minimumRingSize: 64}}
)");
  Resources cds = clusters(model);
  auto main = unpack<Cluster>(cds, "outbound|9080||" + kReviews);
  EXPECT_EQ(main.lb_policy(), Cluster::RING_HASH);
  EXPECT_EQ(main.ring_hash_lb_config().minimum_ring_size().value(), 1024u);  // Istio's default
  auto admin = unpack<Cluster>(cds, "outbound|9081||" + kReviews);
  EXPECT_EQ(admin.lb_policy(), Cluster::MAGLEV);
  EXPECT_EQ(admin.maglev_lb_config().table_size().value(), 65537u);
  auto v1 = unpack<Cluster>(cds, "outbound|9080|v1|" + kReviews);
  EXPECT_EQ(v1.lb_policy(), Cluster::RING_HASH);
  EXPECT_EQ(v1.ring_hash_lb_config().minimum_ring_size().value(), 2048u);
  auto v2 = unpack<Cluster>(cds, "outbound|9080|v2|" + kReviews);
  EXPECT_EQ(v2.ring_hash_lb_config().minimum_ring_size().value(), 64u);  // deprecated field

  // Default routes hash on the service's policy for their port.
  auto route = routeFor(model, 9080);
  ASSERT_EQ(route.route().hash_policy_size(), 1);
  EXPECT_EQ(route.route().hash_policy(0).header().header_name(), "x-user");
  auto admin_route = routeFor(model, 9081);
  ASSERT_EQ(admin_route.route().hash_policy_size(), 1);
  EXPECT_TRUE(admin_route.route().hash_policy(0).connection_properties().source_ip());
}

TEST(PilotDestinationRule, VirtualServiceRoutesHashPerDestination) {
  Model model = withRule(R"(
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {consistentHash: {httpHeaderName: x-user}}
    portLevelSettings:
    - port: {number: 9080}
      loadBalancer: {consistentHash: {httpQueryParameterName: q}}
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      loadBalancer:
        consistentHash:
          httpCookie: {name: session, path: /cart, ttl: 1.5s, attributes: [{name: SameSite, value: Strict}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - match: [{uri: {prefix: /port}}]
    route: [{destination: {host: reviews, subset: v1, port: {number: 9080}}}]
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 50}
    - {destination: {host: reviews, subset: v2}, weight: 50}
)");
  auto cookie = routeFor(model, 9080, 0).route();
  ASSERT_EQ(cookie.hash_policy_size(), 1);
  EXPECT_EQ(cookie.hash_policy(0).cookie().name(), "session");
  EXPECT_EQ(cookie.hash_policy(0).cookie().path(), "/cart");
  EXPECT_EQ(cookie.hash_policy(0).cookie().ttl().seconds(), 1);
  EXPECT_EQ(cookie.hash_policy(0).cookie().ttl().nanos(), 500000000);
  ASSERT_EQ(cookie.hash_policy(0).cookie().attributes_size(), 1);
  EXPECT_EQ(cookie.hash_policy(0).cookie().attributes(0).name(), "SameSite");
  EXPECT_EQ(cookie.hash_policy(0).cookie().attributes(0).value(), "Strict");
  // A hashed route must not steer retries away from the previous host.
  EXPECT_EQ(cookie.retry_policy().retry_host_predicate_size(), 0);
  // Port-level hashes count only when the destination names its port.
  auto port = routeFor(model, 9080, 1).route();
  ASSERT_EQ(port.hash_policy_size(), 1);
  EXPECT_EQ(port.hash_policy(0).query_parameter().name(), "q");
  auto weighted = routeFor(model, 9080, 2).route();
  ASSERT_EQ(weighted.hash_policy_size(), 2);
  EXPECT_EQ(weighted.hash_policy(0).header().header_name(), "x-user");
  EXPECT_EQ(weighted.hash_policy(1).cookie().name(), "session");
  EXPECT_EQ(weighted.retry_policy().retry_host_predicate_size(), 1);

  // Proxyless gRPC clients get the same hash policies in their RDS.
  envoy::config::core::v3::Node node;
  node.set_id("sidecar~10.0.0.9~client.default~default.svc.cluster.local");
  (*node.mutable_metadata()->mutable_fields())["GENERATOR"].set_string_value("grpc");
  Proxy grpc_client = proxyFromNode(node);
  auto grpc = unpack<RouteConfiguration>(generate(model, grpc_client, kRouteType),
                                         "outbound|9080||" + kReviews);
  EXPECT_EQ(grpc.virtual_hosts(0).routes(0).route().hash_policy(0).cookie().name(), "session");
  EXPECT_EQ(
      unpack<Cluster>(generate(model, grpc_client, kClusterType), "outbound|9080|v2|" + kReviews)
          .lb_policy(),
      Cluster::RING_HASH);
}

TEST(PilotDestinationRule, ProxylessGrpcClustersCarryOnlyTheConsistentHash) {
  Model model = withRule(R"(
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {simple: LEAST_REQUEST}
    connectionPool: {tcp: {maxConnections: 3}, http: {idleTimeout: 1s}}
    outlierDetection: {consecutive5xxErrors: 3}
)");
  envoy::config::core::v3::Node node;
  node.set_id("sidecar~10.0.0.9~client.default~default.svc.cluster.local");
  (*node.mutable_metadata()->mutable_fields())["GENERATOR"].set_string_value("grpc");
  auto c = unpack<Cluster>(generate(model, proxyFromNode(node), kClusterType),
                           "outbound|9090||" + kReviews);
  EXPECT_EQ(c.lb_policy(), Cluster::ROUND_ROBIN);  // gRPC's xDS client rejects LEAST_REQUEST
  EXPECT_FALSE(c.has_circuit_breakers());
  EXPECT_FALSE(c.has_outlier_detection());
  EXPECT_TRUE(c.typed_extension_protocol_options().empty());
}

TEST(PilotDestinationRule, ConnectionPoolHttpOptions) {
  Model model = withRule(R"(
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    connectionPool:
      tcp: {maxConnectionDuration: 1m, idleTimeout: 30s}
      http: {maxRequestsPerConnection: 5, maxConcurrentStreams: 50, h2UpgradePolicy: UPGRADE}
    portLevelSettings:
    - port: {number: 9081}
      connectionPool: {http: {idleTimeout: 2s, useClientProtocol: true}}
)");
  Resources cds = clusters(model);
  // An HTTP/1.1 port upgraded to h2 (no max_concurrent_streams: Istio sets it only on h2 ports).
  auto main = protocolOptions(unpack<Cluster>(cds, "outbound|9080||" + kReviews));
  const auto& common = main.common_http_protocol_options();
  EXPECT_EQ(common.idle_timeout().seconds(), 30);  // tcp.idleTimeout when http's is unset
  EXPECT_EQ(common.max_connection_duration().seconds(), 60);
  EXPECT_EQ(common.max_requests_per_connection().value(), 5u);
  EXPECT_TRUE(main.explicit_http_config().has_http2_protocol_options());
  EXPECT_FALSE(main.explicit_http_config().http2_protocol_options().has_max_concurrent_streams());
  auto grpc = protocolOptions(unpack<Cluster>(cds, "outbound|9090||" + kReviews));
  EXPECT_EQ(grpc.explicit_http_config().http2_protocol_options().max_concurrent_streams().value(),
            50u);
  auto admin = protocolOptions(unpack<Cluster>(cds, "outbound|9081||" + kReviews));
  EXPECT_EQ(admin.common_http_protocol_options().idle_timeout().seconds(), 2);
  EXPECT_TRUE(admin.has_use_downstream_protocol_config());
  EXPECT_TRUE(admin.use_downstream_protocol_config().has_http2_protocol_options());
}

// remora itself accepts every cluster and route config the pilot makes of these policies (the
// checks a CDS or RDS response goes through; a failure would be a NACK).
TEST(PilotDestinationRule, GeneratedResourcesPassRemorasValidation) {
  Model model = withRule(R"(
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {consistentHash: {httpCookie: {name: s, ttl: 0s, attributes: [{name: a, value: b}]}}}
    connectionPool:
      tcp: {maxConnections: 3, connectTimeout: 1s, maxConnectionDuration: 1m, idleTimeout: 30s}
      http: {maxRequestsPerConnection: 5, maxConcurrentStreams: 50, maxRetries: 2}
    outlierDetection: {consecutive5xxErrors: 3}
    portLevelSettings:
    - port: {number: 9081}
      loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 65537}}}
      connectionPool: {http: {useClientProtocol: true, idleTimeout: 1s}}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      loadBalancer: {consistentHash: {httpQueryParameterName: q, ringHash: {minimumRingSize: 64}}}
      connectionPool: {http: {h2UpgradePolicy: UPGRADE}}
  - name: v2
    labels: {version: v2}
    trafficPolicy: {loadBalancer: {simple: RANDOM}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 50}
    - {destination: {host: reviews, subset: v2}, weight: 50}
)");
  Proxy proxy = sidecar("10.0.0.9", "client");
  for (const auto& [name, any] : generate(model, proxy, kClusterType)) {
    Cluster c;
    ASSERT_TRUE(any.UnpackTo(&c));
    Status status = config::validateResource(c);
    EXPECT_TRUE(status.ok()) << name << ": " << status.message();
  }
  for (const auto& [name, any] : generate(model, proxy, kRouteType)) {
    RouteConfiguration rc;
    ASSERT_TRUE(any.UnpackTo(&rc));
    Status status = config::validateResource(rc);
    EXPECT_TRUE(status.ok()) << name << ": " << status.message();
  }
}

TEST(PilotDestinationRule, TcpIdleTimeoutReachesTheOutboundTcpProxy) {
  Model model = modelFrom(R"(
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: 10.96.0.30
  ports: [{name: tcp-db, port: 5432}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db}
spec:
  host: db
  trafficPolicy: {connectionPool: {tcp: {idleTimeout: 90s}}}
)");
  auto l = unpack<envoy::config::listener::v3::Listener>(
      generate(model, sidecar("10.0.0.9", "client"), kListenerType), "10.96.0.30_5432");
  envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy tcp;
  ASSERT_TRUE(l.filter_chains(0).filters(0).typed_config().UnpackTo(&tcp));
  EXPECT_EQ(tcp.idle_timeout().seconds(), 90);
}

TEST(PilotDestinationRule, LookupFollowsNamespacesAndExportTo) {
  const std::string rules = R"(
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: private, namespace: default}
spec:
  host: reviews
  exportTo: ["."]
  trafficPolicy: {loadBalancer: {simple: RANDOM}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: mine, namespace: shop}
spec:
  host: reviews.default.svc.cluster.local
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: mesh-wide, namespace: istio-system}
spec:
  host: "*.svc.cluster.local"
  trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: elsewhere, namespace: other}
spec:
  host: reviews.default.svc.cluster.local
  exportTo: ["*"]
  trafficPolicy: {loadBalancer: {simple: RANDOM}}
)";
  Model model = withRule(rules);
  const std::string name = "outbound|9080||" + kReviews;
  // The service's namespace: its own (private) rule.
  EXPECT_EQ(unpack<Cluster>(clusters(model, "default"), name).lb_policy(), Cluster::RANDOM);
  // The proxy's namespace first.
  EXPECT_EQ(unpack<Cluster>(clusters(model, "shop"), name).lb_policy(), Cluster::ROUND_ROBIN);
  // The service namespace's rule is private; a third namespace's rule never applies; the root
  // namespace's wildcard rule does.
  EXPECT_EQ(unpack<Cluster>(clusters(model, "books"), name).lb_policy(), Cluster::RING_HASH);
  EXPECT_EQ(model.destinationRule(kReviews, RuleScope{"books"})->name, "mesh-wide");
  EXPECT_EQ(model.destinationRule(kReviews, RuleScope{"other"})->name, "elsewhere");
}

TEST(PilotDestinationRule, RulesForOneHostInOneNamespaceMerge) {
  Model model = withRule(R"(
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: a-versions}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: b-policy}
spec:
  host: reviews.default.svc.cluster.local
  trafficPolicy: {loadBalancer: {simple: RANDOM}}
  subsets: [{name: v1, labels: {version: v2}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: c-private}
spec:
  host: reviews
  exportTo: ["."]
  subsets: [{name: v3, labels: {version: v3}}]
)");
  Resources cds = clusters(model);
  // a-versions gains b-policy's trafficPolicy and its new subset v2; its own v1 stays.
  EXPECT_EQ(unpack<Cluster>(cds, "outbound|9080||" + kReviews).lb_policy(), Cluster::RANDOM);
  EXPECT_EQ(unpack<Cluster>(cds, "outbound|9080|v2|" + kReviews).lb_policy(), Cluster::RANDOM);
  Resources eds = generate(model, sidecar("10.0.0.9", "client"), kEndpointType);
  EXPECT_TRUE(eds.count("outbound|9080|v1|" + kReviews));
  // A different exportTo is not merged (and the first rule wins the lookup).
  EXPECT_FALSE(cds.count("outbound|9080|v3|" + kReviews));
}

TEST(PilotDestinationRule, WorkloadSelectorAppliesToMatchingProxiesOfItsNamespace) {
  Model model = withRule(R"(
apiVersion: v1
kind: Pod
metadata: {name: canary-client, labels: {app: client, track: canary}}
status: {podIP: 10.0.0.50}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: everyone}
spec:
  host: reviews
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: canary}
spec:
  host: reviews
  workloadSelector: {matchLabels: {track: canary}}
  trafficPolicy: {loadBalancer: {simple: RANDOM}}
)");
  const std::string name = "outbound|9080||" + kReviews;
  auto canary =
      unpack<Cluster>(generate(model, sidecar("10.0.0.50", "canary-client"), kClusterType), name);
  EXPECT_EQ(canary.lb_policy(), Cluster::RANDOM);
  // Other proxies of the namespace, and every proxy elsewhere, get the rule without a selector.
  EXPECT_EQ(unpack<Cluster>(clusters(model), name).lb_policy(), Cluster::ROUND_ROBIN);
  EXPECT_EQ(unpack<Cluster>(clusters(model, "shop"), name).lb_policy(), Cluster::ROUND_ROBIN);
}

std::string errorOf(const std::string& rule) {
  auto docs = parseManifests(rule);
  return docs.size() == 1 && docs[0].error ? *docs[0].error : "";
}

TEST(PilotDestinationRule, UntranslatedFieldsAreRejectedClearly) {
  const std::string head =
      "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: r}\nspec:\n"
      "  host: reviews\n  trafficPolicy:\n";
  EXPECT_EQ(errorOf(head + "    loadBalancer: {simple: ROUND_ROBIN, warmupDurationSecs: 10s}\n"),
            "spec.trafficPolicy.loadBalancer.warmupDurationSecs: not yet supported by "
            "remora-pilot");
  EXPECT_EQ(errorOf(head + "    loadBalancer: {localityLbSetting: {enabled: true}}\n"),
            "spec.trafficPolicy.loadBalancer.localityLbSetting: not yet supported by "
            "remora-pilot");
  EXPECT_EQ(errorOf(head + "    connectionPool: {tcp: {tcpKeepalive: {time: 7200s}}}\n"),
            "spec.trafficPolicy.connectionPool.tcp.tcpKeepalive: not yet supported by "
            "remora-pilot");
  EXPECT_EQ(errorOf(head + "    portLevelSettings: [{port: {number: 80}, connectionPool: {tcp: "
                           "{tcpKeepalive: {}}}}]\n"),
            "spec.trafficPolicy.portLevelSettings[0].connectionPool.tcp.tcpKeepalive: not yet "
            "supported by remora-pilot");
  EXPECT_EQ(errorOf(head + "    loadBalancer: {consistentHash: {httpHeaderName: a, "
                           "useSourceIp: true}}\n"),
            "spec.trafficPolicy.loadBalancer.consistentHash: needs exactly one of "
            "httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName");
  EXPECT_EQ(errorOf(head + "    loadBalancer: {simple: PASSTHROUGH}\n"),
            "spec.trafficPolicy.loadBalancer.simple: PASSTHROUGH is not yet supported by "
            "remora-pilot");
  EXPECT_EQ(errorOf(head + "    connectionPool: {http: {h2UpgradePolicy: SOMETIMES}}\n"),
            "spec.trafficPolicy.connectionPool.http.h2UpgradePolicy: expected DEFAULT, "
            "DO_NOT_UPGRADE or UPGRADE");
}

}  // namespace
}  // namespace remora::pilot
