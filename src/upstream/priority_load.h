#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace remora::upstream {

// Envoy's priority arithmetic (arch_overview "Priority levels" and "Panic threshold"), pure so
// it can be checked against the documented examples. All percentages are integers as Envoy's.

// One priority level's host counts.
struct PriorityCounts {
  uint32_t total = 0;
  uint32_t healthy = 0;
  uint32_t degraded = 0;
};

// What a cluster snapshot balances with: the share of traffic (0..100, the two vectors summing
// to 100 together) each level's healthy hosts and degraded hosts receive, and whether a level
// is in panic (it then balances over all of its hosts).
struct PriorityLoad {
  std::vector<uint32_t> load;
  std::vector<uint32_t> degraded_load;
  std::vector<bool> panic;
};

// The default overprovisioning factor, 1.4 as a percentage (ClusterLoadAssignment.policy).
constexpr uint32_t kDefaultOverprovisioningFactor = 140;
// common_lb_config.healthy_panic_threshold's default: 50%.
constexpr double kDefaultPanicThreshold = 50.0;

// A level's health score: healthy/total scaled by the overprovisioning factor, capped at 100.
uint32_t priorityHealth(const PriorityCounts& counts, uint32_t overprovisioning_factor);

// The priority load and panic flags for levels 0..n-1 (Envoy's recalculatePriorityLoad). Each
// level's healthy hosts get its health score and then, from what is left, its degraded hosts
// get their score (the degraded hosts' share, scaled the same way); the scores are normalised
// so that together they make 100 when healthy and degraded fall short. Rounding leftovers go to
// the first level with healthy hosts, else the first with degraded ones. A level is in panic
// when its healthy plus degraded percentage is below `panic_threshold` and the levels together
// are not fully available; when every level is in panic the load follows the host counts
// instead. With a threshold of 0 panic never happens; if nothing is available then, level 0
// nominally gets all load (and has no host to pick).
PriorityLoad computePriorityLoad(const std::vector<PriorityCounts>& levels,
                                 uint32_t overprovisioning_factor, double panic_threshold);

// The level a draw in [0, 100) falls into, walking the cumulative loads.
uint32_t choosePriority(const std::vector<uint32_t>& load, uint64_t draw);
// The same over the healthy loads then the degraded ones: the level, and whether the draw fell
// on its degraded hosts.
std::pair<uint32_t, bool> choosePriority(const std::vector<uint32_t>& load,
                                         const std::vector<uint32_t>& degraded_load, uint64_t draw);

}  // namespace remora::upstream
