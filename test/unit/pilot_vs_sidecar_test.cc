// remora-pilot: several VirtualServices for one host, delegates, sourceLabels, tcp/tls routes,
// exportTo and gateways, and Sidecar egress scoping (sidecar_scope.h, vs_merge.h).

#include <gtest/gtest.h>

#include "config/load_and_validate.h"
#include "envoy/config/bootstrap/v3/bootstrap.pb.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"
#include "pilot/sidecar_scope.h"
#include "pilot/vs_merge.h"
#include "pilot_test_util.h"

namespace remora::pilot {
namespace {

using namespace testing;  // NOLINT
using envoy::config::listener::v3::Listener;
using envoy::config::route::v3::RouteConfiguration;
using envoy::config::route::v3::VirtualHost;
using envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy;

const std::string kReviews = "reviews.default.svc.cluster.local";
const std::string kDb = "db.data.svc.cluster.local";

VirtualHost reviewsHost(const Model& model, const Proxy& proxy) {
  auto rc = unpack<RouteConfiguration>(generate(model, proxy, kRouteType), "9080");
  for (const auto& v : rc.virtual_hosts())
    if (v.name() == kReviews + ":9080") return v;
  ADD_FAILURE() << "no reviews virtual host";
  return {};
}

std::vector<std::string> routeNames(const VirtualHost& vhost) {
  std::vector<std::string> out;
  for (const auto& r : vhost.routes()) out.push_back(r.name());
  return out;
}

TcpProxy tcpProxyOf(const envoy::config::listener::v3::FilterChain& chain) {
  TcpProxy tcp;
  EXPECT_TRUE(chain.filters(0).typed_config().UnpackTo(&tcp));
  return tcp;
}

std::string vs(const std::string& name, const std::string& extra_meta, const std::string& spec) {
  return "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: " + name +
         extra_meta + "}\nspec:\n" + spec;
}

TEST(PilotVirtualServices, SeveralForOneHostConcatenateOldestFirst) {
  // "b" is older than "a": its routes come first; "c" is bound to a gateway only and "d" is
  // exported to another namespace, so neither applies to a sidecar in default.
  Model model = modelFrom(
      std::string(kMesh) +
      vs("a", ", creationTimestamp: '2024-02-01T00:00:00Z'",
         "  hosts: [reviews]\n  http:\n  - name: from-a\n    match: [{uri: {prefix: /a}}]\n"
         "    route: [{destination: {host: reviews, subset: v1}}]\n") +
      vs("b", ", creationTimestamp: '2024-01-01T00:00:00Z'",
         "  hosts: [reviews.default.svc.cluster.local]\n  http:\n  - name: from-b\n"
         "    match: [{uri: {prefix: /b}}]\n    route: [{destination: {host: reviews, subset: "
         "v2}}]\n") +
      vs("c", "",
         "  hosts: [reviews]\n  gateways: [istio-system/ingress]\n  http:\n"
         "  - name: from-c\n    route: [{destination: {host: reviews}}]\n") +
      vs("d", ", namespace: other",
         "  hosts: [reviews.default.svc.cluster.local]\n  exportTo: [.]\n  http:\n"
         "  - name: from-d\n    route: [{destination: {host: reviews}}]\n"));
  VirtualHost vhost = reviewsHost(model, sidecar("10.0.0.9", "client"));
  EXPECT_EQ(routeNames(vhost), (std::vector<std::string>{"from-b", "from-a"}));
  EXPECT_EQ(vhost.routes(1).route().cluster(), "outbound|9080|v1|" + kReviews);
  // A proxy in namespace other sees d as well (after the older ones: no timestamp sorts first).
  VirtualHost other = reviewsHost(model, sidecar("10.0.0.8", "client", "other"));
  EXPECT_EQ(routeNames(other), (std::vector<std::string>{"from-d", "from-b", "from-a"}));
}

TEST(PilotVirtualServices, DelegateRoutesMergeMatches) {
  Model model =
      modelFrom(std::string(kMesh) +
                vs("root", "",
                   "  hosts: [reviews]\n  http:\n"
                   "  - name: root\n    match: [{uri: {prefix: /api}, headers: {x-team: "
                   "{exact: blue}}}]\n"
                   "    delegate: {name: reviews-api, namespace: team}\n    timeout: 3s\n"
                   "  - name: rest\n    route: [{destination: {host: reviews}}]\n") +
                vs("reviews-api", ", namespace: team",
                   "  http:\n"
                   "  - name: v2\n    match: [{uri: {prefix: /api/v2}}]\n"
                   "    route: [{destination: {host: reviews.default.svc.cluster.local, "
                   "subset: v2}}]\n"
                   "  - name: outside\n    match: [{uri: {prefix: /other}}]\n"
                   "    route: [{destination: {host: reviews.default.svc.cluster.local}}]\n"
                   "  - name: any\n    route: [{destination: {host: "
                   "reviews.default.svc.cluster.local, subset: v1}}]\n    timeout: 1s\n"));
  VirtualHost vhost = reviewsHost(model, sidecar("10.0.0.9", "client"));
  // /other is not under /api: that delegate route conflicts and is left out.
  ASSERT_EQ(routeNames(vhost), (std::vector<std::string>{"root-v2", "root-any", "rest"}));
  const auto& v2 = vhost.routes(0);
  EXPECT_EQ(v2.match().prefix(), "/api/v2");
  ASSERT_EQ(v2.match().headers_size(), 1);
  EXPECT_EQ(v2.match().headers(0).name(), "x-team");
  EXPECT_EQ(v2.route().cluster(), "outbound|9080|v2|" + kReviews);
  EXPECT_EQ(v2.route().timeout().seconds(), 3);  // the root's, the delegate sets none
  const auto& any = vhost.routes(1);
  EXPECT_EQ(any.match().prefix(), "/api");
  EXPECT_EQ(any.route().timeout().seconds(), 1);  // the delegate's own wins
  // A delegate VirtualService has no hosts: it applies to nothing by itself.
  EXPECT_TRUE(model.virtualServices("reviews-api.team.svc.cluster.local").empty());
}

TEST(PilotVirtualServices, MatchMergingFollowsIstio) {
  auto m = [](StringMatch::Kind kind, const std::string& v) {
    HttpMatch match;
    match.uri = StringMatch{kind, v};
    return match;
  };
  using K = StringMatch::Kind;
  EXPECT_TRUE(mergeMatches({m(K::kPrefix, "/a")}, {m(K::kExact, "/a/b")}));
  EXPECT_FALSE(mergeMatches({m(K::kExact, "/a")}, {m(K::kPrefix, "/a")}));
  EXPECT_FALSE(mergeMatches({m(K::kPrefix, "/a")}, {m(K::kRegex, "/a.*")}));
  // Every delegate match needs a root match containing it.
  EXPECT_FALSE(mergeMatches({m(K::kPrefix, "/a")}, {m(K::kPrefix, "/a/x"), m(K::kPrefix, "/b")}));
  // Several root matches: each compatible pair gives one match.
  auto both = mergeMatches({m(K::kPrefix, "/a"), m(K::kPrefix, "/a/b")}, {m(K::kPrefix, "/a/b/c")});
  ASSERT_TRUE(both);
  EXPECT_EQ(both->size(), 2u);
  HttpMatch port_a, port_b;
  port_a.port = 80;
  port_b.port = 81;
  EXPECT_FALSE(mergeMatches({port_a}, {port_b}));
}

TEST(PilotVirtualServices, SourceLabelsSelectTheProxy) {
  Model model =
      modelFrom(std::string(kMesh) +
                vs("reviews", "",
                   "  hosts: [reviews]\n  http:\n"
                   "  - name: from-v1\n    match: [{sourceLabels: {version: v1}}]\n"
                   "    route: [{destination: {host: reviews, subset: v2}}]\n"
                   "  - name: all\n    route: [{destination: {host: reviews, subset: v1}}]\n"));
  EXPECT_EQ(routeNames(reviewsHost(model, sidecar("10.0.0.1", "reviews-v1"))),
            (std::vector<std::string>{"from-v1", "all"}));
  EXPECT_EQ(routeNames(reviewsHost(model, sidecar("10.0.0.2", "reviews-v2"))),
            (std::vector<std::string>{"all"}));
  EXPECT_EQ(routeNames(reviewsHost(model, sidecar("10.0.0.9", "unknown"))),
            (std::vector<std::string>{"all"}));
  EXPECT_NE(SidecarScope(model, sidecar("10.0.0.1", "reviews-v1")).key(),
            SidecarScope(model, sidecar("10.0.0.2", "reviews-v2")).key());
}

TEST(PilotVirtualServices, NoHttpRouteForTheProxyKeepsTheDefaultRoute) {
  // A VirtualService with tcp routes only, and one whose only http route is for other workloads.
  for (const char* spec :
       {"  hosts: [reviews]\n  tcp: [{route: [{destination: {host: reviews}}]}]\n",
        "  hosts: [reviews]\n  http:\n  - match: [{sourceLabels: {app: other}}]\n"
        "    route: [{destination: {host: reviews, subset: v2}}]\n"}) {
    Model model = modelFrom(std::string(kMesh) + vs("reviews", "", spec));
    VirtualHost vhost = reviewsHost(model, sidecar("10.0.0.9", "client"));
    ASSERT_EQ(routeNames(vhost), (std::vector<std::string>{"default"})) << spec;
    EXPECT_EQ(vhost.routes(0).route().cluster(), "outbound|9080||" + kReviews);
  }
}

constexpr const char* kDbPods = R"(
---
apiVersion: v1
kind: Pod
metadata: {name: db-v1, namespace: data, labels: {app: db, version: v1}}
status: {podIP: 10.0.1.1}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db, namespace: data}
spec:
  host: db
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
)";

