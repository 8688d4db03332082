// Route actions: cluster selection, rewrites, timeouts, retry and mirror policies, redirects and
// direct responses.
#include <gtest/gtest.h>

#include <map>

#include "router_test_util.h"

namespace remora::router::test {
namespace {

const Route* only(const std::shared_ptr<const RouteConfig>& config, std::string_view path = "/",
                  std::string_view host = "a") {
  if (config == nullptr) return nullptr;
  return config->route(request(host, path), 0);
}

std::string action(const std::string& match, const std::string& action_json) {
  return oneVhost(R"({"match":)" + match + "," + action_json + "}");
}

TEST(RouterActionTest, FixedClusterAndDefaults) {
  const auto config = build(action(R"({"prefix":"/"})", R"("route":{"cluster":"c1"})"));
  const Route* route = only(config);
  ASSERT_NE(route, nullptr);
  const RouteEntry* entry = route->routeEntry();
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(route->redirect(), nullptr);
  EXPECT_EQ(route->directResponse(), nullptr);
  EXPECT_EQ(entry->clusterName(request("a", "/"), 7), "c1");
  EXPECT_EQ(entry->timeout(), std::chrono::milliseconds(15000));
  EXPECT_FALSE(entry->idleTimeout().has_value());
  EXPECT_EQ(entry->retryPolicy(), nullptr);
  EXPECT_FALSE(entry->autoHostRewrite());
}

TEST(RouterActionTest, TimeoutsZeroDisables) {
  const auto config = build(action(
      R"({"prefix":"/"})", R"("route":{"cluster":"c","timeout":"0s","idle_timeout":"2.5s"})"));
  const Route* route = only(config);
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->routeEntry()->timeout(), std::chrono::milliseconds(0));
  EXPECT_EQ(route->routeEntry()->idleTimeout(), std::chrono::milliseconds(2500));
}

TEST(RouterActionTest, WeightedClustersDeterministicSplit) {
  const auto config = build(action(R"({"prefix":"/"})", R"("route":{"weighted_clusters":{
      "clusters":[{"name":"v1","weight":20},{"name":"v2","weight":30},{"name":"v3","weight":50}]}})"));
  const Route* route = only(config);
  ASSERT_NE(route, nullptr);
  const RouteEntry* entry = route->routeEntry();
  auto pick = [&](uint64_t r) { return entry->clusterName(request("a", "/"), r); };
  EXPECT_EQ(pick(0), "v1");
  EXPECT_EQ(pick(19), "v1");
  EXPECT_EQ(pick(20), "v2");
  EXPECT_EQ(pick(49), "v2");
  EXPECT_EQ(pick(50), "v3");
  EXPECT_EQ(pick(99), "v3");
  EXPECT_EQ(pick(100), "v1");  // random % total
  std::map<std::string, int> counts;
  for (uint64_t r = 0; r < 1000; ++r) counts[pick(r)]++;
  EXPECT_EQ(counts["v1"], 200);
  EXPECT_EQ(counts["v2"], 300);
  EXPECT_EQ(counts["v3"], 500);
  EXPECT_EQ(pick(12345), pick(12345));
}

TEST(RouterActionTest, WeightedClustersTotalWeightAndErrors) {
  EXPECT_NE(build(action(R"({"prefix":"/"})", R"("route":{"weighted_clusters":{"total_weight":10,
      "clusters":[{"name":"a","weight":4},{"name":"b","weight":6}]}})")),
            nullptr);
  EXPECT_EQ(buildError(action(R"({"prefix":"/"})", R"("route":{"weighted_clusters":{
      "total_weight":100,"clusters":[{"name":"a","weight":4}]}})")),
            "virtual_hosts[0].routes[0].route.weighted_clusters: sum of weights in the "
            "weighted_cluster should add up to 100");
  EXPECT_EQ(buildError(action(R"({"prefix":"/"})", R"("route":{"weighted_clusters":{
      "clusters":[{"name":"a","weight":0}]}})")),
            "virtual_hosts[0].routes[0].route.weighted_clusters: sum of weights in the "
            "weighted_cluster must be greater than 0");
}

