// Virtual-host selection (domain precedence, ports) and load-time validation of RouteConfig.
#include <gtest/gtest.h>

#include <google/protobuf/struct.pb.h>

#include "config_fixtures.h"
#include "filters/http/factory.h"
#include "router_test_util.h"

namespace remora::router::test {
namespace {

std::string vhost(const std::string& name, const std::string& domains) {
  return R"({"name":")" + name + R"(","domains":)" + domains + R"(,"routes":[{"name":")" + name +
         R"(","match":{"prefix":"/"},"route":{"cluster":"c"}}]})";
}

std::string vhostName(const RouteConfig& config, std::string_view authority) {
  const VirtualHost* v = config.findVirtualHost(authority);
  return v ? v->name() : "<none>";
}

TEST(RouterConfigTest, DomainPrecedence) {
  auto config = build(
      R"({"virtual_hosts":[)" + vhost("any", R"(["*"])") + "," +
      vhost("exact", R"(["www.foo.com"])") + "," + vhost("short_suffix", R"(["*.com"])") + "," +
      vhost("long_suffix", R"(["*.foo.com"])") + "," +
      vhost("dash_suffix", R"(["*-bar.foo.com"])") + "," + vhost("short_prefix", R"(["www.*"])") +
      "," + vhost("long_prefix", R"(["www.foo.*"])") + "]}");
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(vhostName(*config, "www.foo.com"), "exact");
  EXPECT_EQ(vhostName(*config, "WWW.Foo.COM"), "exact");  // case-insensitive
  EXPECT_EQ(vhostName(*config, "api.foo.com"), "long_suffix");
  EXPECT_EQ(vhostName(*config, "baz-bar.foo.com"), "dash_suffix");
  EXPECT_EQ(vhostName(*config, "-bar.foo.com"), "long_suffix");  // '*' never matches ""
  EXPECT_EQ(vhostName(*config, "other.com"), "short_suffix");
  EXPECT_EQ(vhostName(*config, "www.foo.org"), "long_prefix");  // suffix beats prefix
  EXPECT_EQ(vhostName(*config, "www.bar.org"), "short_prefix");
  EXPECT_EQ(vhostName(*config, "elsewhere"), "any");
  EXPECT_EQ(routeName(*config, request("api.foo.com", "/")), "long_suffix");
}

TEST(RouterConfigTest, NoDefaultVirtualHostMeansNoRoute) {
  auto config = build(R"({"virtual_hosts":[)" + vhost("a", R"(["a.com"])") + "]}");
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->route(request("b.com", "/"), 0), nullptr);
}

TEST(RouterConfigTest, PortIsPartOfTheHostByDefault) {
  // As Envoy: "foo.com:8080" does not match "foo.com" and there is no retry without the port,
  // which is why Istio lists both forms.
  auto config = build(R"({"virtual_hosts":[)" + vhost("plain", R"(["foo.com"])") + "," +
                      vhost("ported", R"(["bar.com", "bar.com:8080"])") + "]}");
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(vhostName(*config, "foo.com"), "plain");
  EXPECT_EQ(vhostName(*config, "foo.com:8080"), "<none>");
  EXPECT_EQ(vhostName(*config, "bar.com:8080"), "ported");
  EXPECT_EQ(vhostName(*config, "bar.com:9090"), "<none>");
}

TEST(RouterConfigTest, IgnorePortInHostMatching) {
  auto config = build(R"({"ignore_port_in_host_matching":true,"virtual_hosts":[)" +
                      vhost("v4", R"(["foo.com"])") + "," + vhost("v6", R"(["[::1]"])") + "]}");
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(vhostName(*config, "foo.com:8080"), "v4");
  EXPECT_EQ(vhostName(*config, "foo.com"), "v4");
  EXPECT_EQ(vhostName(*config, "[::1]:80"), "v6");
  EXPECT_EQ(vhostName(*config, "[::1]"), "v6");
}

TEST(RouterConfigTest, DuplicateDomainsAreErrors) {
  EXPECT_EQ(buildError(R"({"virtual_hosts":[)" + vhost("a", R"(["x.com"])") + "," +
                       vhost("b", R"(["y.com", "X.com"])") + "]}"),
            "virtual_hosts[1].domains[1]: only unique values for domains are permitted; "
            "duplicate entry of domain x.com");
  EXPECT_EQ(buildError(R"({"virtual_hosts":[)" + vhost("a", R"(["*"])") + "," +
                       vhost("b", R"(["*"])") + "]}"),
            "virtual_hosts[1].domains[0]: only a single wildcard domain is permitted");
  EXPECT_NE(buildError(R"({"virtual_hosts":[)" + vhost("a", R"(["*.x.com", "*.x.com"])") + "]}"),
            "");
}