TEST(PilotVirtualServices, TcpAndTlsRoutesBecomeFilterChains) {
  Model model = modelFrom(std::string(kMesh) + kDbPods +
                          vs("db", ", namespace: data",
                             "  hosts: [db]\n"
                             "  tls:\n"
                             "  - match: [{sniHosts: [db.example.com], port: 5432}]\n"
                             "    route: [{destination: {host: db, subset: v2}}]\n"
                             "  - match: [{sniHosts: [other.example.com], port: 9999}]\n"
                             "    route: [{destination: {host: db}}]\n"
                             "  tcp:\n"
                             "  - match: [{destinationSubnets: [10.96.0.0/16]}]\n"
                             "    route:\n"
                             "    - {destination: {host: db, subset: v1}, weight: 75}\n"
                             "    - {destination: {host: db, subset: v2}, weight: 25}\n"
                             "  - match: [{sourceLabels: {app: nobody}}]\n"
                             "    route: [{destination: {host: db}}]\n"));
  Resources lds = generate(model, sidecar("10.0.0.9", "client"), kListenerType);
  auto l = unpack<Listener>(lds, "10.96.0.30_5432");
  ASSERT_EQ(l.listener_filters_size(), 1);
  EXPECT_EQ(l.listener_filters(0).name(), "envoy.filters.listener.tls_inspector");
  // sni chain, subnet chain, then the service's own cluster (the 9999 and sourceLabels matches
  // are not for this port or proxy).
  ASSERT_EQ(l.filter_chains_size(), 3);
  EXPECT_EQ(l.filter_chains(0).filter_chain_match().server_names(0), "db.example.com");
  EXPECT_EQ(tcpProxyOf(l.filter_chains(0)).cluster(), "outbound|5432|v2|" + kDb);
  const auto& subnet = l.filter_chains(1).filter_chain_match().prefix_ranges(0);
  EXPECT_EQ(subnet.address_prefix(), "10.96.0.0");
  EXPECT_EQ(subnet.prefix_len().value(), 16u);
  TcpProxy weighted = tcpProxyOf(l.filter_chains(1));
  ASSERT_EQ(weighted.weighted_clusters().clusters_size(), 2);
  EXPECT_EQ(weighted.weighted_clusters().clusters(0).name(), "outbound|5432|v1|" + kDb);
  EXPECT_EQ(weighted.weighted_clusters().clusters(0).weight(), 75u);
  EXPECT_FALSE(l.filter_chains(2).has_filter_chain_match());
  EXPECT_EQ(tcpProxyOf(l.filter_chains(2)).cluster(), "outbound|5432||" + kDb);

  // remora accepts the listener and the clusters it names.
  Resources cds = generate(model, sidecar("10.0.0.9", "client"), kClusterType);
  envoy::config::bootstrap::v3::Bootstrap bootstrap;
  l.clear_bind_to_port();
  *bootstrap.mutable_static_resources()->add_listeners() = l;
  for (const auto& name :
       {"outbound|5432|v1|" + kDb, "outbound|5432|v2|" + kDb, "outbound|5432||" + kDb}) {
    auto c = unpack<envoy::config::cluster::v3::Cluster>(cds, name);
    c.set_type(envoy::config::cluster::v3::Cluster::STATIC);  // no ADS in a static bootstrap
    c.clear_eds_cluster_config();
    *bootstrap.mutable_static_resources()->add_clusters() = c;
  }
  Status status = config::validateBootstrap(bootstrap);
  EXPECT_TRUE(status.ok()) << status.message();
}

