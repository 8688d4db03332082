#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "filters/http/local_ratelimit/token_bucket.h"

namespace remora::filters::http::local_ratelimit {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

const Clock::time_point kStart = Clock::now();

uint32_t drain(TokenBucket& bucket, Clock::time_point at) {
  uint32_t taken = 0;
  while (bucket.consume(at)) ++taken;
  return taken;
}

TEST(TokenBucketTest, StartsFullAndEmpties) {
  TokenBucket bucket(3, 1, milliseconds(1000), kStart);
  EXPECT_EQ(bucket.remainingTokens(kStart), 3u);
  EXPECT_EQ(drain(bucket, kStart), 3u);
  EXPECT_FALSE(bucket.consume(kStart + milliseconds(999)));
  EXPECT_EQ(bucket.remainingTokens(kStart), 0u);
}

TEST(TokenBucketTest, RefillsAtIntervalBoundariesUpToMax) {
  TokenBucket bucket(5, 2, milliseconds(100), kStart);
  EXPECT_EQ(drain(bucket, kStart), 5u);
  // Nothing before the first boundary; tokens_per_fill at it.
  EXPECT_FALSE(bucket.consume(kStart + milliseconds(99)));
  EXPECT_EQ(bucket.remainingTokens(kStart + milliseconds(100)), 2u);
  EXPECT_EQ(drain(bucket, kStart + milliseconds(150)), 2u);
  // Two more boundaries passed: two fills, still capped at max_tokens.
  EXPECT_EQ(bucket.remainingTokens(kStart + milliseconds(350)), 4u);
  EXPECT_EQ(bucket.remainingTokens(kStart + milliseconds(10'000)), 5u);
  EXPECT_EQ(drain(bucket, kStart + milliseconds(10'000)), 5u);
}

TEST(TokenBucketTest, FillsAreNotCountedTwice) {
  TokenBucket bucket(10, 1, milliseconds(100), kStart);
  EXPECT_EQ(drain(bucket, kStart), 10u);
  EXPECT_EQ(drain(bucket, kStart + milliseconds(250)), 2u);
  // Same interval again: the two fills were already used.
  EXPECT_EQ(drain(bucket, kStart + milliseconds(299)), 0u);
  EXPECT_EQ(drain(bucket, kStart + milliseconds(300)), 1u);
}

TEST(TokenBucketTest, AnEarlierClockReadingAddsNothing) {
  // Workers read the time at slightly different moments.
  TokenBucket bucket(4, 4, milliseconds(100), kStart);
  EXPECT_EQ(drain(bucket, kStart + milliseconds(100)), 4u);
  EXPECT_FALSE(bucket.consume(kStart + milliseconds(50)));
  EXPECT_FALSE(bucket.consume(kStart + milliseconds(199)));
  EXPECT_EQ(drain(bucket, kStart + milliseconds(200)), 4u);
}

TEST(TokenBucketTest, NoFillIntervalNeverRefills) {
  TokenBucket bucket(2, 1, milliseconds(0), kStart);
  EXPECT_EQ(drain(bucket, kStart), 2u);
  EXPECT_FALSE(bucket.consume(kStart + milliseconds(100'000)));
  TokenBucket empty(0, 1, milliseconds(0), kStart);
  EXPECT_FALSE(empty.consume(kStart));
}

TEST(TokenBucketTest, ResetSecondsAsEnvoy) {
  // fill_interval minus the whole seconds since the last fill, in whole seconds.
  TokenBucket minute(1, 1, milliseconds(60'000), kStart);
  EXPECT_EQ(minute.resetSeconds(kStart), 60u);
  EXPECT_EQ(minute.resetSeconds(kStart + milliseconds(10'500)), 50u);
  EXPECT_EQ(minute.resetSeconds(kStart + milliseconds(60'000 + 1'200)), 59u);
  TokenBucket second(1, 1, milliseconds(1000), kStart);
  EXPECT_EQ(second.resetSeconds(kStart + milliseconds(300)), 1u);
  TokenBucket fast(1, 1, milliseconds(500), kStart);
  EXPECT_EQ(fast.resetSeconds(kStart + milliseconds(100)), 0u);
}

TEST(TokenBucketTest, ConcurrentConsumersNeverOverdraw) {
  // Shared by workers without a lock: exactly max_tokens succeed, however the threads interleave.
  constexpr uint32_t kTokens = 20000;
  TokenBucket bucket(kTokens, 1, milliseconds(60'000), kStart);
  std::atomic<uint32_t> taken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      uint32_t mine = 0;
      for (uint32_t i = 0; i < kTokens; ++i) mine += bucket.consume(kStart) ? 1 : 0;
      taken += mine;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(taken.load(), kTokens);
  EXPECT_EQ(bucket.remainingTokens(kStart), 0u);
}

}  // namespace
}  // namespace remora::filters::http::local_ratelimit
