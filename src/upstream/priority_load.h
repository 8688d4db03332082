#pragma once

#include <cstdint>
#include <vector>

namespace remora::upstream {

// Envoy's priority arithmetic (arch_overview "Priority levels" and "Panic threshold"), pure so
// it can be checked against the documented examples. All percentages are integers as Envoy's.

// One priority level's host counts.
struct PriorityCounts {
  uint32_t total = 0;
  uint32_t healthy = 0;
};

// What a cluster snapshot balances with: the share of traffic (0..100, summing to 100) each
// level receives and whether a level is in panic (it then balances over all of its hosts).
struct PriorityLoad {
  std::vector<uint32_t> load;
  std::vector<bool> panic;
};

// The default overprovisioning factor, 1.4 as a percentage (ClusterLoadAssignment.policy).
constexpr uint32_t kDefaultOverprovisioningFactor = 140;
// common_lb_config.healthy_panic_threshold's default: 50%.
constexpr double kDefaultPanicThreshold = 50.0;

// A level's health score: healthy/total scaled by the overprovisioning factor, capped at 100.
uint32_t priorityHealth(const PriorityCounts& counts, uint32_t overprovisioning_factor);

// The priority load and panic flags for levels 0..n-1. Each level gets its health score
// (normalised so the scores of all levels sum to 100 when they fall short), higher levels first;
// rounding leftovers go to the first level with any health. A level is in panic when its healthy
// percentage is below `panic_threshold` and the levels together are not fully healthy; when every
// level is in panic the load follows the host counts instead. With a threshold of 0 panic never
// happens; if nothing is healthy then, level 0 nominally gets all load (and has no host to pick).
PriorityLoad computePriorityLoad(const std::vector<PriorityCounts>& levels,
                                 uint32_t overprovisioning_factor, double panic_threshold);

// The level a draw in [0, 100) falls into, walking the cumulative loads.
uint32_t choosePriority(const std::vector<uint32_t>& load, uint64_t draw);

}  // namespace remora::upstream
