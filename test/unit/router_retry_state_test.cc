// RetryState: which answers and resets are retried, the request headers that steer it, and
// Envoy's jittered exponential back-off.
#include <gtest/gtest.h>

#include "router/retry_state.h"
#include "router/route_action.h"
#include "router_test_util.h"

namespace remora::router::test {
namespace {

RetryPolicy policy(std::vector<std::string> retry_on, uint32_t num_retries = 1) {
  RetryPolicy p;
  p.retry_on = std::move(retry_on);
  p.num_retries = num_retries;
  return p;
}

TEST(RouterRetryStateTest, NothingAskedNoState) {
  EXPECT_FALSE(RetryState::create(nullptr, request("a", "/")).has_value());
  RetryPolicy empty = policy({});
  EXPECT_FALSE(RetryState::create(&empty, request("a", "/")).has_value());
  // x-envoy-max-retries alone enables nothing.
  EXPECT_FALSE(
      RetryState::create(nullptr, request("a", "/", {{"x-envoy-max-retries", "3"}})).has_value());
}

TEST(RouterRetryStateTest, StatusConditions) {
  RetryPolicy p = policy({"gateway-error", "retriable-4xx", "retriable-status-codes"});
  p.retriable_status_codes = {418};
  auto state = RetryState::create(&p, request("a", "/"));
  ASSERT_TRUE(state.has_value());
  for (uint32_t code : {502u, 503u, 504u, 409u, 418u})
    EXPECT_TRUE(state->wouldRetryOnStatus(code)) << code;
  for (uint32_t code : {500u, 501u, 404u, 200u})
    EXPECT_FALSE(state->wouldRetryOnStatus(code)) << code;
}

TEST(RouterRetryStateTest, ResetConditions) {
  RetryPolicy connect_only = policy({"connect-failure"});
  auto state = RetryState::create(&connect_only, request("a", "/"));
  ASSERT_TRUE(state.has_value());
  EXPECT_TRUE(state->wouldRetryOnReset(http::StreamResetReason::RemoteConnectionFailure, true));
  EXPECT_FALSE(state->wouldRetryOnReset(http::StreamResetReason::ConnectionTermination, false));
  // A reset before the response counts as a 5xx (Envoy); overflow is never retried.
  RetryPolicy five = policy({"5xx"});
  state = RetryState::create(&five, request("a", "/"));
  EXPECT_TRUE(state->wouldRetryOnReset(http::StreamResetReason::ConnectionTermination, false));
  EXPECT_TRUE(state->wouldRetryOnReset(http::StreamResetReason::LocalReset, false));
  EXPECT_FALSE(state->wouldRetryOnReset(http::StreamResetReason::Overflow, false));
  // refused-stream retries only an HTTP/2 REFUSED_STREAM.
  RetryPolicy refused = policy({"refused-stream"});
  state = RetryState::create(&refused, request("a", "/"));
  ASSERT_TRUE(state.has_value());
  EXPECT_TRUE(state->wouldRetryOnReset(http::StreamResetReason::RemoteRefusedStreamReset, false));
  EXPECT_FALSE(state->wouldRetryOnReset(http::StreamResetReason::RemoteReset, false));
  EXPECT_FALSE(state->wouldRetryOnReset(http::StreamResetReason::ConnectionTermination, false));
}

TEST(RouterRetryStateTest, RequestHeadersAddConditionsAndCount) {
  RetryPolicy p = policy({"connect-failure"}, 5);
  auto state = RetryState::create(&p, request("a", "/",
                                              {{"x-envoy-retry-on", "retriable-status-codes, 5xx"},
                                               {"x-envoy-max-retries", "2"},
                                               {"x-envoy-retriable-status-codes", "418,x, 429"}}));
  ASSERT_TRUE(state.has_value());
  EXPECT_TRUE(state->wouldRetryOnStatus(500));
  EXPECT_TRUE(state->wouldRetryOnStatus(418));
  EXPECT_TRUE(state->wouldRetryOnStatus(429));
  EXPECT_TRUE(state->takeRetry());
  EXPECT_TRUE(state->takeRetry());
  EXPECT_FALSE(state->takeRetry());
  EXPECT_TRUE(state->exhausted());
  // Without a route policy, the header's conditions get Envoy's default of one retry.
  state = RetryState::create(nullptr, request("a", "/", {{"x-envoy-retry-on", "5xx"}}));
  ASSERT_TRUE(state.has_value());
  EXPECT_TRUE(state->takeRetry());
  EXPECT_FALSE(state->takeRetry());
}

TEST(RouterRetryStateTest, BackOffIsJitteredExponentialAndCapped) {
  RetryPolicy p = policy({"5xx"}, 10);
  p.base_interval = std::chrono::milliseconds(10);
  p.max_interval = std::chrono::milliseconds(50);
  // Retry n waits in [0, (2^n - 1) × base), capped at max: [0,10), [0,30), then [0,50].
  std::vector<int64_t> ceilings = {9, 29, 50, 50, 50, 50};
  std::vector<int64_t> seen_max(ceilings.size(), 0);
  for (int run = 0; run < 300; ++run) {
    auto state = RetryState::create(&p, request("a", "/"));
    for (size_t i = 0; i < ceilings.size(); ++i) {
      int64_t ms = state->nextBackOff().count();
      EXPECT_GE(ms, 0);
      EXPECT_LE(ms, ceilings[i]) << "retry " << i + 1;
      seen_max[i] = std::max(seen_max[i], ms);
    }
  }
  // Jittered, not fixed: over 300 runs the later intervals spread out past the first's range.
  EXPECT_GT(seen_max[2], 30);
  EXPECT_GT(seen_max[1], 10);
}

}  // namespace
}  // namespace remora::router::test

