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
  const double healthy_percent =
      counts.total == 0 ? 0.0 : 100.0 * counts.healthy / static_cast<double>(counts.total);
  return healthy_percent < panic_threshold;
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
  out.panic.assign(n, false);
  if (levels.empty()) {
    out.load[0] = 100;
    return out;
  }
  std::vector<uint32_t> health(levels.size());
  uint32_t health_sum = 0;
  for (size_t i = 0; i < levels.size(); ++i) {
    health[i] = priorityHealth(levels[i], overprovisioning_factor);
    health_sum += health[i];
  }
  const uint32_t normalized_total = std::min<uint32_t>(100, health_sum);
  if (normalized_total > 0) {
    uint32_t remaining = 100;
    int first_healthy = -1;
    for (size_t i = 0; i < levels.size(); ++i) {
      if (first_healthy < 0 && health[i] > 0) first_healthy = static_cast<int>(i);
      out.load[i] = std::min(remaining, health[i] * 100 / normalized_total);
      remaining -= out.load[i];
    }
    out.load[static_cast<size_t>(first_healthy)] += remaining;
  }

  const double threshold = std::min(100.0, panic_threshold);
  if (threshold <= 0 && normalized_total == 0) {
    out.load[0] = 100;  // panic disabled and nothing healthy: no host will be found
    return out;
  }
  for (size_t i = 0; i < levels.size(); ++i) {
    out.panic[i] = normalized_total < 100 && inPanic(levels[i], threshold);
  }
  if (std::all_of(out.panic.begin(), out.panic.end(), [](bool p) { return p; })) {
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
