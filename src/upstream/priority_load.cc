#include "upstream/priority_load.h"

#include <algorithm>

namespace remora::upstream {

uint32_t priorityHealth(const PriorityCounts& counts, uint32_t overprovisioning_factor) {
  if (counts.total == 0) return 0;
  const uint64_t scaled = uint64_t{overprovisioning_factor} * counts.healthy / counts.total;
  return static_cast<uint32_t>(std::min<uint64_t>(100, scaled));
}

namespace {

bool inPanic(const PriorityCounts& counts, double panic_threshold) {
  const double available_percent = counts.total == 0 ? 0.0
                                                     : 100.0 * (counts.healthy + counts.degraded) /
                                                           static_cast<double>(counts.total);
  return available_percent < panic_threshold;
}

// Gives each level its share of `total` by availability; returns the first level with any and
// what is left.
std::pair<int, uint32_t> distributeLoad(std::vector<uint32_t>& load,
                                        const std::vector<uint32_t>& availability, uint32_t total,
                                        uint32_t normalized_total) {
  int first_available = -1;
  for (size_t i = 0; i < availability.size(); ++i) {
    if (first_available < 0 && availability[i] > 0) first_available = static_cast<int>(i);
    load[i] = std::min(total, availability[i] * 100 / normalized_total);
    total -= load[i];
  }
  return {first_available, total};
}

// Every level in panic: load by the number of hosts, whatever their health, the remainder to
// the first level that has any.
void loadInTotalPanic(const std::vector<PriorityCounts>& levels, PriorityLoad& out) {
  uint64_t total_hosts = 0;
  for (const auto& level : levels) total_hosts += level.total;
  if (total_hosts == 0) {
    out.load[0] = 100;
    return;
  }
  uint32_t remaining = 100;
  int first_nonempty = -1;
  for (size_t i = 0; i < levels.size(); ++i) {
    if (first_nonempty < 0 && levels[i].total != 0) first_nonempty = static_cast<int>(i);
    out.load[i] = static_cast<uint32_t>(100 * uint64_t{levels[i].total} / total_hosts);
    remaining -= out.load[i];
  }
  out.load[static_cast<size_t>(first_nonempty)] += remaining;
}

}  // namespace

PriorityLoad computePriorityLoad(const std::vector<PriorityCounts>& levels,
                                 uint32_t overprovisioning_factor, double panic_threshold) {
  PriorityLoad out;
  const size_t n = std::max<size_t>(levels.size(), 1);
  out.load.assign(n, 0);
  out.degraded_load.assign(n, 0);
  out.panic.assign(n, false);
  if (levels.empty()) {
    out.load[0] = 100;
    return out;
  }
  std::vector<uint32_t> health(levels.size());
  std::vector<uint32_t> degraded(levels.size());
  uint32_t availability_sum = 0;
  for (size_t i = 0; i < levels.size(); ++i) {
    health[i] = priorityHealth(levels[i], overprovisioning_factor);
    degraded[i] = priorityHealth({levels[i].total, levels[i].degraded, 0}, overprovisioning_factor);
    availability_sum += health[i] + degraded[i];
  }
  const uint32_t normalized_total = std::min<uint32_t>(100, availability_sum);
  if (normalized_total > 0) {
    const auto [first_healthy, after_healthy] =
        distributeLoad(out.load, health, 100, normalized_total);
    const auto [first_degraded, remaining] =
        distributeLoad(out.degraded_load, degraded, after_healthy, normalized_total);
    if (remaining > 0) {
      if (first_healthy >= 0) {
        out.load[static_cast<size_t>(first_healthy)] += remaining;
      } else {
        out.degraded_load[static_cast<size_t>(first_degraded)] += remaining;
      }
    }
  }

  const double threshold = std::min(100.0, panic_threshold);
  if (threshold <= 0 && normalized_total == 0) {
    out.load[0] = 100;  // panic disabled and nothing available: no host will be found
    return out;
  }
  for (size_t i = 0; i < levels.size(); ++i) {
    out.panic[i] = normalized_total < 100 && inPanic(levels[i], threshold);
  }
  if (std::all_of(out.panic.begin(), out.panic.end(), [](bool p) { return p; })) {
    std::fill(out.degraded_load.begin(), out.degraded_load.end(), 0);
    loadInTotalPanic(levels, out);
  }
  return out;
}

uint32_t choosePriority(const std::vector<uint32_t>& load, uint64_t draw) {
  const uint64_t point = draw % 100;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < load.size(); ++i) {
    cumulative += load[i];
    if (point < cumulative) return static_cast<uint32_t>(i);
  }
  return static_cast<uint32_t>(load.size() - 1);
}

}  // namespace remora::upstream

namespace remora::upstream {

std::pair<uint32_t, bool> choosePriority(const std::vector<uint32_t>& load,
                                         const std::vector<uint32_t>& degraded_load,
                                         uint64_t draw) {
  const uint64_t point = draw % 100;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < load.size(); ++i) {
    cumulative += load[i];
    if (point < cumulative) return {static_cast<uint32_t>(i), false};
  }
  for (size_t i = 0; i < degraded_load.size(); ++i) {
    cumulative += degraded_load[i];
    if (point < cumulative) return {static_cast<uint32_t>(i), true};
  }
  return {static_cast<uint32_t>(load.size() - 1), false};
}

}  // namespace remora::upstream
