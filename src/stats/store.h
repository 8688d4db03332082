#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "stats/histogram.h"

namespace remora::stats {

// Each thread writes only its own slab: a counter increment is a plain load/add/store on memory no
// other thread writes, so the data path takes no lock and shares no cache line. Readers (admin,
// flush) sum the slabs. Slabs grow in fixed chunks that never move, so a reader or writer never
// sees a reallocation; stats are created on the main thread before their users see them.
constexpr uint32_t kChunkBits = 10;
constexpr uint32_t kChunkSize = 1u << kChunkBits;
constexpr uint32_t kMaxChunks = 1024;  // up to ~1M stats
constexpr uint32_t kMaxThreads = 257;  // main thread + up to 256 workers

struct Slab {
  std::array<std::unique_ptr<std::atomic<int64_t>[]>, kMaxChunks> chunks;
};

namespace detail {
extern thread_local Slab* tls_slab;
inline std::atomic<int64_t>& local(uint32_t index) {
  return tls_slab->chunks[index >> kChunkBits][index & (kChunkSize - 1)];
}
}  // namespace detail

class Store;

// A monotonically increasing count, Envoy's Counter.
class Counter {
 public:
  Counter(Store& store, std::string name, uint32_t index)
      : store_(store), name_(std::move(name)), index_(index) {}
  void inc(uint64_t n = 1) {
    auto& v = detail::local(index_);
    v.store(v.load(std::memory_order_relaxed) + static_cast<int64_t>(n), std::memory_order_relaxed);
  }
  uint64_t value() const;
  const std::string& name() const { return name_; }

 private:
  Store& store_;
  const std::string name_;
  const uint32_t index_;
};

// A value that goes up and down, Envoy's Gauge. add/sub from any bound thread are merged by sum;
// set() is for gauges owned by the main thread alone.
class Gauge {
 public:
  Gauge(Store& store, std::string name, uint32_t index)
      : store_(store), name_(std::move(name)), index_(index) {}
  void add(int64_t n) {
    auto& v = detail::local(index_);
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    markUsed();
  }
  void sub(int64_t n) { add(-n); }
  void inc() { add(1); }
  void dec() { add(-1); }
  void set(int64_t value);
  int64_t value() const;
  bool used() const { return used_.load(std::memory_order_relaxed); }
  const std::string& name() const { return name_; }

 private:
  void markUsed() {
    if (!used_.load(std::memory_order_relaxed)) used_.store(true, std::memory_order_relaxed);
  }
  Store& store_;
  const std::string name_;
  const uint32_t index_;
  std::atomic<bool> used_{false};
};

// Owns every stat by name. Creation and lookup by name happen on the main thread; increments
// and histogram samples happen anywhere the thread has bound itself with bindThread().
class Store {
 public:
  explicit Store(uint32_t thread_slots);
  ~Store();

  // Binds the calling thread to `slot` (0 = main thread, 1.. = workers).
  void bindThread(uint32_t slot);
  uint32_t threadSlots() const { return thread_slots_; }

  // Returns the stat with this name, creating it at zero on first use.
  Counter& counter(std::string_view name);
  Gauge& gauge(std::string_view name);
  Histogram& histogram(std::string_view name);

  // Visits stats in name order.
  template <class Fn>
  void forEachCounter(Fn&& fn) const {
    std::lock_guard<std::mutex> guard(lock_);
    for (const auto& [name, c] : counters_) fn(*c);
  }
  template <class Fn>
  void forEachGauge(Fn&& fn) const {
    std::lock_guard<std::mutex> guard(lock_);
    for (const auto& [name, g] : gauges_) fn(*g);
  }

  template <class Fn>
  void forEachHistogram(Fn&& fn) const {
    std::lock_guard<std::mutex> guard(lock_);
    for (const auto& [name, h] : histograms_) fn(*h);
  }

  // Main thread, on each stats flush: closes every histogram's interval (Histogram::merge).
  void mergeHistograms();

  int64_t sum(uint32_t index) const;
  void store(uint32_t index, int64_t value);

 private:
  uint32_t allocateIndex();

  const uint32_t thread_slots_;
  std::vector<std::unique_ptr<Slab>> slabs_;
  // Guards the name maps only: admin reads them from the main thread while config creates.
  mutable std::mutex lock_;
  uint32_t next_index_ = 0;
  std::map<std::string, std::unique_ptr<Counter>, std::less<>> counters_;
  std::map<std::string, std::unique_ptr<Gauge>, std::less<>> gauges_;
  std::map<std::string, std::unique_ptr<Histogram>, std::less<>> histograms_;
};

}  // namespace remora::stats
