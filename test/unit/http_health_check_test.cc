// envoy.filters.http.health_check: config translation, the shared answer cache, and the filter's
// answers on a FilterManager (local 200/503, cluster minimums, pass-through with cache).
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "filters/http/health_check/health_check_filter.h"
#include "http_filter_harness.h"
#include "server/drain_decision.h"
#include "upstream/cluster.h"

namespace remora::filters::http::health_check {
namespace {

using remora::http::test::FilterHarness;
using remora::http::test::RecordingFilter;
using Clock = std::chrono::steady_clock;

HealthCheckConfig::Proto parse(const std::string& json) {
  HealthCheckConfig::Proto proto;
  auto status = google::protobuf::util::JsonStringToMessage(json, &proto);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return proto;
}

std::shared_ptr<const HealthCheckConfig> build(const std::string& json) {
  auto config = HealthCheckConfig::create(parse(json));
  EXPECT_TRUE(config.ok()) << config.status().message();
  return config.ok() ? config.value() : nullptr;
}

TEST(HealthCheckConfigTest, Translation) {
  auto config = build(R"({"pass_through_mode":false,
      "headers":[{"name":":path","string_match":{"exact":"/healthz"}}],
      "cluster_min_healthy_percentages":{"b":{"value":99.9},"a":{"value":50}}})");
  ASSERT_NE(config, nullptr);
  EXPECT_FALSE(config->pass_through_mode);
  EXPECT_EQ(config->cache, nullptr);
  ASSERT_EQ(config->cluster_min_healthy_percentages.size(), 2u);
  // In name order; whole percentages, as Envoy compares them.
  EXPECT_EQ(config->cluster_min_healthy_percentages[0],
            (std::pair<std::string, uint64_t>{"a", 50}));
  EXPECT_EQ(config->cluster_min_healthy_percentages[1],
            (std::pair<std::string, uint64_t>{"b", 99}));

  remora::http::HeaderMap request;
  request.set(":path", "/healthz");
  EXPECT_TRUE(config->isHealthCheck(request));
  request.set(":path", "/other");
  EXPECT_FALSE(config->isHealthCheck(request));
}

TEST(HealthCheckConfigTest, NoHeadersMeansEveryRequestIsAHealthCheck) {
  auto config = build(R"({"pass_through_mode":false})");
  ASSERT_NE(config, nullptr);
  EXPECT_TRUE(config->isHealthCheck(remora::http::HeaderMap()));
}

TEST(HealthCheckConfigTest, PassThroughTakesACacheAndIgnoresClusterMinimums) {
  auto config = build(R"({"pass_through_mode":true,"cache_time":"2s",
                          "cluster_min_healthy_percentages":{"a":{"value":50}}})");
  ASSERT_NE(config, nullptr);
  EXPECT_NE(config->cache, nullptr);
  EXPECT_TRUE(config->cluster_min_healthy_percentages.empty());
}

TEST(HealthCheckConfigTest, CacheTimeNeedsPassThrough) {
  auto config =
      HealthCheckConfig::create(parse(R"({"pass_through_mode":false,"cache_time":"1s"})"));
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(),
            "cache_time: must not be set when pass_through_mode is disabled");
  // A zero cache_time is no cache, as in Envoy.
  EXPECT_NE(build(R"({"pass_through_mode":false,"cache_time":"0s"})"), nullptr);
}

TEST(HealthCheckCacheTest, AnswerLastsForTheCacheTime) {
  HealthCheckCache cache(std::chrono::milliseconds(100));
  auto t0 = Clock::now();
  EXPECT_FALSE(cache.get(t0).has_value());
  cache.put({503, true}, t0);
  auto hit = cache.get(t0 + std::chrono::milliseconds(99));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->code, 503u);
  EXPECT_TRUE(hit->degraded);
  EXPECT_FALSE(cache.get(t0 + std::chrono::milliseconds(100)).has_value());
}

// The filter ahead of a recording terminal filter, on a worker context with clusters.
class HealthCheckFilterTest : public testing::Test {
 protected:
  HealthCheckFilterTest()
      : dispatcher_(event::createDispatcher("test")),
        store_(1),
        worker_{*dispatcher_, clusters_, store_, state_, drain_callbacks_} {
    store_.bindThread(0);
    state_.local_cluster_name = "front";
    auto map = std::make_shared<upstream::ClusterMap>();
    for (auto [name, hosts] : {std::pair<const char*, int>{"full", 2}, {"empty", 0}}) {
      envoy::config::cluster::v3::Cluster proto;
      proto.set_name(name);
      auto* endpoints = proto.mutable_load_assignment()->add_endpoints();
      for (int i = 0; i < hosts; ++i) {
        auto* sa = endpoints->add_lb_endpoints()
                       ->mutable_endpoint()
                       ->mutable_address()
                       ->mutable_socket_address();
        sa->set_address("127.0.0.1");
        sa->set_port_value(1000 + i);
      }
      (*map)[name] = std::make_shared<upstream::Cluster>(proto, store_);
    }
    clusters_.update(map);
  }