TEST(PilotVirtualServices, TcpRouteWithoutMatchCatchesAll) {
  Model model = modelFrom(std::string(kMesh) + kDbPods +
                          vs("db", ", namespace: data",
                             "  hosts: [db]\n  tcp:\n"
                             "  - route: [{destination: {host: db, subset: v1}}]\n"));
  auto l = unpack<Listener>(generate(model, sidecar("10.0.0.9", "client"), kListenerType),
                            "10.96.0.30_5432");
  ASSERT_EQ(l.filter_chains_size(), 1);
  EXPECT_EQ(l.listener_filters_size(), 0);
  EXPECT_EQ(tcpProxyOf(l.filter_chains(0)).cluster(), "outbound|5432|v1|" + kDb);
}

constexpr const char* kNamespaces = R"(
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: shop}
spec:
  clusterIP: 10.96.0.40
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: shop}
spec:
  hosts: [api.example.com]
  addresses: [198.18.0.7]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: STATIC
  endpoints: [{address: 198.18.0.8}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: private, namespace: shop}
spec:
  hosts: [private.example.com]
  exportTo: [.]
  ports: [{number: 80, name: http}]
  resolution: DNS
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: shop, labels: {app: client}}
status: {podIP: 10.0.2.1}
)";

std::vector<std::string> outboundClusters(const Model& model, const Proxy& proxy) {
  std::vector<std::string> out;
  for (const auto& name : names(generate(model, proxy, kClusterType)))
    if (name.rfind("outbound|", 0) == 0) out.push_back(name);
  return out;
}