namespace remora::router::test {
namespace {

http::ResponseHeaderMap grpcResponse(const char* grpc_status) {
  http::ResponseHeaderMap headers;
  headers.set(":status", "200");
  headers.set("content-type", "application/grpc");
  if (grpc_status != nullptr) headers.set("grpc-status", grpc_status);
  return headers;
}

TEST(RouterRetryStateTest, GrpcConditionsFromTheRoutePolicy) {
  // A route's retry_on takes HTTP and gRPC names alike (Envoy's RetryPolicyImpl).
  RetryPolicy p = policy({"5xx,unavailable", "deadline-exceeded"});
  auto state = RetryState::create(&p, request("a", "/"));
  ASSERT_TRUE(state.has_value());
  EXPECT_TRUE(state->wouldRetryOnResponse(grpcResponse("14")));
  EXPECT_TRUE(state->wouldRetryOnResponse(grpcResponse("4")));
  for (const char* no : {"0", "1", "8", "13", "abc"})
    EXPECT_FALSE(state->wouldRetryOnResponse(grpcResponse(no))) << no;
  EXPECT_FALSE(state->wouldRetryOnResponse(grpcResponse(nullptr)));
  http::ResponseHeaderMap five;
  five.set(":status", "503");
  EXPECT_TRUE(state->wouldRetryOnResponse(five));

  RetryPolicy all = policy({"cancelled,resource-exhausted,internal"});
  state = RetryState::create(&all, request("a", "/"));
  for (const char* yes : {"1", "8", "13"})
    EXPECT_TRUE(state->wouldRetryOnResponse(grpcResponse(yes)));
  EXPECT_FALSE(state->wouldRetryOnResponse(grpcResponse("14")));
}

TEST(RouterRetryStateTest, GrpcConditionsOnlyFromTheirOwnHeader) {
  // x-envoy-retry-grpc-on carries the gRPC conditions; x-envoy-retry-on ignores them.
  auto none = RetryState::create(nullptr, request("a", "/", {{"x-envoy-retry-on", "unavailable"}}));
  EXPECT_FALSE(none.has_value());
  auto state = RetryState::create(
      nullptr, request("a", "/", {{"x-envoy-retry-grpc-on", "unavailable, cancelled"}}));
  ASSERT_TRUE(state.has_value());
  EXPECT_TRUE(state->wouldRetryOnResponse(grpcResponse("14")));
  EXPECT_TRUE(state->wouldRetryOnResponse(grpcResponse("1")));
  EXPECT_FALSE(state->wouldRetryOnResponse(grpcResponse("4")));
  // ... and gRPC names do not leak into the HTTP conditions.
  EXPECT_FALSE(RetryState::create(nullptr, request("a", "/", {{"x-envoy-retry-grpc-on", "5xx"}}))
                   .has_value());
}

}  // namespace
}  // namespace remora::router::test
