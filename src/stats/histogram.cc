#include "stats/histogram.h"

#include <cmath>
#include <limits>

#include "common/assert.h"

namespace remora::stats {

namespace detail {
thread_local uint32_t tls_slot = 0;
}  // namespace detail

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

double HistogramData::estimateSample(uint64_t rank, uint32_t& bucket, uint64_t& before) const {
  // Callers ask for ascending ranks, so the walk resumes where the previous one stopped.
  while (bucket < buckets::kCount && before + counts[bucket] <= rank) before += counts[bucket++];
  RELEASE_ASSERT(bucket < buckets::kCount, "rank past the sample count");
  const double lower = static_cast<double>(buckets::lowerOf(bucket));
  const double span = static_cast<double>(buckets::widthOf(bucket) - 1);
  const double position =
      (static_cast<double>(rank - before) + 0.5) / static_cast<double>(counts[bucket]);
  return lower + span * position;
}

void HistogramData::quantiles(std::span<const double> qs, std::span<double> out) const {
  uint32_t bucket = 0;
  uint64_t before = 0;
  for (size_t i = 0; i < qs.size(); ++i) {
    if (sample_count == 0) {
      out[i] = kNaN;
      continue;
    }
    const double rank = qs[i] * static_cast<double>(sample_count - 1);
    const uint64_t low = static_cast<uint64_t>(rank);
    const double fraction = rank - static_cast<double>(low);
    const double a = estimateSample(low, bucket, before);
    if (fraction == 0 || low + 1 >= sample_count) {
      out[i] = a;
      continue;
    }
    // The next sample may sit in a later bucket: walk a copy so `bucket` stays at `low`'s.
    uint32_t next_bucket = bucket;
    uint64_t next_before = before;
    const double b = estimateSample(low + 1, next_bucket, next_before);
    out[i] = a + (b - a) * fraction;
  }
}

uint64_t HistogramData::countAtMost(double bound) const {
  if (bound < 0) return 0;
  const double top = std::floor(bound);  // samples are integers
  uint64_t total = 0;
  for (uint32_t i = 0; i < buckets::kCount; ++i) {
    if (counts[i] == 0) continue;
    const uint64_t lower = buckets::lowerOf(i);
    const uint64_t width = buckets::widthOf(i);
    if (static_cast<double>(lower) > top) break;
    if (static_cast<double>(lower + width - 1) <= top) {
      total += counts[i];
    } else {
      // The bound splits this bucket: count the samples placed at or below it, where
      // estimateSample() places them.
      const double c = static_cast<double>(counts[i]);
      const double below =
          c * (top - static_cast<double>(lower)) / static_cast<double>(width - 1) + 0.5;
      total += std::min(counts[i], static_cast<uint64_t>(below));
    }
  }
  return total;
}

Histogram::Histogram(std::string name, uint32_t thread_slots)
    : name_(std::move(name)),
      thread_slots_(thread_slots),
      blocks_(std::make_unique<std::atomic<Block*>[]>(thread_slots)) {
  for (uint32_t i = 0; i < thread_slots_; ++i) blocks_[i].store(nullptr, std::memory_order_relaxed);
  interval_.quantiles.fill(kNaN);
}

Histogram::~Histogram() {
  for (uint32_t i = 0; i < thread_slots_; ++i) delete blocks_[i].load(std::memory_order_acquire);
}

Histogram::Block* Histogram::allocateBlock() {
  RELEASE_ASSERT(detail::tls_slot < thread_slots_, "stats slot out of range");
  auto* block = new Block();
  // Release: the main thread that sees the pointer sees the zeroed counts.
  blocks_[detail::tls_slot].store(block, std::memory_order_release);
  return block;
}

bool Histogram::used() const {
  for (uint32_t i = 0; i < thread_slots_; ++i) {
    if (blocks_[i].load(std::memory_order_acquire) != nullptr) return true;
  }
  return false;
}

uint64_t Histogram::sumBlocks(std::vector<uint32_t>& totals) const {
  uint64_t sum = 0;
  for (uint32_t t = 0; t < thread_slots_; ++t) {
    const Block* block = blocks_[t].load(std::memory_order_acquire);
    if (block == nullptr) continue;
    for (uint32_t i = 0; i < buckets::kCount; ++i) {
      totals[i] += block->counts[i].load(std::memory_order_relaxed);  // wraps, by design
    }
    sum += block->sum.load(std::memory_order_relaxed);
  }
  return sum;
}

void Histogram::merge() {
  if (!used()) return;
  if (!merged_) merged_ = std::make_unique<Merged>();
  std::vector<uint32_t> totals(buckets::kCount);
  const uint64_t sum = sumBlocks(totals);
  HistogramData interval;
  for (uint32_t i = 0; i < buckets::kCount; ++i) {
    const uint32_t delta = totals[i] - merged_->last_seen[i];
    merged_->last_seen[i] = totals[i];
    merged_->cumulative[i] += delta;
    interval.counts[i] = delta;
    interval.sample_count += delta;
  }
  interval.sample_sum = sum - merged_->last_sum;
  merged_->last_sum = sum;
  interval_ = statisticsOf(interval);
}

HistogramData Histogram::cumulativeData() const {
  HistogramData data;
  std::vector<uint32_t> totals(buckets::kCount);
  data.sample_sum = sumBlocks(totals);
  for (uint32_t i = 0; i < buckets::kCount; ++i) {
    const uint32_t since_merge = merged_ ? totals[i] - merged_->last_seen[i] : totals[i];
    data.counts[i] = (merged_ ? merged_->cumulative[i] : 0) + since_merge;
    data.sample_count += data.counts[i];
  }
  return data;
}

HistogramStatistics Histogram::statisticsOf(const HistogramData& data) {
  HistogramStatistics stats;
  stats.sample_count = data.sample_count;
  stats.sample_sum = data.sample_sum;
  data.quantiles(kSupportedQuantiles, stats.quantiles);
  return stats;
}

}  // namespace remora::stats