TEST(PilotSidecar, EgressHostsScopeWhatTheProxyGets) {
  const std::string base = std::string(kMesh) + kNamespaces;
  Proxy client = sidecar("10.0.2.1", "client", "shop");
  // No Sidecar: everything (but private.example.com only inside shop).
  Model open = modelFrom(base);
  EXPECT_EQ(outboundClusters(open, client).size(), 7u);  // reviews x3, db, ratings, ext, private
  EXPECT_EQ(outboundClusters(open, sidecar("10.0.0.9", "x")).size(), 6u);

  // The namespace default: its own namespace and *.example.com anywhere.
  Model scoped = modelFrom(base + R"(
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec:
  egress: [{hosts: ["./*", "*/*.example.com"]}]
)");
  EXPECT_EQ(
      outboundClusters(scoped, client),
      (std::vector<std::string>{"outbound|443||api.example.com", "outbound|80||private.example.com",
                                "outbound|9080||ratings.shop.svc.cluster.local"}));
  Resources lds = generate(scoped, client, kListenerType);
  EXPECT_EQ(names(lds), (std::vector<std::string>{"0.0.0.0_80", "0.0.0.0_9080", "198.18.0.7_443",
                                                  "virtualInbound", "virtualOutbound"}));
  auto rc = unpack<RouteConfiguration>(generate(scoped, client, kRouteType), "9080");
  ASSERT_EQ(rc.virtual_hosts_size(), 2);  // ratings and allow_any, no reviews
  EXPECT_EQ(rc.virtual_hosts(0).name(), "ratings.shop.svc.cluster.local:9080");
  EXPECT_EQ(names(generate(scoped, client, kEndpointType)),
            (std::vector<std::string>{"outbound|443||api.example.com",
                                      "outbound|9080||ratings.shop.svc.cluster.local"}));
  // A proxy in default is not under shop's Sidecar.
  EXPECT_EQ(outboundClusters(scoped, sidecar("10.0.0.9", "x")).size(), 6u);
}