TEST(RouterConfigTest, UnknownClusterWhenValidating) {
  std::set<std::string, std::less<>> known = {"known"};
  std::string json = R"({"virtual_hosts":[{"name":"v","domains":["*"],"routes":[
      {"match":{"prefix":"/a"},"route":{"cluster":"known"}},
      {"match":{"prefix":"/b"},"route":{"weighted_clusters":{"clusters":[
        {"name":"known","weight":1},{"name":"missing","weight":1}]}}}]}]})";
  EXPECT_EQ(buildError(json, &known),
            "virtual_hosts[0].routes[1].route.weighted_clusters.clusters[1].name: unknown "
            "cluster 'missing'");
  EXPECT_NE(build(json), nullptr);  // no cluster set given: not validated
  std::string off = json;
  off.insert(1, R"("validate_clusters":false,)");
  EXPECT_NE(build(off, &known), nullptr);
}

TEST(RouterConfigTest, UnsupportedFieldsAreRejectedWithTheirPath) {
  EXPECT_EQ(buildError(R"({"virtual_hosts":[{"name":"v","domains":["*"],"require_tls":"ALL"}]})"),
            "not supported by remora: virtual_hosts[0].require_tls");
  EXPECT_EQ(buildError(oneVhost(R"({"match":{"prefix":"/"},
      "route":{"cluster":"c","hash_policy":[{"filter_state":{"key":"x"}}]}})")),
            "not supported by remora: virtual_hosts[0].routes[0].route.hash_policy[0].filter_state");
}

TEST(RouterConfigTest, ProtocolRulesAreChecked) {
  // VirtualHost.name has min_len 1 in the Envoy protos.
  std::string error = buildError(R"({"virtual_hosts":[{"domains":["*"]}]})");
  EXPECT_NE(error.find("virtual_hosts[0].name"), std::string::npos) << error;
}

// A per-route config holding one number, for the lookup-order test.
struct NumberConfig : RouteSpecificFilterConfig {
  explicit NumberConfig(int v) : value(v) {}
  int value;
};

class NumberFilterFactory : public filters::http::NamedHttpFilterConfigFactory {
 public:
  StatusOr<filters::http::FilterFactoryCb> createFilterFactory(const google::protobuf::Message&,
                                                               filters::http::FactoryContext&) const override {
    return Status::error("test only");
  }
  std::string_view routeSpecificConfigType() const override { return "google.protobuf.Struct"; }
  StatusOr<RouteSpecificFilterConfigConstSharedPtr> createRouteSpecificFilterConfig(
      const google::protobuf::Message& config, stats::Store*) const override {
    const auto& s = static_cast<const google::protobuf::Struct&>(config);
    return RouteSpecificFilterConfigConstSharedPtr(
        std::make_shared<NumberConfig>(static_cast<int>(s.fields().at("v").number_value())));
  }
};

void registerNumberFilters() {
  for (const char* name : {"f.all", "f.vh", "f.route", "f.none"}) {
    config::testing::registerTestExtension({config::ExtensionCategory::HttpFilter, name,
                                            std::string("remora.test.") + name,
                                            std::make_shared<NumberFilterFactory>()});
  }
}

TEST(RouterConfigTest, TypedPerFilterConfigUnknownFilterIsRejected) {
  std::string error = buildError(R"({"virtual_hosts":[{"name":"v","domains":["*"],
      "typed_per_filter_config":{"no.such.filter":{"@type":"type.googleapis.com/google.protobuf.Empty"}}}]})");
  EXPECT_NE(error.find("virtual_hosts[0].typed_per_filter_config[no.such.filter]: not supported by remora"),
            std::string::npos)
      << error;
}

TEST(RouterConfigTest, TypedPerFilterConfigMostSpecificFirst) {
  registerNumberFilters();
  auto any = [](int v) {
    return R"({"@type":"type.googleapis.com/google.protobuf.Struct","value":{"v":)" +
           std::to_string(v) + "}}";
  };
  auto config = build(R"({"typed_per_filter_config":{"f.all":)" + any(1) + R"(,"f.vh":)" + any(1) +
                      R"(},"virtual_hosts":[{"name":"v","domains":["*"],
      "typed_per_filter_config":{"f.vh":)" +
                      any(2) + R"(,"f.route":)" + any(2) +
                      R"(},"routes":[{"name":"r","match":{"prefix":"/"},"route":{"cluster":"c"},
      "typed_per_filter_config":{"f.route":)" +
                      any(3) + "}}]}]}");
  ASSERT_NE(config, nullptr);
  const Route* route = config->route(request("a", "/"), 0);
  ASSERT_NE(route, nullptr);
  auto value = [&](std::string_view filter) -> int {
    const NumberConfig* c = route->perFilterConfigAs<NumberConfig>(filter);
    return c == nullptr ? 0 : c->value;
  };
  EXPECT_EQ(value("f.route"), 3);
  EXPECT_EQ(value("f.vh"), 2);
  EXPECT_EQ(value("f.all"), 1);
  EXPECT_EQ(value("f.none"), 0);
  EXPECT_EQ(route->virtualHostName(), "v");
  EXPECT_EQ(route->name(), "r");
}

}  // namespace
}  // namespace remora::router::test