TEST(RouterActionTest, ClusterHeader) {
  const auto config =
      build(action(R"({"prefix":"/"})", R"("route":{"cluster_header":"X-Target"})"));
  const Route* route = only(config);
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->routeEntry()->clusterName(request("a", "/", {{"x-target", "t1"}}), 0), "t1");
  EXPECT_EQ(route->routeEntry()->clusterName(request("a", "/"), 0), "");
}

TEST(RouterActionTest, PrefixRewriteKeepsQueryAndRecordsOriginalPath) {
  const auto config = build(oneVhost(
      R"({"match":{"prefix":"/api/"},"route":{"cluster":"c","prefix_rewrite":"/v2/"}},
         {"match":{"path":"/exact"},"route":{"cluster":"c","prefix_rewrite":"/other"}})"));
  ASSERT_NE(config, nullptr);
  stream_info::StreamInfo info;
  auto headers = request("a", "/api/items?x=1");
  const Route* route = config->route(headers, 0);
  ASSERT_NE(route, nullptr);
  route->routeEntry()->finalizeRequestHeaders(headers, info, true);
  EXPECT_EQ(headers.path(), "/v2/items?x=1");
  EXPECT_EQ(*headers.get("x-envoy-original-path"), "/api/items?x=1");

  auto exact = request("a", "/exact?q");
  config->route(exact, 0)->routeEntry()->finalizeRequestHeaders(exact, info, false);
  EXPECT_EQ(exact.path(), "/other?q");
  EXPECT_FALSE(exact.has("x-envoy-original-path"));
}

TEST(RouterActionTest, RegexRewriteAndHostRewrite) {
  const auto config = build(action(R"({"prefix":"/"})", R"("route":{"cluster":"c",
      "regex_rewrite":{"pattern":{"regex":"^/service/([^/]+)(/.*)$"},"substitution":"\\2/instance/\\1"},
      "host_rewrite_literal":"upstream.internal"})"));
  const Route* route = only(config);
  ASSERT_NE(route, nullptr);
  auto headers = request("a", "/service/foo/v1/api?k=v");
  stream_info::StreamInfo info;
  route->routeEntry()->finalizeRequestHeaders(headers, info, false);
  EXPECT_EQ(headers.path(), "/v1/api/instance/foo?k=v");
  EXPECT_EQ(headers.host(), "upstream.internal");
  EXPECT_EQ(route->routeEntry()->hostRewriteLiteral(), "upstream.internal");

  const auto auto_host =
      build(action(R"({"prefix":"/"})", R"("route":{"cluster":"c","auto_host_rewrite":true})"));
  ASSERT_NE(only(auto_host), nullptr);
  EXPECT_TRUE(only(auto_host)->routeEntry()->autoHostRewrite());
}

TEST(RouterActionTest, RegexRewriteErrorsNameTheField) {
  EXPECT_EQ(buildError(action(R"({"prefix":"/"})", R"("route":{"cluster":"c",
      "regex_rewrite":{"pattern":{"regex":"a"},"substitution":"\\1"}})"))
                .rfind("virtual_hosts[0].routes[0].route.regex_rewrite.substitution:", 0),
            0u);
}

TEST(RouterActionTest, RetryPolicy) {
  const auto config = build(action(R"({"prefix":"/"})", R"("route":{"cluster":"c",
      "retry_policy":{"retry_on":"5xx, connect-failure,retriable-status-codes","num_retries":3,
      "per_try_timeout":"0.25s","retriable_status_codes":[503,409],
      "retry_back_off":{"base_interval":"0.1s"},
      "retry_host_predicate":[{"name":"envoy.retry_host_predicates.previous_hosts"}],
      "host_selection_retry_max_attempts":"5"}})"));
  const Route* route = only(config);
  ASSERT_NE(route, nullptr);
  const RetryPolicy* retry = route->routeEntry()->retryPolicy();
  ASSERT_NE(retry, nullptr);
  EXPECT_EQ(retry->retry_on,
            (std::vector<std::string>{"5xx", "connect-failure", "retriable-status-codes"}));
  EXPECT_EQ(retry->num_retries, 3u);
  EXPECT_EQ(retry->per_try_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(retry->retriable_status_codes, (std::vector<uint32_t>{503, 409}));
  EXPECT_EQ(retry->base_interval, std::chrono::milliseconds(100));
  EXPECT_EQ(retry->max_interval, std::chrono::milliseconds(1000));  // 10 × base
  EXPECT_EQ(retry->retry_host_predicates.size(), 1u);
  EXPECT_EQ(retry->host_selection_retry_max_attempts, 5);
}

TEST(RouterActionTest, RetryPolicyDefaultsAndErrors) {
  const auto config =
      build(action(R"({"prefix":"/"})", R"("route":{"cluster":"c","retry_policy":{}})"));
  ASSERT_NE(only(config), nullptr);
  const RetryPolicy* retry = only(config)->routeEntry()->retryPolicy();
  ASSERT_NE(retry, nullptr);
  EXPECT_EQ(retry->num_retries, 1u);
  EXPECT_EQ(retry->base_interval, std::chrono::milliseconds(25));
  EXPECT_EQ(retry->max_interval, std::chrono::milliseconds(250));
  EXPECT_FALSE(retry->per_try_timeout.has_value());
  EXPECT_EQ(retry->host_selection_retry_max_attempts, 1);

  EXPECT_EQ(buildError(action(R"({"prefix":"/"})", R"("route":{"cluster":"c","retry_policy":{
      "retry_host_predicate":[{"name":"envoy.retry_host_predicates.omit_canary_hosts"}]}})")),
            "not supported by remora: virtual_hosts[0].routes[0].route.retry_policy."
            "retry_host_predicate[0].name: envoy.retry_host_predicates.omit_canary_hosts");
}

TEST(RouterActionTest, MirrorPolicies) {
  std::set<std::string, std::less<>> known = {"c", "shadow"};
  const auto config = build(action(R"({"prefix":"/"})", R"("route":{"cluster":"c",
      "request_mirror_policies":[{"cluster":"shadow","runtime_fraction":{
        "default_value":{"numerator":10,"denominator":"HUNDRED"}}}]})"),
                            &known);
  const Route* route = only(config);
  ASSERT_NE(route, nullptr);
  const auto& mirrors = route->routeEntry()->mirrorPolicies();
  ASSERT_EQ(mirrors.size(), 1u);
  EXPECT_EQ(mirrors[0].cluster, "shadow");
  EXPECT_TRUE(mirrors[0].enabled(9));
  EXPECT_FALSE(mirrors[0].enabled(10));
  known.erase("shadow");
  EXPECT_EQ(buildError(action(R"({"prefix":"/"})", R"("route":{"cluster":"c",
      "request_mirror_policies":[{"cluster":"shadow"}]})"),
                       &known),
            "virtual_hosts[0].routes[0].route.request_mirror_policies[0].cluster: unknown "
            "cluster 'shadow'");
}

