#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "config/supported_fields.h"
#include "filters/http/fault/fault_config.h"

namespace remora::filters::http::fault {
namespace {

using ::testing::HasSubstr;

FaultSettings::Proto parse(const std::string& json) {
  FaultSettings::Proto proto;
  auto status = google::protobuf::util::JsonStringToMessage(json, &proto);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return proto;
}

std::shared_ptr<const FaultSettings> settings(const std::string& json) {
  auto s = FaultSettings::create(parse(json));
  EXPECT_TRUE(s.ok()) << s.status().message();
  return s.ok() ? s.value() : nullptr;
}

remora::http::HeaderMap headers(std::initializer_list<std::pair<std::string, std::string>> list) {
  remora::http::HeaderMap h;
  for (const auto& [k, v] : list) h.add(k, v);
  return h;
}

TEST(FaultConfigTest, FixedAbortAndDelay) {
  auto s = settings(R"({"abort":{"http_status":503,"percentage":{"numerator":100}},
                        "delay":{"fixed_delay":"0.25s","percentage":{"numerator":50}}})");
  ASSERT_TRUE(s && s->abort() && s->delay());
  auto status = s->abort()->statusFor(headers({}));
  ASSERT_TRUE(status);
  EXPECT_EQ(status->http_status, 503u);
  EXPECT_FALSE(status->grpc_status);
  EXPECT_EQ(s->delay()->durationFor(headers({})), std::chrono::milliseconds(250));
  // The fault headers do not apply to fixed faults.
  EXPECT_EQ(s->delay()->durationFor(headers({{"x-envoy-fault-delay-request", "9"}})),
            std::chrono::milliseconds(250));
  auto p =
      s->delay()->percentage.forRequest(headers({{"x-envoy-fault-delay-request-percentage", "1"}}));
  EXPECT_EQ(p.numerator(), 50u);
  EXPECT_EQ(p.denominator(), 100u);
}

TEST(FaultConfigTest, AbsentPercentageIsZero) {
  auto s = settings(R"({"abort":{"http_status":500}})");
  ASSERT_TRUE(s && s->abort());
  EXPECT_EQ(s->abort()->percentage.configured.numerator(), 0u);
  EXPECT_FALSE(s->abort()->percentage.configured.enabled(0));
}

TEST(FaultConfigTest, GrpcAbortAnswers200WithTheStatus) {
  auto s = settings(R"({"abort":{"grpc_status":14,"percentage":{"numerator":100}}})");
  auto status = s->abort()->statusFor(headers({}));
  ASSERT_TRUE(status);
  EXPECT_EQ(status->http_status, 200u);
  EXPECT_EQ(status->grpc_status, 14u);
}

TEST(FaultConfigTest, HeaderAbortReadsTheRequest) {
  auto s = settings(
      R"({"abort":{"header_abort":{},"percentage":{"numerator":80,"denominator":"TEN_THOUSAND"}}})");
  ASSERT_TRUE(s && s->abort());
  const auto& abort = *s->abort();
  EXPECT_FALSE(abort.statusFor(headers({})));
  EXPECT_FALSE(abort.statusFor(headers({{"x-envoy-fault-abort-request", "abc"}})));
  EXPECT_FALSE(abort.statusFor(headers({{"x-envoy-fault-abort-request", "600"}})));
  EXPECT_FALSE(abort.statusFor(headers({{"x-envoy-fault-abort-request", "199"}})));
  EXPECT_EQ(abort.statusFor(headers({{"x-envoy-fault-abort-request", "429"}}))->http_status, 429u);
  // HTTP wins over gRPC; gRPC alone answers 200.
  auto both = abort.statusFor(
      headers({{"x-envoy-fault-abort-request", "502"}, {"x-envoy-fault-abort-grpc-request", "5"}}));
  EXPECT_EQ(both->http_status, 502u);
  EXPECT_FALSE(both->grpc_status);
  auto grpc = abort.statusFor(headers({{"x-envoy-fault-abort-grpc-request", "5"}}));
  EXPECT_EQ(grpc->http_status, 200u);
  EXPECT_EQ(grpc->grpc_status, 5u);
  // The header percentage narrows the configured one and keeps its denominator.
  auto narrowed =
      abort.percentage.forRequest(headers({{"x-envoy-fault-abort-request-percentage", "7"}}));
  EXPECT_EQ(narrowed.numerator(), 7u);
  EXPECT_EQ(narrowed.denominator(), 10000u);
  auto capped =
      abort.percentage.forRequest(headers({{"x-envoy-fault-abort-request-percentage", "5000"}}));
  EXPECT_EQ(capped.numerator(), 80u);
  auto bad =
      abort.percentage.forRequest(headers({{"x-envoy-fault-abort-request-percentage", "-1"}}));
  EXPECT_EQ(bad.numerator(), 80u);
}

TEST(FaultConfigTest, HeaderDelayReadsTheRequest) {
  auto s = settings(R"({"delay":{"header_delay":{},"percentage":{"numerator":100}}})");
  const auto& delay = *s->delay();
  EXPECT_FALSE(delay.durationFor(headers({})));
  EXPECT_FALSE(delay.durationFor(headers({{"x-envoy-fault-delay-request", "0"}})));
  EXPECT_FALSE(delay.durationFor(headers({{"x-envoy-fault-delay-request", "1s"}})));
  EXPECT_EQ(delay.durationFor(headers({{"x-envoy-fault-delay-request", "120"}})),
            std::chrono::milliseconds(120));
}

TEST(FaultConfigTest, ResponseRateLimit) {
  auto fixed = settings(
      R"({"response_rate_limit":{"fixed_limit":{"limit_kbps":64},"percentage":{"numerator":100}}})");
  EXPECT_EQ(fixed->responseRateLimit()->kbpsFor(headers({})), 64u);
  auto header =
      settings(R"({"response_rate_limit":{"header_limit":{},"percentage":{"numerator":100}}})");
  const auto& limit = *header->responseRateLimit();
  EXPECT_FALSE(limit.kbpsFor(headers({})));
  EXPECT_FALSE(limit.kbpsFor(headers({{"x-envoy-fault-throughput-response", "0"}})));
  EXPECT_EQ(limit.kbpsFor(headers({{"x-envoy-fault-throughput-response", "8"}})), 8u);
}

TEST(FaultConfigTest, Selectors) {
  auto s = settings(R"({"downstream_nodes":["n1","n2"],
                        "headers":[{"name":"x-user","string_match":{"exact":"tester"}}],
                        "max_active_faults":3,"upstream_cluster":"reviews",
                        "disable_downstream_cluster_stats":true})");
  EXPECT_FALSE(s->matchesDownstreamNode(headers({})));
  EXPECT_FALSE(s->matchesDownstreamNode(headers({{"x-envoy-downstream-service-node", "n3"}})));
  EXPECT_TRUE(s->matchesDownstreamNode(headers({{"x-envoy-downstream-service-node", "n2"}})));
  EXPECT_FALSE(s->matchesHeaders(headers({{"x-user", "other"}})));
  EXPECT_TRUE(s->matchesHeaders(headers({{"x-user", "tester"}})));
  EXPECT_EQ(s->maxActiveFaults(), 3u);
  EXPECT_EQ(s->upstreamCluster(), "reviews");
  EXPECT_FALSE(s->downstreamClusterStats());
  auto open = settings("{}");
  EXPECT_TRUE(open->matchesDownstreamNode(headers({})));
  EXPECT_TRUE(open->matchesHeaders(headers({})));
  EXPECT_FALSE(open->maxActiveFaults());
  EXPECT_TRUE(open->downstreamClusterStats());
}

