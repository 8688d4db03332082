#include "upstream/health_checker.h"

#include <gtest/gtest.h>

#include "upstream/grpc_health_checker.h"
#include "upstream/tcp_health_checker.h"

namespace remora::upstream {
namespace {

using std::chrono::milliseconds;

HealthCheckTiming timing(uint32_t unhealthy, uint32_t healthy) {
  HealthCheckTiming t;
  t.unhealthy_threshold = unhealthy;
  t.healthy_threshold = healthy;
  t.interval = milliseconds(1000);
  t.unhealthy_interval = milliseconds(2000);
  t.unhealthy_edge_interval = milliseconds(300);
  t.healthy_edge_interval = milliseconds(400);
  t.no_traffic_interval = milliseconds(60000);
  return t;
}

TEST(HostHealthStateTest, FirstSuccessMakesANewHostHealthyAtOnce) {
  auto t = timing(2, 3);
  HostHealthState state(t, false);
  EXPECT_FALSE(state.checked());
  EXPECT_EQ(state.onSuccess(), HealthTransition::Changed);
  EXPECT_TRUE(state.healthy());
  EXPECT_TRUE(state.checked());
}

TEST(HostHealthStateTest, NetworkFailuresCountToUnhealthyThreshold) {
  auto t = timing(3, 2);
  HostHealthState state(t, true);
  EXPECT_EQ(state.onFailure(FailureType::Network, false), HealthTransition::ChangePending);
  EXPECT_EQ(state.onFailure(FailureType::Network, false), HealthTransition::ChangePending);
  EXPECT_TRUE(state.healthy());
  EXPECT_EQ(state.onFailure(FailureType::Network, false), HealthTransition::Changed);
  EXPECT_FALSE(state.healthy());
  EXPECT_EQ(state.onFailure(FailureType::Network, false), HealthTransition::Unchanged);
}

TEST(HostHealthStateTest, ASuccessResetsTheFailureCount) {
  auto t = timing(2, 1);
  HostHealthState state(t, true);
  EXPECT_EQ(state.onFailure(FailureType::Network, false), HealthTransition::ChangePending);
  EXPECT_EQ(state.onSuccess(), HealthTransition::Unchanged);
  EXPECT_EQ(state.onFailure(FailureType::Network, false), HealthTransition::ChangePending);
  EXPECT_TRUE(state.healthy());
}

TEST(HostHealthStateTest, ActiveFailureIgnoresTheThresholdButRetriableCounts) {
  auto t = timing(5, 1);
  HostHealthState active(t, true);
  EXPECT_EQ(active.onFailure(FailureType::Active, false), HealthTransition::Changed);
  EXPECT_FALSE(active.healthy());
  HostHealthState passive(t, true);
  EXPECT_EQ(passive.onFailure(FailureType::Passive, false), HealthTransition::Changed);
  HostHealthState retriable(t, true);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(retriable.onFailure(FailureType::Active, true), HealthTransition::ChangePending);
  }
  EXPECT_EQ(retriable.onFailure(FailureType::Active, true), HealthTransition::Changed);
}

TEST(HostHealthStateTest, RecoveryNeedsHealthyThresholdAfterTheFirstCheck) {
  auto t = timing(1, 3);
  HostHealthState state(t, true);
  EXPECT_EQ(state.onFailure(FailureType::Active, false), HealthTransition::Changed);
  EXPECT_EQ(state.onSuccess(), HealthTransition::ChangePending);
  EXPECT_EQ(state.onSuccess(), HealthTransition::ChangePending);
  // A failure in between starts the count again.
  EXPECT_EQ(state.onFailure(FailureType::Network, false), HealthTransition::Unchanged);
  EXPECT_EQ(state.onSuccess(), HealthTransition::ChangePending);
  EXPECT_EQ(state.onSuccess(), HealthTransition::ChangePending);
  EXPECT_EQ(state.onSuccess(), HealthTransition::Changed);
  EXPECT_TRUE(state.healthy());
}

TEST(HostHealthStateTest, IntervalFollowsResultTransitionAndTraffic) {
  auto t = timing(2, 2);
  HostHealthState state(t, true);
  EXPECT_EQ(state.nextInterval(true, HealthTransition::Unchanged, false, 0), milliseconds(60000));
  EXPECT_EQ(state.nextInterval(true, HealthTransition::Unchanged, true, 0), milliseconds(1000));
  EXPECT_EQ(state.nextInterval(true, HealthTransition::ChangePending, true, 0), milliseconds(400));
  EXPECT_EQ(state.nextInterval(false, HealthTransition::Unchanged, true, 0), milliseconds(2000));
  EXPECT_EQ(state.nextInterval(false, HealthTransition::Changed, true, 0), milliseconds(2000));
  EXPECT_EQ(state.nextInterval(false, HealthTransition::ChangePending, true, 0), milliseconds(300));
}

TEST(HealthCheckTimingTest, DefaultsFollowEnvoy) {
  envoy::config::core::v3::HealthCheck proto;
  proto.mutable_timeout()->set_nanos(500'000'000);
  proto.mutable_interval()->set_seconds(3);
  proto.mutable_unhealthy_threshold()->set_value(2);
  proto.mutable_healthy_threshold()->set_value(4);
  HealthCheckTiming t(proto);
  EXPECT_EQ(t.timeout, milliseconds(500));
  EXPECT_EQ(t.interval, milliseconds(3000));
  EXPECT_EQ(t.no_traffic_interval, milliseconds(60000));
  EXPECT_EQ(t.unhealthy_interval, milliseconds(3000));
  EXPECT_EQ(t.unhealthy_edge_interval, milliseconds(3000));
  EXPECT_EQ(t.healthy_edge_interval, milliseconds(3000));
  EXPECT_TRUE(t.reuse_connection);
  proto.mutable_unhealthy_interval()->set_seconds(7);
  proto.mutable_reuse_connection()->set_value(false);
  HealthCheckTiming u(proto);
  EXPECT_EQ(u.unhealthy_edge_interval, milliseconds(7000));
  EXPECT_FALSE(u.reuse_connection);
}

TEST(JitterTest, StaysWithinConfiguredBounds) {
  HealthCheckTiming t;
  t.interval_jitter = milliseconds(50);
  t.interval_jitter_percent = 10;
  uint64_t lowest = UINT64_MAX;
  uint64_t highest = 0;
  uint64_t seed = 12345;
  for (int i = 0; i < 10000; ++i) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    const auto ms = static_cast<uint64_t>(intervalWithJitter(t, 1000, seed, seed >> 17).count());
    lowest = std::min(lowest, ms);
    highest = std::max(highest, ms);
  }
  // 1000 + [0, 100) percent jitter + [0, 50) fixed jitter, and the whole span is used.
  EXPECT_GE(lowest, 1000u);
  EXPECT_LT(lowest, 1010u);
  EXPECT_LT(highest, 1149u + 1);
  EXPECT_GT(highest, 1135u);
}