TEST(RouterActionTest, MirrorClusterHeaderAndHostSuffix) {
  const auto config = build(action(R"({"prefix":"/"})", R"("route":{"cluster":"c",
      "request_mirror_policies":[{"cluster_header":"X-Mirror-To",
                                  "disable_shadow_host_suffix_append":true}]})"));
  const Route* route = only(config);
  ASSERT_NE(route, nullptr);
  const auto& mirrors = route->routeEntry()->mirrorPolicies();
  ASSERT_EQ(mirrors.size(), 1u);
  EXPECT_FALSE(mirrors[0].append_host_suffix);
  EXPECT_TRUE(mirrors[0].enabled(12345));  // no runtime_fraction: every request
  auto headers = request("a", "/");
  EXPECT_EQ(mirrors[0].clusterFor(headers), "");
  headers.add("x-mirror-to", "shadow");
  EXPECT_EQ(mirrors[0].clusterFor(headers), "shadow");
  // Envoy: exactly one of cluster and cluster_header.
  EXPECT_EQ(buildError(action(R"({"prefix":"/"})", R"("route":{"cluster":"c",
      "request_mirror_policies":[{"cluster":"c","cluster_header":"x"}]})")),
            "virtual_hosts[0].routes[0].route.request_mirror_policies[0]: exactly one of cluster "
            "and cluster_header is required");
  EXPECT_EQ(buildError(action(R"({"prefix":"/"})", R"("route":{"cluster":"c",
      "request_mirror_policies":[{}]})")),
            "virtual_hosts[0].routes[0].route.request_mirror_policies[0]: exactly one of cluster "
            "and cluster_header is required");
}

