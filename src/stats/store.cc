#include "stats/store.h"

#include "common/assert.h"

namespace remora::stats {

namespace detail {
thread_local Slab* tls_slab = nullptr;
}  // namespace detail

Store::Store(uint32_t thread_slots) : thread_slots_(thread_slots) {
  RELEASE_ASSERT(thread_slots > 0 && thread_slots <= kMaxThreads, "bad stats thread slot count");
  for (uint32_t i = 0; i < thread_slots; ++i) slabs_.push_back(std::make_unique<Slab>());
}

Store::~Store() {
  for (auto& slab : slabs_) {
    if (detail::tls_slab == slab.get()) detail::tls_slab = nullptr;
  }
}

void Store::bindThread(uint32_t slot) {
  RELEASE_ASSERT(slot < thread_slots_, "stats slot out of range");
  detail::tls_slab = slabs_[slot].get();
  detail::tls_slot = slot;
}

uint32_t Store::allocateIndex() {
  uint32_t index = next_index_++;
  uint32_t chunk = index >> kChunkBits;
  RELEASE_ASSERT(chunk < kMaxChunks, "too many stats");
  if ((index & (kChunkSize - 1)) == 0) {
    for (auto& slab : slabs_) {
      slab->chunks[chunk] = std::make_unique<std::atomic<int64_t>[]>(kChunkSize);
      for (uint32_t i = 0; i < kChunkSize; ++i)
        slab->chunks[chunk][i].store(0, std::memory_order_relaxed);
    }
  }
  return index;
}

Counter& Store::counter(std::string_view name) {
  std::lock_guard<std::mutex> guard(lock_);
  auto it = counters_.find(name);
  if (it != counters_.end()) return *it->second;
  auto owned = std::make_unique<Counter>(*this, std::string(name), allocateIndex());
  Counter& ref = *owned;
  counters_.emplace(std::string(name), std::move(owned));
  return ref;
}

Gauge& Store::gauge(std::string_view name) {
  std::lock_guard<std::mutex> guard(lock_);
  auto it = gauges_.find(name);
  if (it != gauges_.end()) return *it->second;
  auto owned = std::make_unique<Gauge>(*this, std::string(name), allocateIndex());
  Gauge& ref = *owned;
  gauges_.emplace(std::string(name), std::move(owned));
  return ref;
}

Histogram& Store::histogram(std::string_view name) {
  std::lock_guard<std::mutex> guard(lock_);
  auto it = histograms_.find(name);
  if (it != histograms_.end()) return *it->second;
  auto owned = std::make_unique<Histogram>(std::string(name), thread_slots_);
  Histogram& ref = *owned;
  histograms_.emplace(std::string(name), std::move(owned));
  return ref;
}

void Store::mergeHistograms() {
  std::lock_guard<std::mutex> guard(lock_);
  for (auto& [name, h] : histograms_) h->merge();
}

int64_t Store::sum(uint32_t index) const {
  int64_t total = 0;
  for (const auto& slab : slabs_) {
    total +=
        slab->chunks[index >> kChunkBits][index & (kChunkSize - 1)].load(std::memory_order_relaxed);
  }
  return total;
}

void Store::store(uint32_t index, int64_t value) {
  // Owned by one thread: clear the others' deltas into this slot's absolute value.
  int64_t others = sum(index) - detail::local(index).load(std::memory_order_relaxed);
  detail::local(index).store(value - others, std::memory_order_relaxed);
}

uint64_t Counter::value() const { return static_cast<uint64_t>(store_.sum(index_)); }

void Gauge::set(int64_t value) {
  store_.store(index_, value);
  markUsed();
}

int64_t Gauge::value() const { return store_.sum(index_); }

}  // namespace remora::stats
