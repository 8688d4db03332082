#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "common/random.h"

namespace remora {

// Envoy's JitteredExponentialBackOffStrategy: the n-th retry waits a random time below
// min(base * 2^n, max), so reconnecting clients spread out instead of arriving together.
class JitteredBackOff {
 public:
  JitteredBackOff(std::chrono::milliseconds base, std::chrono::milliseconds max)
      : base_ms_(std::max<uint64_t>(1, base.count())), max_ms_(max.count()) {}

  std::chrono::milliseconds next() {
    const uint64_t ceiling = base_ms_ << retry_;
    if (ceiling <= max_ms_) ++retry_;
    return std::chrono::milliseconds(std::min(randomU64() % ceiling, max_ms_));
  }
  // A success: the next failure starts over from the base interval.
  void reset() { retry_ = 0; }

 private:
  const uint64_t base_ms_;
  const uint64_t max_ms_;
  uint32_t retry_ = 0;
};

}  // namespace remora
