// envoy.filters.http.cors: CorsPolicy translation, origin matching, the field-by-field merge of
// route / virtual host / route configuration policies, and the filter on a FilterManager.
#include <gtest/gtest.h>

#include "filters/http/cors/cors_filter.h"
#include "http_filter_harness.h"
#include "router_test_util.h"
#include "stats/store.h"

namespace remora::filters::http::cors {
namespace {

using remora::http::test::FilterHarness;
using remora::http::test::RecordingFilter;
using router::test::buildError;

constexpr const char* kPolicyType =
    "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy";

std::string policy(const std::string& fields) {
  return std::string(R"({"@type":")") + kPolicyType + R"(")" +
         (fields.empty() ? "" : "," + fields) + "}";
}

// A route table whose route config, virtual host and route carry these CORS policies ("" = none).
std::string table(const std::string& config_policy, const std::string& vhost_policy,
                  const std::string& route_policy) {
  auto per_filter = [](const std::string& p) {
    return p.empty() ? std::string()
                     : R"("typed_per_filter_config":{"envoy.filters.http.cors":)" + p + "},";
  };
  return "{" + per_filter(config_policy) + R"("virtual_hosts":[{"name":"v","domains":["*"],)" +
         per_filter(vhost_policy) + R"("routes":[{"name":"r",)" + per_filter(route_policy) +
         R"("match":{"prefix":"/api"},"route":{"cluster":"c"}},
           {"name":"d","match":{"prefix":"/direct"},"direct_response":{"status":204}}]}]})";
}

EffectiveCorsPolicy effective(const router::RouteConfig& config, const std::string& path = "/api") {
  const router::Route* route = config.route(router::test::request("a", path), 0);
  EXPECT_NE(route, nullptr);
  return EffectiveCorsPolicy(route->perFilterConfigLevels(kFilterName));
}

TEST(CorsPolicyTest, OriginMatchersOfEveryKind) {
  auto config = router::test::build(table("", "", policy(R"("allow_origin_string_match":[
      {"exact":"https://a.example"}, {"prefix":"http://localhost:"},
      {"suffix":".trusted.example","ignore_case":true},
      {"safe_regex":{"regex":"https://[a-z]+\\.regex\\.example"}}])")));
  ASSERT_NE(config, nullptr);
  auto p = effective(*config);
  EXPECT_TRUE(p.originAllowed("https://a.example"));
  EXPECT_FALSE(p.originAllowed("https://a.example.evil"));
  EXPECT_TRUE(p.originAllowed("http://localhost:3000"));
  EXPECT_TRUE(p.originAllowed("https://app.TRUSTED.example"));
  EXPECT_TRUE(p.originAllowed("https://abc.regex.example"));
  EXPECT_FALSE(
      p.originAllowed("https://abc.regex.example.com"));  // safe_regex matches the whole value
  EXPECT_FALSE(p.originAllowed("https://b.example"));
}

TEST(CorsPolicyTest, ExactStarAllowsEveryOrigin) {
  auto config =
      router::test::build(table("", "", policy(R"("allow_origin_string_match":[{"exact":"*"}])")));
  ASSERT_NE(config, nullptr);
  EXPECT_TRUE(effective(*config).originAllowed("https://anything.example"));
}

TEST(CorsPolicyTest, NoOriginListAllowsNothing) {
  auto config = router::test::build(table("", "", policy(R"("allow_methods":"GET")")));
  ASSERT_NE(config, nullptr);
  EXPECT_FALSE(effective(*config).originAllowed("https://a.example"));
}

TEST(CorsPolicyTest, FieldsResolveFromTheMostSpecificLevelThatSetsThem) {
  auto config = router::test::build(table(
      policy(R"("allow_origin_string_match":[{"exact":"https://config.example"}],
                "max_age":"600","expose_headers":"x-config","allow_private_network_access":true)"),
      policy(R"("allow_methods":"GET, PUT","allow_credentials":true,"expose_headers":"x-vhost")"),
      policy(R"("allow_headers":"x-route","allow_credentials":false)")));
  ASSERT_NE(config, nullptr);
  auto p = effective(*config);
  EXPECT_TRUE(p.originAllowed("https://config.example"));
  EXPECT_EQ(p.allowMethods(), "GET, PUT");
  EXPECT_EQ(p.allowHeaders(), "x-route");
  EXPECT_EQ(p.exposeHeaders(), "x-vhost");
  EXPECT_EQ(p.maxAge(), "600");
  EXPECT_FALSE(p.allowCredentials());  // the route's explicit false beats the virtual host's true
  EXPECT_TRUE(p.allowPrivateNetworkAccess());
  EXPECT_TRUE(p.forwardNotMatchingPreflights());  // Envoy's default
}

TEST(CorsPolicyTest, EnabledComesFromTheMostSpecificPolicyOnly) {
  const std::string off = R"("filter_enabled":{"default_value":{"numerator":0}})";
  auto config = router::test::build(table(policy(off), "", policy(R"("max_age":"1")")));
  ASSERT_NE(config, nullptr);
  auto p = effective(*config);
  EXPECT_TRUE(p.enabled(0));  // the route's policy says nothing, so it is enabled
  EXPECT_FALSE(p.shadowEnabled(0));

  config = router::test::build(
      table("", "", policy(off + R"(,"shadow_enabled":{"default_value":{"numerator":100}})")));
  ASSERT_NE(config, nullptr);
  p = effective(*config);
  EXPECT_FALSE(p.enabled(0));
  EXPECT_TRUE(p.shadowEnabled(0));
}

TEST(CorsPolicyTest, FilterEnabledFractionUsesTheRandomValue) {
  auto config = router::test::build(table(
      "", "",
      policy(R"("filter_enabled":{"default_value":{"numerator":25,"denominator":"HUNDRED"}})")));
  ASSERT_NE(config, nullptr);
  auto p = effective(*config);
  EXPECT_TRUE(p.enabled(24));
  EXPECT_FALSE(p.enabled(25));
}

TEST(CorsPolicyTest, InvalidRegexIsRejectedWithItsPath) {
  std::string error = buildError(
      table("", "", policy(R"("allow_origin_string_match":[{"safe_regex":{"regex":"("}}])")));
  EXPECT_NE(error.find("routes[0].typed_per_filter_config[envoy.filters.http.cors]: "
                       "allow_origin_string_match[0].safe_regex.regex: invalid regex"),
            std::string::npos)
      << error;
}

TEST(CorsPolicyTest, DeprecatedRouteAndVirtualHostCorsAreRejected) {
  EXPECT_NE(buildError(R"({"virtual_hosts":[{"name":"v","domains":["*"],"cors":{}}]})")
                .find("not supported by remora: virtual_hosts[0].cors"),
            std::string::npos);
  EXPECT_NE(buildError(R"({"virtual_hosts":[{"name":"v","domains":["*"],"routes":[
                {"match":{"prefix":"/"},"route":{"cluster":"c","cors":{}}}]}]})")
                .find("not supported by remora: virtual_hosts[0].routes[0].route.cors"),
            std::string::npos);
}