TEST(PilotSidecar, PrecedenceAndInheritance) {
  const std::string base = std::string(kMesh) + kNamespaces + R"(
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: istio-system}
spec:
  egress: [{hosts: ["./*", "data/*"]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
)";
  // The root default: "." is each proxy's own namespace.
  Model root = modelFrom(base);
  EXPECT_EQ(outboundClusters(root, sidecar("10.0.0.9", "x")).size(), 4u);  // reviews x3 + db
  Proxy client = sidecar("10.0.2.1", "client", "shop");
  EXPECT_EQ(outboundClusters(root, client).size(), 4u);  // ratings, ext, private, db
  SidecarScope scope(root, client);
  EXPECT_EQ(scope.sidecarName(), "istio-system/default");
  EXPECT_TRUE(scope.registryOnly());

  // A workload Sidecar wins over the namespace's and the root's; what it leaves out (the
  // outbound policy) comes from the next one.
  Model selected = modelFrom(base + R"(
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ns-default, namespace: shop}
spec:
  egress: [{hosts: ["~/*"]}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: clients, namespace: shop}
spec:
  workloadSelector: {labels: {app: client}}
  egress: [{hosts: ["default/reviews.default.svc.cluster.local"]}]
  ingress: [{port: {number: 9080, protocol: HTTP, name: http}, defaultEndpoint: "127.0.0.1:9080"}]
)");
  SidecarScope workload(selected, client);
  EXPECT_EQ(workload.sidecarName(), "shop/clients");
  EXPECT_TRUE(workload.registryOnly());
  EXPECT_EQ(outboundClusters(selected, client).size(), 3u);  // reviews x3
  // Another pod in shop gets the namespace default: "~" sees nothing.
  Proxy other = sidecar("10.0.2.2", "other", "shop");
  EXPECT_TRUE(outboundClusters(selected, other).empty());
  EXPECT_NE(workload.key(), SidecarScope(selected, other).key());
  // The ingress part is accepted and listed as not yet supported.
  auto unsupported = selected.unsupported();
  EXPECT_NE(
      std::find(unsupported.begin(), unsupported.end(), ObjectKey{"Sidecar", "shop", "clients"}),
      unsupported.end());

  // REGISTRY_ONLY: the catch-alls block.
  Resources lds = generate(root, client, kListenerType);
  auto outbound = unpack<Listener>(lds, "virtualOutbound");
  EXPECT_EQ(outbound.filter_chains(0).name(), "virtualOutbound-blackhole");
  EXPECT_EQ(tcpProxyOf(outbound.filter_chains(0)).cluster(), "BlackHoleCluster");
  auto rc = unpack<RouteConfiguration>(generate(root, client, kRouteType), "9080");
  const auto& block = rc.virtual_hosts(rc.virtual_hosts_size() - 1);
  EXPECT_EQ(block.name(), "block_all");
  EXPECT_EQ(block.routes(0).direct_response().status(), 502u);
}