TEST(FaultConfigTest, BadHeaderMatcherNamesItsPath) {
  auto s = FaultSettings::create(
      parse(R"({"headers":[{"name":"a","safe_regex_match":{"regex":"("}}]})"));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("headers[0]"));
}

TEST(FaultConfigTest, UnimplementedFieldsAreRejected) {
  auto proto = parse(R"({"filter_metadata":{"k":"v"}})");
  EXPECT_THAT(config::checkSupportedFields(proto).message(),
              HasSubstr("not supported by remora: filter_metadata"));
  EXPECT_FALSE(FaultSettings::create(proto).ok());
  // The runtime key names are accepted: with no runtime layer the config's values apply.
  EXPECT_TRUE(config::checkSupportedFields(parse(R"({"abort_percent_runtime":"k"})")).ok());
}

TEST(FaultConfigTest, StatsLiveUnderTheConnectionManagersPrefix) {
  stats::Store store(1);
  store.bindThread(0);
  FaultFilterConfig config(settings("{}"), store, "http.ingress.");
  config.stats().aborts_injected.inc();
  config.incDownstreamClusterCounter("frontend", "aborts_injected");
  bool seen_total = false, seen_cluster = false, seen_gauge = false;
  store.forEachCounter([&](const stats::Counter& c) {
    seen_total |= c.name() == "http.ingress.fault.aborts_injected" && c.value() == 1;
    seen_cluster |= c.name() == "http.ingress.fault.frontend.aborts_injected" && c.value() == 1;
  });
  store.forEachGauge(
      [&](const stats::Gauge& g) { seen_gauge |= g.name() == "http.ingress.fault.active_faults"; });
  EXPECT_TRUE(seen_total);
  EXPECT_TRUE(seen_cluster);
  EXPECT_TRUE(seen_gauge);
}

}  // namespace
}  // namespace remora::filters::http::fault
