#include "filters/http/local_ratelimit/local_ratelimit_config.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "config/supported_fields.h"
#include "filters/network/http_connection_manager/config.h"
#include "router/route_config.h"

namespace remora::filters::http::local_ratelimit {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

template <class T>
T parse(const std::string& json) {
  T proto;
  auto status = google::protobuf::util::JsonStringToMessage(json, &proto);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return proto;
}

class LocalRateLimitConfigTest : public ::testing::Test {
 protected:
  LocalRateLimitConfigTest() { store_.bindThread(0); }

  StatusOr<std::shared_ptr<const LocalRateLimitConfig>> create(const std::string& json,
                                                               bool per_route = false) {
    return LocalRateLimitConfig::create(parse<LocalRateLimitConfig::Proto>(json), store_, per_route,
                                        Clock::now());
  }
  std::shared_ptr<const LocalRateLimitConfig> build(const std::string& json,
                                                    bool per_route = false) {
    auto c = create(json, per_route);
    EXPECT_TRUE(c.ok()) << c.status().message();
    return c.ok() ? c.value() : nullptr;
  }
  uint64_t counter(const std::string& name) {
    uint64_t v = UINT64_MAX;
    store_.forEachCounter([&](const stats::Counter& c) {
      if (c.name() == name) v = c.value();
    });
    return v;
  }

  stats::Store store_{1};
};

constexpr const char* kBucket =
    R"("token_bucket":{"max_tokens":2,"tokens_per_fill":1,"fill_interval":"1s"})";

TEST_F(LocalRateLimitConfigTest, DefaultsAreEnvoys) {
  auto c = build(std::string(R"({"stat_prefix":"rl",)") + kBucket + "}");
  ASSERT_TRUE(c);
  // filter_enabled and filter_enforced absent: 0%.
  EXPECT_FALSE(c->enabled(0));
  EXPECT_FALSE(c->enforced(0));
  EXPECT_EQ(c->status(), 429u);
  EXPECT_FALSE(c->perConnection());
  EXPECT_FALSE(c->xRateLimitHeaders());
  EXPECT_FALSE(c->grpcStatus());
  EXPECT_EQ(c->bucket().maxTokens(), 2u);
}

TEST_F(LocalRateLimitConfigTest, Fields) {
  auto c = build(std::string(R"({"stat_prefix":"rl",)") + kBucket + R"(,
      "filter_enabled":{"runtime_key":"a","default_value":{"numerator":100}},
      "filter_enforced":{"runtime_key":"b","default_value":{"numerator":0}},
      "status":{"code":"ServiceUnavailable"},
      "local_rate_limit_per_downstream_connection":true,
      "enable_x_ratelimit_headers":"DRAFT_VERSION_03",
      "rate_limited_as_resource_exhausted":true,
      "response_headers_to_add":[{"header":{"key":"x-limited","value":"yes"}}]})");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->enabled(12345));
  EXPECT_FALSE(c->enforced(0));
  EXPECT_EQ(c->status(), 503u);
  EXPECT_TRUE(c->perConnection());
  EXPECT_TRUE(c->xRateLimitHeaders());
  EXPECT_EQ(c->grpcStatus(), 8u);
  EXPECT_FALSE(c->responseHeadersToAdd().empty());
  EXPECT_TRUE(c->requestHeadersWhenNotEnforced().empty());
  // Each config has its own per-connection key and makes fresh buckets of its shape.
  auto other = build(std::string(R"({"stat_prefix":"rl",)") + kBucket + "}");
  EXPECT_NE(c->connectionStateKey(), other->connectionStateKey());
  EXPECT_EQ(c->newBucket(Clock::now())->maxTokens(), 2u);
}

TEST_F(LocalRateLimitConfigTest, StatusBelow400Becomes429) {
  auto c = build(std::string(R"({"stat_prefix":"rl","status":{"code":"OK"},)") + kBucket + "}");
  EXPECT_EQ(c->status(), 429u);
}

TEST_F(LocalRateLimitConfigTest, StatsAreUnderTheirOwnPrefix) {
  auto c = build(std::string(R"({"stat_prefix":"my_limiter",)") + kBucket + "}");
  c->stats().enabled.inc();
  c->stats().enforced.inc();
  EXPECT_EQ(counter("my_limiter.http_local_rate_limit.enabled"), 1u);
  EXPECT_EQ(counter("my_limiter.http_local_rate_limit.enforced"), 1u);
  EXPECT_EQ(counter("my_limiter.http_local_rate_limit.rate_limited"), 0u);
  EXPECT_EQ(counter("my_limiter.http_local_rate_limit.ok"), 0u);
}