// The filter on a FilterManager, ahead of a recording terminal filter.
class CorsFilterTest : public testing::Test {
 protected:
  CorsFilterTest() : store_(1), stats_(store_, "http.test.") { store_.bindThread(0); }

  void run(const std::string& route_table, remora::http::RequestHeaderMapPtr request) {
    harness_ = std::make_unique<FilterHarness>(router::test::build(route_table));
    harness_->manager().addStreamFilter(std::make_shared<CorsFilter>(stats_));
    upstream_ = std::make_shared<RecordingFilter>();
    harness_->manager().addDecoderFilter(upstream_);
    harness_->manager().decodeHeaders(std::move(request), true);
  }
  // The upstream answers 200.
  void upstreamResponds() {
    auto headers = std::make_unique<remora::http::ResponseHeaderMap>();
    headers->set(":status", "200");
    upstream_->callbacks->encodeHeaders(std::move(headers), true, "via_upstream");
  }
  std::string responseHeader(std::string_view name) {
    const std::string* v = harness_->response ? harness_->response->get(name) : nullptr;
    return v ? *v : "<absent>";
  }

  stats::Store store_;
  CorsStats stats_;
  std::unique_ptr<FilterHarness> harness_;
  std::shared_ptr<RecordingFilter> upstream_;
};

const std::string kStrict = policy(R"("allow_origin_string_match":[{"exact":"https://ok.example"}],
    "allow_methods":"GET,POST","allow_headers":"x-custom","max_age":"300",
    "expose_headers":"x-exposed","allow_credentials":true,"forward_not_matching_preflights":false)");

TEST_F(CorsFilterTest, AllowedPreflightIsAnsweredLocally) {
  run(table("", "", kStrict), FilterHarness::request("OPTIONS", "/api",
                                                     {{"origin", "https://ok.example"},
                                                      {"access-control-request-method", "POST"}}));
  EXPECT_FALSE(upstream_->headers.has_value());
  EXPECT_EQ(responseHeader(":status"), "200");
  EXPECT_EQ(responseHeader("access-control-allow-origin"), "https://ok.example");
  EXPECT_EQ(responseHeader("access-control-allow-methods"), "GET,POST");
  EXPECT_EQ(responseHeader("access-control-allow-headers"), "x-custom");
  EXPECT_EQ(responseHeader("access-control-max-age"), "300");
  EXPECT_EQ(responseHeader("access-control-allow-credentials"), "true");
  EXPECT_EQ(harness_->info.response_code_details, "cors_response");
  EXPECT_EQ(stats_.origin_valid.value(), 1u);
}

