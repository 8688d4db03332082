#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace remora::stats {

// Log-linear buckets, as HdrHistogram: values below kLinearLimit have a bucket each (exact); above,
// every power of two [2^e, 2^(e+1)) is split into kSubBuckets equal buckets, so a bucket is at
// most 1/kSubBuckets (1.6%) of its lower bound wide. Values are integers in the stat's unit
// (milliseconds for the *_ms and *_time stats); values past kMaxValue land in the last bucket.
namespace buckets {
constexpr uint32_t kSubBucketBits = 6;
constexpr uint32_t kSubBuckets = 1u << kSubBucketBits;  // 64
constexpr uint32_t kLinearLimit = 2 * kSubBuckets;      // 128: exact below
constexpr uint32_t kMaxExponent = 36;                   // 2^36 ms is ~795 days
constexpr uint64_t kMaxValue = (uint64_t{1} << kMaxExponent) - 1;
constexpr uint32_t kCount = kLinearLimit + (kMaxExponent - kSubBucketBits - 1) * kSubBuckets;

constexpr uint32_t indexOf(uint64_t value) {
  if (value < kLinearLimit) return static_cast<uint32_t>(value);
  if (value > kMaxValue) value = kMaxValue;
  const uint32_t exponent = 63 - static_cast<uint32_t>(std::countl_zero(value));  // >= 7
  const uint32_t shift = exponent - kSubBucketBits;
  const uint32_t mantissa = static_cast<uint32_t>(value >> shift);  // [64, 128)
  return kLinearLimit + (exponent - kSubBucketBits - 1) * kSubBuckets + (mantissa - kSubBuckets);
}
// The smallest value of bucket `index`.
constexpr uint64_t lowerOf(uint32_t index) {
  if (index < kLinearLimit) return index;
  const uint32_t group = (index - kLinearLimit) / kSubBuckets;
  const uint64_t mantissa = kSubBuckets + (index - kLinearLimit) % kSubBuckets;
  return mantissa << (group + 1);
}
// How many integer values bucket `index` holds.
constexpr uint64_t widthOf(uint32_t index) {
  if (index < kLinearLimit) return 1;
  return uint64_t{1} << ((index - kLinearLimit) / kSubBuckets + 1);
}
}  // namespace buckets

// Envoy's supported quantiles (HistogramStatisticsImpl), in the order the admin prints them.
constexpr std::array<double, 10> kSupportedQuantiles = {0,    0.25, 0.5,   0.75,  0.90,
                                                        0.95, 0.99, 0.995, 0.999, 1};
// Envoy's default bucket bounds (HistogramSettingsImpl::defaultBuckets), for Prometheus.
constexpr std::array<double, 19> kDefaultBucketBounds = {
    0.5,  1,    5,     10,    25,    50,     100,    250,     500,    1000,
    2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000};

// Samples over some period, bucketed as above: what quantiles and Prometheus buckets come from.
struct HistogramData {
  std::vector<uint64_t> counts = std::vector<uint64_t>(buckets::kCount);
  uint64_t sample_count = 0;
  uint64_t sample_sum = 0;

  // Estimates of the quantiles `qs` (ascending, in [0, 1]); NaN each when there are no samples.
  // The i-th smallest sample is estimated inside its bucket, the bucket's samples taken as evenly
  // spread over its values; a quantile interpolates between the two samples around rank
  // q * (count - 1), as a sorted-array reference does. Exact below buckets::kLinearLimit.
  void quantiles(std::span<const double> qs, std::span<double> out) const;
  // Samples <= bound (Prometheus `le`): whole buckets below it, and of the one bucket the bound
  // falls in, the samples placed at or below it as the quantile estimates place them.
  uint64_t countAtMost(double bound) const;

 private:
  double estimateSample(uint64_t rank, uint32_t& bucket, uint64_t& before) const;
};

// What the admin shows of a period: Envoy's computed quantiles plus count and sum.
struct HistogramStatistics {
  uint64_t sample_count = 0;
  uint64_t sample_sum = 0;
  std::array<double, kSupportedQuantiles.size()> quantiles;
};

namespace detail {
extern thread_local uint32_t tls_slot;
}  // namespace detail

// A distribution of values, Envoy's Histogram. recordValue() runs on any bound thread with no
// lock: each thread writes only its own block of bucket counts, allocated on the thread's first
// sample (once per histogram and thread, never again). The main thread merges the blocks: merge()
// on each stats flush closes Envoy's "interval" view; the "cumulative" view is merged on read.
class Histogram {
 public:
  Histogram(std::string name, uint32_t thread_slots);
  ~Histogram();
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void recordValue(uint64_t value) {
    Block* block = blocks_[detail::tls_slot].load(std::memory_order_relaxed);
    if (block == nullptr) [[unlikely]]
      block = allocateBlock();
    auto& count = block->counts[buckets::indexOf(value)];
    count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    block->sum.store(block->sum.load(std::memory_order_relaxed) + value, std::memory_order_relaxed);
  }

  // Records a duration in milliseconds (Envoy's unit for *_ms and *_time stats), truncated as
  // Envoy does; a negative one (clocks read in a different order) counts as 0.
  void recordMilliseconds(std::chrono::nanoseconds duration) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
    recordValue(ms > 0 ? static_cast<uint64_t>(ms) : 0);
  }

  const std::string& name() const { return name_; }
  // Whether any value was ever recorded (Envoy shows "No recorded values" otherwise).
  bool used() const;

  // Main thread only, below.
  // Ends the current interval (Envoy does it on each stats flush): the samples recorded since the
  // previous merge become intervalStatistics().
  void merge();
  // The last completed interval; NaN quantiles before the first merge or when it had no samples.
  const HistogramStatistics& intervalStatistics() const { return interval_; }
  // Every sample recorded so far, all threads merged now.
  HistogramData cumulativeData() const;
  static HistogramStatistics statisticsOf(const HistogramData& data);

 private:
  // One thread's counts. Counts are 32-bit and may wrap: merges work on deltas modulo 2^32, which
  // are exact while no bucket takes 2^32 samples between two merges (hours at any real rate).
  struct Block {
    std::atomic<uint64_t> sum{0};
    std::array<std::atomic<uint32_t>, buckets::kCount> counts{};
  };
  // What the main thread keeps between merges, allocated at the first merge that sees samples.
  struct Merged {
    std::vector<uint64_t> cumulative = std::vector<uint64_t>(buckets::kCount);
    std::vector<uint32_t> last_seen = std::vector<uint32_t>(buckets::kCount);  // totals mod 2^32
    uint64_t last_sum = 0;
  };

  Block* allocateBlock();
  // Every thread's counts added up (modulo 2^32) into `totals`; returns the sum of the values.
  uint64_t sumBlocks(std::vector<uint32_t>& totals) const;

  const std::string name_;
  const uint32_t thread_slots_;
  std::unique_ptr<std::atomic<Block*>[]> blocks_;
  std::unique_ptr<Merged> merged_;
  HistogramStatistics interval_;
};

}  // namespace remora::stats