TEST(JitterTest, NoneConfiguredMeansTheBase) {
  HealthCheckTiming t;
  EXPECT_EQ(intervalWithJitter(t, 1234, 99, 77), milliseconds(1234));
}

TEST(PayloadTest, HexTextAndFuzzyInOrderMatch) {
  envoy::config::core::v3::HealthCheck::Payload payload;
  payload.set_text("50494E47");
  EXPECT_EQ(payloadBytes(payload), "PING");
  payload.set_binary(std::string("\0\1", 2));
  EXPECT_EQ(payloadBytes(payload), std::string("\0\1", 2));
  EXPECT_TRUE(payloadsMatch("xxPOyyNG", {"PO", "NG"}));
  EXPECT_FALSE(payloadsMatch("NGxxPO", {"PO", "NG"}));
  EXPECT_FALSE(payloadsMatch("PO", {"PO", "NG"}));
}

TEST(GrpcHealthTest, RequestAndResponseEncoding) {
  EXPECT_EQ(GrpcHealthChecker::encodeRequest(""), std::string(5, '\0'));
  EXPECT_EQ(GrpcHealthChecker::encodeRequest("svc"), std::string("\0\0\0\0\5\x0a\3svc", 10));
  EXPECT_EQ(GrpcHealthChecker::decodeResponseStatus(std::string("\0\0\0\0\2\x08\1", 7)), 1);
  EXPECT_EQ(GrpcHealthChecker::decodeResponseStatus(std::string("\0\0\0\0\2\x08\2", 7)), 2);
  // An empty message is status UNKNOWN (0); a truncated frame is not a message.
  EXPECT_EQ(GrpcHealthChecker::decodeResponseStatus(std::string(5, '\0')), 0);
  EXPECT_EQ(GrpcHealthChecker::decodeResponseStatus(std::string("\0\0\0\0\3\x08\1", 7)), -1);
}

TEST(ValidateHealthChecksTest, RejectsWhatEnvoyRejects) {
  envoy::config::cluster::v3::Cluster cluster;
  EXPECT_TRUE(validateHealthChecks(cluster, "c").ok());
  auto* hc = cluster.add_health_checks();
  hc->mutable_tcp_health_check()->mutable_send()->set_text("zz");
  auto status = validateHealthChecks(cluster, "c");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("c.health_checks[0].tcp_health_check.send.text"),
            std::string::npos);
  hc->mutable_tcp_health_check()->mutable_send()->set_text("0a0B");
  EXPECT_TRUE(validateHealthChecks(cluster, "c").ok());
  cluster.add_health_checks()->mutable_tcp_health_check();
  EXPECT_FALSE(validateHealthChecks(cluster, "c").ok());
}

}  // namespace
}  // namespace remora::upstream