TEST_F(CorsFilterTest, DisallowedPreflightIsAnsweredWithoutAllowOrigin) {
  run(table("", "", kStrict), FilterHarness::request("OPTIONS", "/api",
                                                     {{"origin", "https://evil.example"},
                                                      {"access-control-request-method", "POST"}}));
  EXPECT_FALSE(upstream_->headers.has_value());
  EXPECT_EQ(responseHeader(":status"), "200");
  EXPECT_EQ(responseHeader("access-control-allow-origin"), "<absent>");
  EXPECT_EQ(stats_.origin_invalid.value(), 1u);
}

TEST_F(CorsFilterTest, DisallowedPreflightIsForwardedByDefault) {
  run(table("", "", policy(R"("allow_origin_string_match":[{"exact":"https://ok.example"}])")),
      FilterHarness::request(
          "OPTIONS", "/api",
          {{"origin", "https://evil.example"}, {"access-control-request-method", "GET"}}));
  EXPECT_TRUE(upstream_->headers.has_value());
}

TEST_F(CorsFilterTest, WildcardMethodsAndHeadersEchoThePreflight) {
  run(table("", "", policy(R"("allow_origin_string_match":[{"prefix":"https://"}],
                              "allow_methods":"*","allow_headers":"*")")),
      FilterHarness::request("OPTIONS", "/api",
                             {{"origin", "https://ok.example"},
                              {"access-control-request-method", "DELETE"},
                              {"access-control-request-headers", "x-a, x-b"}}));
  EXPECT_EQ(responseHeader("access-control-allow-methods"), "DELETE");
  EXPECT_EQ(responseHeader("access-control-allow-headers"), "x-a, x-b");
}

TEST_F(CorsFilterTest, PrivateNetworkAccessOnlyWhenAskedAndAllowed) {
  const std::string pna = policy(R"("allow_origin_string_match":[{"exact":"https://ok.example"}],
                                    "allow_private_network_access":true)");
  run(table("", "", pna),
      FilterHarness::request("OPTIONS", "/api",
                             {{"origin", "https://ok.example"},
                              {"access-control-request-method", "GET"},
                              {"access-control-request-private-network", "true"}}));
  EXPECT_EQ(responseHeader("access-control-allow-private-network"), "true");
  run(table("", "", pna), FilterHarness::request("OPTIONS", "/api",
                                                 {{"origin", "https://ok.example"},
                                                  {"access-control-request-method", "GET"}}));
  EXPECT_EQ(responseHeader("access-control-allow-private-network"), "<absent>");
}

TEST_F(CorsFilterTest, ActualRequestGetsAllowOriginCredentialsAndExposeHeaders) {
  run(table("", "", kStrict),
      FilterHarness::request("GET", "/api", {{"origin", "https://ok.example"}}));
  ASSERT_TRUE(upstream_->headers.has_value());
  upstreamResponds();
  EXPECT_EQ(responseHeader("access-control-allow-origin"), "https://ok.example");
  EXPECT_EQ(responseHeader("access-control-allow-credentials"), "true");
  EXPECT_EQ(responseHeader("access-control-expose-headers"), "x-exposed");
  EXPECT_EQ(responseHeader("access-control-allow-methods"), "<absent>");
}

TEST_F(CorsFilterTest, ActualRequestFromDisallowedOriginIsUntouched) {
  run(table("", "", kStrict),
      FilterHarness::request("GET", "/api", {{"origin", "https://evil.example"}}));
  upstreamResponds();
  EXPECT_EQ(responseHeader("access-control-allow-origin"), "<absent>");
  EXPECT_EQ(stats_.origin_invalid.value(), 1u);
}

TEST_F(CorsFilterTest, ShadowModeCountsButDoesNotEnforce) {
  const std::string shadow = policy(R"("allow_origin_string_match":[{"exact":"https://ok.example"}],
      "filter_enabled":{"default_value":{"numerator":0}},
      "shadow_enabled":{"default_value":{"numerator":100}})");
  run(table("", "", shadow), FilterHarness::request("OPTIONS", "/api",
                                                    {{"origin", "https://ok.example"},
                                                     {"access-control-request-method", "GET"}}));
  EXPECT_TRUE(upstream_->headers.has_value());  // the preflight goes upstream
  upstreamResponds();
  EXPECT_EQ(responseHeader("access-control-allow-origin"), "<absent>");
  EXPECT_EQ(stats_.origin_valid.value(), 1u);
}

TEST_F(CorsFilterTest, NoPolicyOrNoRouteEntryMeansNoCors) {
  run(table("", "", ""), FilterHarness::request("OPTIONS", "/api",
                                                {{"origin", "https://ok.example"},
                                                 {"access-control-request-method", "GET"}}));
  EXPECT_TRUE(upstream_->headers.has_value());
  run(table(kStrict, "", ""), FilterHarness::request("OPTIONS", "/direct",
                                                     {{"origin", "https://ok.example"},
                                                      {"access-control-request-method", "GET"}}));
  EXPECT_TRUE(upstream_->headers.has_value());
  EXPECT_EQ(stats_.origin_valid.value() + stats_.origin_invalid.value(), 0u);
}

}  // namespace
}  // namespace remora::filters::http::cors