TEST(PilotSidecar, VirtualServicesCountFromNamespacesTheEgressNames) {
  const std::string base =
      std::string(kMesh) + vs("from-other", ", namespace: other",
                              "  hosts: [reviews.default.svc.cluster.local]\n  http:\n"
                              "  - name: other\n    route: [{destination: {host: "
                              "reviews.default.svc.cluster.local, subset: v2}}]\n");
  auto sidecarWith = [&](const std::string& hosts) {
    return modelFrom(base +
                     "---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: "
                     "default}\nspec:\n  egress: [{hosts: [" +
                     hosts + "]}]\n");
  };
  Proxy client = sidecar("10.0.0.9", "client");
  // reviews is visible through ./*, but namespace other (where the VirtualService is) is not.
  EXPECT_EQ(routeNames(reviewsHost(sidecarWith("\"./*\""), client)),
            (std::vector<std::string>{"default"}));
  EXPECT_EQ(routeNames(reviewsHost(sidecarWith("\"./*\", \"other/*\""), client)),
            (std::vector<std::string>{"other"}));
}

TEST(PilotSidecar, ScopeKeyIsStableForEqualInputs) {
  Model a = modelFrom(kMesh);
  Proxy p = sidecar("10.0.0.1", "reviews-v1");
  EXPECT_EQ(SidecarScope(a, p).key(), SidecarScope(a, p).key());
  EXPECT_EQ(SidecarScope(a, p).sidecarName(), "");
  Model b(objectsFrom(kMesh), {}, 2);
  EXPECT_NE(SidecarScope(a, p).key(), SidecarScope(b, p).key());
}

TEST(PilotSidecar, RejectedFormsSayNotYetSupported) {
  auto error = [](const std::string& spec) {
    auto docs = parseManifests(
        "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: s}\nspec:\n" + spec);
    return docs.at(0).error.value_or("");
  };
  EXPECT_EQ(error("  egress: [{port: {number: 80}, hosts: [./*]}]\n"),
            "spec.egress[0].port: not yet supported by remora-pilot");
  EXPECT_EQ(error("  egress: [{hosts: [reviews]}]\n"),
            "spec.egress[0].hosts[0]: expected namespace/dnsName");
  EXPECT_EQ(error("  outboundTrafficPolicy: {mode: SOMETIMES}\n"),
            "spec.outboundTrafficPolicy.mode: expected REGISTRY_ONLY or ALLOW_ANY");
  auto vs_error = [](const std::string& spec) {
    auto docs = parseManifests(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec:\n" +
        spec);
    return docs.at(0).error.value_or("");
  };
  EXPECT_EQ(vs_error("  hosts: [a]\n  tls: [{route: [{destination: {host: a}}]}]\n"),
            "spec.tls[0].match: a tls route needs a match with sniHosts");
  EXPECT_EQ(vs_error("  hosts: [a]\n  tcp: [{match: [{destinationSubnets: [10.0.0.0/abc]}], "
                     "route: [{destination: {host: a}}]}]\n"),
            "spec.tcp[0].match[0].destinationSubnets[0]: expected an address or CIDR range");
  EXPECT_EQ(vs_error("  http: [{delegate: {name: x}}]\n"),
            "spec.http[0].delegate: a delegate VirtualService cannot delegate further");
  EXPECT_EQ(vs_error("  hosts: [a]\n  http: [{match: [{gateways: [gw]}], route: [{destination: "
                     "{host: a}}]}]\n"),
            "spec.http[0].match[0].gateways: a match for gateways other than mesh is not yet "
            "supported by remora-pilot");
}

}  // namespace
}  // namespace remora::pilot
