#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "stats/store.h"

namespace remora::stats {
namespace {

// The reference: linear interpolation between the closest ranks of the sorted samples.
double referenceQuantile(const std::vector<uint64_t>& sorted, double q) {
  const double rank = q * static_cast<double>(sorted.size() - 1);
  const size_t low = static_cast<size_t>(rank);
  const double fraction = rank - static_cast<double>(low);
  if (low + 1 >= sorted.size()) return static_cast<double>(sorted[low]);
  return static_cast<double>(sorted[low]) +
         fraction * (static_cast<double>(sorted[low + 1]) - static_cast<double>(sorted[low]));
}

std::vector<double> cumulativeQuantiles(const Histogram& h) {
  auto stats = Histogram::statisticsOf(h.cumulativeData());
  return {stats.quantiles.begin(), stats.quantiles.end()};
}

// Each estimated sample lies in the bucket of the true one, and buckets are at most 1/64 of their
// lower bound wide, so every quantile is within 1/64 of the reference.
void expectAccurate(std::vector<uint64_t> values, const char* what) {
  Store store(1);
  store.bindThread(0);
  Histogram& h = store.histogram("h");
  uint64_t sum = 0;
  for (uint64_t v : values) {
    h.recordValue(v);
    sum += v;
  }
  std::sort(values.begin(), values.end());
  const HistogramData data = h.cumulativeData();
  EXPECT_EQ(data.sample_count, values.size()) << what;
  EXPECT_EQ(data.sample_sum, sum) << what;
  const auto q = cumulativeQuantiles(h);
  for (size_t i = 0; i < kSupportedQuantiles.size(); ++i) {
    const double want = referenceQuantile(values, kSupportedQuantiles[i]);
    EXPECT_NEAR(q[i], want, want / 64 + 1e-9) << what << " P" << 100 * kSupportedQuantiles[i];
  }
  // Finer quantiles hold the same bound.
  for (int permille = 0; permille <= 1000; permille += 7) {
    const double qq = permille / 1000.0;
    double got;
    data.quantiles(std::span<const double>(&qq, 1), std::span<double>(&got, 1));
    const double want = referenceQuantile(values, qq);
    EXPECT_NEAR(got, want, want / 64 + 1e-9) << what << " q=" << qq;
  }
}

TEST(HistogramBucketsTest, LayoutIsContiguousAndFine) {
  EXPECT_EQ(buckets::indexOf(0), 0u);
  EXPECT_EQ(buckets::indexOf(127), 127u);
  EXPECT_EQ(buckets::indexOf(128), 128u);
  EXPECT_EQ(buckets::indexOf(buckets::kMaxValue), buckets::kCount - 1);
  EXPECT_EQ(buckets::indexOf(std::numeric_limits<uint64_t>::max()), buckets::kCount - 1);
  uint64_t next = 0;
  for (uint32_t i = 0; i < buckets::kCount; ++i) {
    ASSERT_EQ(buckets::lowerOf(i), next) << i;  // no gap, no overlap
    const uint64_t width = buckets::widthOf(i);
    ASSERT_EQ(buckets::indexOf(next), i);
    ASSERT_EQ(buckets::indexOf(next + width - 1), i);
    ASSERT_LE(width * 64, std::max<uint64_t>(next, 64)) << i;  // at most 1/64 wide
    next += width;
  }
  EXPECT_EQ(next, buckets::kMaxValue + 1);
}

TEST(HistogramTest, QuantilesMatchSortedReference) {
  std::mt19937_64 rng(42);
  {
    std::uniform_int_distribution<uint64_t> d(0, 1000);
    std::vector<uint64_t> v(20000);
    for (auto& x : v) x = d(rng);
    expectAccurate(v, "uniform 0..1000");
  }
  {
    std::lognormal_distribution<double> d(3.0, 1.5);  // latencies: a long right tail
    std::vector<uint64_t> v(50000);
    for (auto& x : v) x = static_cast<uint64_t>(d(rng));
    expectAccurate(v, "lognormal");
  }
  {
    std::exponential_distribution<double> d(1e-6);
    std::vector<uint64_t> v(10000);
    for (auto& x : v) x = static_cast<uint64_t>(d(rng));
    expectAccurate(v, "exponential, mean 1e6");
  }
  {
    // Bimodal: most requests fast, some delayed (what the integration test does).
    std::normal_distribution<double> fast(5, 1), slow(400, 20);
    std::vector<uint64_t> v;
    for (int i = 0; i < 9000; ++i) v.push_back(static_cast<uint64_t>(std::max(0.0, fast(rng))));
    for (int i = 0; i < 1000; ++i) v.push_back(static_cast<uint64_t>(slow(rng)));
    std::shuffle(v.begin(), v.end(), rng);
    expectAccurate(v, "bimodal");
  }
  expectAccurate({7}, "one sample");
  expectAccurate({3, 1, 2}, "three exact samples");
  expectAccurate({1000, 1000000, 1000000000}, "sparse");
}

TEST(HistogramTest, EdgeValues) {
  expectAccurate(std::vector<uint64_t>(100, 0), "all zero");
  Store store(1);
  store.bindThread(0);
  Histogram& h = store.histogram("h");
  h.recordValue(0);
  h.recordValue(std::numeric_limits<uint64_t>::max());  // clamped into the last bucket
  const auto q = cumulativeQuantiles(h);
  EXPECT_EQ(q[0], 0);
  EXPECT_GE(q[9], static_cast<double>(buckets::lowerOf(buckets::kCount - 1)));
  EXPECT_LE(q[9], static_cast<double>(buckets::kMaxValue));
  EXPECT_EQ(h.cumulativeData().sample_count, 2u);
  // Exact values below 128: P50 of {0, 1} interpolates as a sorted array does.
  Histogram& small = store.histogram("small");
  small.recordValue(0);
  small.recordValue(1);
  EXPECT_DOUBLE_EQ(cumulativeQuantiles(small)[2], 0.5);
}

TEST(HistogramTest, UnusedHasNaNQuantiles) {
  Store store(2);
  store.bindThread(0);
  Histogram& h = store.histogram("h");
  EXPECT_FALSE(h.used());
  for (double q : cumulativeQuantiles(h)) EXPECT_TRUE(std::isnan(q));
  for (double q : h.intervalStatistics().quantiles) EXPECT_TRUE(std::isnan(q));
  store.mergeHistograms();
  for (double q : h.intervalStatistics().quantiles) EXPECT_TRUE(std::isnan(q));
  h.recordValue(5);
  EXPECT_TRUE(h.used());
  EXPECT_EQ(&store.histogram("h"), &h);
}

TEST(HistogramTest, MergesAcrossThreads) {
  constexpr uint32_t kThreads = 4;
  Store store(kThreads + 1);
  store.bindThread(0);
  Histogram& h = store.histogram("cluster.a.upstream_rq_time");
  std::vector<std::thread> threads;
  for (uint32_t slot = 1; slot <= kThreads; ++slot) {
    threads.emplace_back([&, slot] {
      store.bindThread(slot);
      // Thread k records k*1000 .. k*1000+999: the union is 1000..4999.
      for (uint64_t v = 0; v < 1000; ++v) h.recordValue(slot * 1000 + v);
    });
  }
  for (auto& t : threads) t.join();
  std::vector<uint64_t> all;
  for (uint64_t v = 1000; v < 5000; ++v) all.push_back(v);
  const HistogramData data = h.cumulativeData();
  EXPECT_EQ(data.sample_count, all.size());
  EXPECT_EQ(data.sample_sum, (1000 + 4999) * 4000 / 2);
  const auto q = cumulativeQuantiles(h);
  for (size_t i = 0; i < kSupportedQuantiles.size(); ++i) {
    const double want = referenceQuantile(all, kSupportedQuantiles[i]);
    EXPECT_NEAR(q[i], want, want / 64);
  }
  store.mergeHistograms();
  EXPECT_EQ(h.intervalStatistics().sample_count, all.size());
  EXPECT_EQ(h.intervalStatistics().quantiles, Histogram::statisticsOf(data).quantiles);
}

TEST(HistogramTest, IntervalIsTheLastFlushPeriod) {
  Store store(3);
  store.bindThread(0);
  Histogram& h = store.histogram("h");
  for (int i = 0; i < 100; ++i) h.recordValue(10);
  store.mergeHistograms();  // interval 1: a hundred 10s
  EXPECT_EQ(h.intervalStatistics().sample_count, 100u);
  EXPECT_EQ(h.intervalStatistics().sample_sum, 1000u);
  EXPECT_EQ(h.intervalStatistics().quantiles[2], 10);

  std::thread worker([&] {
    store.bindThread(2);
    for (int i = 0; i < 100; ++i) h.recordValue(50);
  });
  worker.join();
  // Before the next flush the interval view stays; the cumulative one already has everything.
  EXPECT_EQ(h.intervalStatistics().quantiles[9], 10);
  EXPECT_EQ(h.cumulativeData().sample_count, 200u);
  EXPECT_NEAR(cumulativeQuantiles(h)[9], 50, 0);
  EXPECT_NEAR(cumulativeQuantiles(h)[0], 10, 0);

  store.mergeHistograms();  // interval 2: only the 50s
  EXPECT_EQ(h.intervalStatistics().sample_count, 100u);
  EXPECT_EQ(h.intervalStatistics().quantiles[0], 50);
  EXPECT_EQ(h.cumulativeData().sample_count, 200u);

  store.mergeHistograms();  // interval 3: nothing
  EXPECT_EQ(h.intervalStatistics().sample_count, 0u);
  for (double q : h.intervalStatistics().quantiles) EXPECT_TRUE(std::isnan(q));
  EXPECT_EQ(h.cumulativeData().sample_count, 200u);
  EXPECT_EQ(h.cumulativeData().sample_sum, 6000u);
}

TEST(HistogramTest, CountAtMostForPrometheusBuckets) {
  Store store(1);
  store.bindThread(0);
  Histogram& h = store.histogram("h");
  for (uint64_t v : {0, 1, 1, 4, 5, 99, 100, 101, 2400, 2600, 4000000}) h.recordValue(v);
  const HistogramData data = h.cumulativeData();
  EXPECT_EQ(data.countAtMost(0.5), 1u);
  EXPECT_EQ(data.countAtMost(1), 3u);
  EXPECT_EQ(data.countAtMost(5), 5u);
  EXPECT_EQ(data.countAtMost(100), 7u);
  EXPECT_EQ(data.countAtMost(2500), 9u);
  EXPECT_EQ(data.countAtMost(3600000), 10u);
  EXPECT_EQ(data.countAtMost(1e18), 11u);
  uint64_t previous = 0;
  for (double bound : kDefaultBucketBounds) {
    EXPECT_GE(data.countAtMost(bound), previous);
    previous = data.countAtMost(bound);
  }
  // A bound inside a bucket ([2496, 2527] holds 2500) splits its samples by where they lie.
  Histogram& spread = store.histogram("spread");
  for (uint64_t v = 2496; v <= 2527; ++v) spread.recordValue(v);
  EXPECT_NEAR(static_cast<double>(spread.cumulativeData().countAtMost(2500)), 5, 1);
}

}  // namespace
}  // namespace remora::stats