  void run(std::shared_ptr<const HealthCheckConfig> config,
           remora::http::RequestHeaderMapPtr request, bool end_stream = true) {
    harness_ = std::make_unique<FilterHarness>();
    harness_->manager().addStreamFilter(std::make_shared<HealthCheckFilter>(config, worker_));
    upstream_ = std::make_shared<RecordingFilter>();
    harness_->manager().addDecoderFilter(upstream_);
    harness_->manager().decodeHeaders(std::move(request), end_stream);
  }
  void upstreamResponds(const char* status, bool degraded = false) {
    auto headers = std::make_unique<remora::http::ResponseHeaderMap>();
    headers->set(":status", status);
    if (degraded) headers->set("x-envoy-degraded", "");
    upstream_->callbacks->encodeHeaders(std::move(headers), true, "via_upstream");
  }
  std::string responseHeader(std::string_view name) {
    const std::string* v = harness_->response ? harness_->response->get(name) : nullptr;
    return v ? *v : "<absent>";
  }
  static remora::http::RequestHeaderMapPtr healthz() {
    return FilterHarness::request("GET", "/healthz");
  }

  event::DispatcherPtr dispatcher_;
  stats::Store store_;
  upstream::ThreadLocalClusterManager clusters_;
  server::ServerState state_;
  server::DrainCallbacks drain_callbacks_;
  server::WorkerContext worker_;
  std::unique_ptr<FilterHarness> harness_;
  std::shared_ptr<RecordingFilter> upstream_;
};

const char* kLocal =
    R"({"pass_through_mode":false,"headers":[{"name":":path","string_match":{"exact":"/healthz"}}]})";

TEST_F(HealthCheckFilterTest, AnswersLocallyAndMarksTheStream) {
  run(build(kLocal), healthz());
  EXPECT_FALSE(upstream_->headers.has_value());
  EXPECT_EQ(responseHeader(":status"), "200");
  EXPECT_EQ(responseHeader("x-envoy-upstream-healthchecked-cluster"), "front");
  EXPECT_EQ(harness_->info.response_code_details, "health_check_ok");
  EXPECT_TRUE(harness_->info.health_check);
  EXPECT_EQ(harness_->info.response_flags, 0u);
}

TEST_F(HealthCheckFilterTest, WaitsForTheWholeRequestBeforeAnswering) {
  run(build(kLocal), healthz(), false);
  EXPECT_FALSE(harness_->response.has_value());
  harness_->data("ignored", true);
  EXPECT_EQ(responseHeader(":status"), "200");
  EXPECT_TRUE(upstream_->chunks.empty());
}

TEST_F(HealthCheckFilterTest, FailingServerAnswers503AndFlagsEveryResponse) {
  state_.health_check_failed = true;
  run(build(kLocal), healthz());
  EXPECT_EQ(responseHeader(":status"), "503");
  EXPECT_EQ(harness_->info.response_code_details, "health_check_failed");
  EXPECT_TRUE(harness_->info.hasResponseFlag(stream_info::FailedLocalHealthCheck));
  // Envoy: "on all responses (both health check and normal requests)".
  EXPECT_EQ(responseHeader("x-envoy-immediate-health-check-fail"), "true");

  run(build(kLocal), FilterHarness::request("GET", "/app"));
  ASSERT_TRUE(upstream_->headers.has_value());
  EXPECT_FALSE(harness_->info.health_check);
  upstreamResponds("200");
  EXPECT_EQ(responseHeader("x-envoy-immediate-health-check-fail"), "true");
}

TEST_F(HealthCheckFilterTest, ClusterMinimums) {
  auto verdict = [&](const std::string& clusters) {
    run(build(R"({"pass_through_mode":false,"cluster_min_healthy_percentages":{)" + clusters +
              "}}"),
        healthz());
    return responseHeader(":status") + " " + harness_->info.response_code_details;
  };
  EXPECT_EQ(verdict(R"("full":{"value":100})"), "200 health_check_ok_cluster_healthy");
  EXPECT_EQ(verdict(R"("empty":{"value":0},"full":{"value":50})"),
            "200 health_check_ok_cluster_healthy");
  EXPECT_EQ(verdict(R"("empty":{"value":1})"), "503 health_check_failed_cluster_empty");
  EXPECT_EQ(verdict(R"("missing":{"value":0})"), "503 health_check_failed_no_cluster_found");
  EXPECT_TRUE(harness_->info.hasResponseFlag(stream_info::FailedLocalHealthCheck));
}

TEST_F(HealthCheckFilterTest, PassThroughForwardsAndCachesTheUpstreamAnswer) {
  auto config = build(R"({"pass_through_mode":true,"cache_time":"60s",
                          "headers":[{"name":":path","string_match":{"exact":"/healthz"}}]})");
  run(config, healthz());
  ASSERT_TRUE(upstream_->headers.has_value());
  EXPECT_TRUE(harness_->info.health_check);
  upstreamResponds("503", true);
  EXPECT_EQ(responseHeader(":status"), "503");

  run(config, healthz());  // from the cache
  EXPECT_FALSE(upstream_->headers.has_value());
  EXPECT_EQ(responseHeader(":status"), "503");
  EXPECT_EQ(responseHeader("x-envoy-degraded"), "");
  EXPECT_EQ(harness_->info.response_code_details, "health_check_cached");
}

TEST_F(HealthCheckFilterTest, PassThroughWithoutCacheAlwaysForwardsUnlessFailing) {
  auto config = build(R"({"pass_through_mode":true})");
  run(config, healthz());
  EXPECT_TRUE(upstream_->headers.has_value());
  state_.health_check_failed = true;
  run(config, healthz());
  EXPECT_FALSE(upstream_->headers.has_value());
  EXPECT_EQ(responseHeader(":status"), "503");
}

}  // namespace
}  // namespace remora::filters::http::health_check