TEST_F(LocalRateLimitConfigTest, Errors) {
  auto per_route = create(R"({"stat_prefix":"rl"})", true);
  ASSERT_FALSE(per_route.ok());
  EXPECT_EQ(per_route.status().message(),
            "local rate limit token bucket must be set for per filter configs");
  // Without a bucket the filter-level config is valid: an empty bucket that never refills.
  auto global = build(R"({"stat_prefix":"rl"})");
  ASSERT_TRUE(global);
  EXPECT_FALSE(global->bucket().consume(Clock::now()));
  auto fast =
      create(R"({"stat_prefix":"rl","token_bucket":{"max_tokens":1,"fill_interval":"0.01s"}})");
  ASSERT_FALSE(fast.ok());
  EXPECT_THAT(fast.status().message(), HasSubstr("fill timer must be >= 50ms"));
}

TEST_F(LocalRateLimitConfigTest, DescriptorsAreNotSupported) {
  auto proto = parse<LocalRateLimitConfig::Proto>(R"({"stat_prefix":"rl",
      "descriptors":[{"entries":[{"key":"k","value":"v"}],
                      "token_bucket":{"max_tokens":1,"fill_interval":"1s"}}]})");
  EXPECT_THAT(config::checkSupportedFields(proto).message(),
              HasSubstr("not supported by remora: descriptors"));
  auto stage = parse<LocalRateLimitConfig::Proto>(R"({"stat_prefix":"rl","stage":2})");
  EXPECT_THAT(config::checkSupportedFields(stage).message(),
              HasSubstr("not supported by remora: stage"));
}

TEST_F(LocalRateLimitConfigTest, PerRouteConfigThroughTheRouteTable) {
  const std::string any =
      R"({"@type":"type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
          "stat_prefix":"route_rl",)" +
      std::string(kBucket) + "}";
  auto rc = parse<envoy::config::route::v3::RouteConfiguration>(
      R"({"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},
          "route":{"cluster":"c"},"typed_per_filter_config":{"envoy.filters.http.local_ratelimit":)" +
      any + "}}]}]}");
  auto table = router::RouteConfig::create(rc, nullptr, &store_);
  ASSERT_TRUE(table.ok()) << table.status().message();
  remora::http::HeaderMap request;
  request.add(":authority", "x");
  request.add(":path", "/");
  const router::Route* route = table.value()->route(request, 0);
  ASSERT_NE(route, nullptr);
  const auto* per_route =
      route->perFilterConfigAs<LocalRateLimitConfig>("envoy.filters.http.local_ratelimit");
  ASSERT_NE(per_route, nullptr);
  EXPECT_EQ(per_route->bucket().maxTokens(), 2u);
  EXPECT_EQ(counter("route_rl.http_local_rate_limit.enabled"), 0u);
  // A route table built without a stats store cannot hold one.
  auto no_store = router::RouteConfig::create(rc, nullptr);
  ASSERT_FALSE(no_store.ok());
  EXPECT_THAT(no_store.status().message(),
              HasSubstr("typed_per_filter_config[envoy.filters.http.local_ratelimit]"));
}

TEST_F(LocalRateLimitConfigTest, FiltersBuildFromTheConnectionManagerConfig) {
  auto hcm = parse<filters::network::http_connection_manager::HcmConfig::Proto>(R"({
      "stat_prefix":"ingress",
      "route_config":{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},
          "route":{"cluster":"c"},"typed_per_filter_config":{"envoy.filters.http.fault":{
            "@type":"type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
            "abort":{"http_status":418,"percentage":{"numerator":100}}}}}]}]},
      "http_filters":[
        {"name":"envoy.filters.http.fault","typed_config":{
          "@type":"type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
          "delay":{"fixed_delay":"1s","percentage":{"numerator":10}}}},
        {"name":"envoy.filters.http.local_ratelimit","typed_config":{
          "@type":"type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
          "stat_prefix":"hcm_rl"}},
        {"name":"envoy.filters.http.router","typed_config":{
          "@type":"type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]})");
  std::set<std::string, std::less<>> clusters{"c"};
  auto config = filters::network::http_connection_manager::HcmConfig::create(hcm, store_, clusters);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(counter("hcm_rl.http_local_rate_limit.ok"), 0u);
  EXPECT_EQ(counter("http.ingress.fault.delays_injected"), 0u);
}

}  // namespace
}  // namespace remora::filters::http::local_ratelimit