TEST(RouterActionTest, UpgradeConfigs) {
  const auto config = build(action(R"({"prefix":"/"})", R"("route":{"cluster":"c",
      "upgrade_configs":[{"upgrade_type":"WebSocket","enabled":false}]})"));
  const Route* route = only(config);
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->routeEntry()->upgradeEnabled("websocket"), std::optional<bool>(false));
  EXPECT_EQ(route->routeEntry()->upgradeEnabled("WEBSOCKET"), std::optional<bool>(false));
  EXPECT_EQ(route->routeEntry()->upgradeEnabled("h2c"), std::nullopt);
  const auto plain = build(action(R"({"prefix":"/"})", R"("route":{"cluster":"c",
      "upgrade_configs":[{"upgrade_type":"websocket"}]})"));
  EXPECT_EQ(only(plain)->routeEntry()->upgradeEnabled("websocket"), std::optional<bool>(true));
  // CONNECT is proxied as an upgrade unless connect_config terminates it here.
  const std::string connect_route = action(R"({"connect_matcher":{}})", R"("route":{"cluster":"c",
      "upgrade_configs":[{"upgrade_type":"CONNECT","connect_config":{}}]})");
  const auto connect = build(connect_route);
  ASSERT_NE(connect, nullptr);
  // connect_matcher matches a CONNECT (no path) and nothing else.
  http::HeaderMap tunnel;
  tunnel.add(":method", "CONNECT");
  tunnel.add(":authority", "a:443");
  const Route* matched = connect->route(tunnel, 0);
  ASSERT_NE(matched, nullptr);
  EXPECT_EQ(only(connect), nullptr);
  EXPECT_EQ(matched->routeEntry()->upgradeEnabled("connect"), std::optional<bool>(true));
  EXPECT_TRUE(matched->routeEntry()->connectTerminate());
  EXPECT_FALSE(only(plain)->routeEntry()->connectTerminate());
  EXPECT_EQ(buildError(action(R"({"prefix":"/"})", R"("route":{"cluster":"c",
      "upgrade_configs":[{"upgrade_type":"websocket","connect_config":{}}]})")),
            "virtual_hosts[0].routes[0].route.upgrade_configs[0].connect_config: only for "
            "upgrade_type CONNECT");
  EXPECT_EQ(buildError(action(R"({"prefix":"/"})", R"("route":{"cluster":"c",
      "upgrade_configs":[{"upgrade_type":"websocket"},{"upgrade_type":"WebSocket"}]})")),
            "virtual_hosts[0].routes[0].route.upgrade_configs[1]: duplicate upgrade WebSocket");
}

TEST(RouterActionTest, DirectResponse) {
  const auto config = build(oneVhost(
      R"({"match":{"path":"/s"},"direct_response":{"status":503,"body":{"inline_string":"down"}}},
         {"match":{"path":"/b"},"direct_response":{"status":200,"body":{"inline_bytes":"aGk="}}},
         {"match":{"path":"/e"},"direct_response":{"status":204}})"));
  ASSERT_NE(config, nullptr);
  const DirectResponse* s = config->route(request("a", "/s"), 0)->directResponse();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->status, 503u);
  EXPECT_EQ(s->body, "down");
  EXPECT_EQ(config->route(request("a", "/b"), 0)->directResponse()->body, "hi");
  EXPECT_EQ(config->route(request("a", "/e"), 0)->directResponse()->body, "");
  EXPECT_EQ(config->route(request("a", "/e"), 0)->routeEntry(), nullptr);
  EXPECT_EQ(buildError(action(R"({"prefix":"/"})",
                              R"("direct_response":{"status":200,"body":{"filename":"/x"}})")),
            "not supported by remora: virtual_hosts[0].routes[0].direct_response.body.filename");
}

}  // namespace
}  // namespace remora::router::test
