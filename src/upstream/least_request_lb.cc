#include "upstream/least_request_lb.h"

#include <algorithm>
#include <cmath>

namespace remora::upstream {

LeastRequestLoadBalancer::LeastRequestLoadBalancer(const HostVector& hosts,
                                                   const LeastRequestLbConfig& config,
                                                   RandomFn random)
    : hosts_(hosts), config_(config), random_(random) {
  for (const auto& host : hosts_) equal_weights_ &= host->weight == hosts_.front()->weight;
  if (equal_weights_) return;
  // Each worker starts its schedule at a random phase: host i's first deadline is a uniform
  // fraction of its period, so workers do not all favour the same host first.
  schedule_.reserve(hosts_.size());
  for (uint32_t i = 0; i < hosts_.size(); ++i) {
    const double phase = static_cast<double>(random_() >> 11) * 0x1.0p-53;
    schedule_.push_back({phase / effectiveWeight(*hosts_[i]), next_order_++, i});
  }
  std::make_heap(schedule_.begin(), schedule_.end(), later);
}

HostConstSharedPtr LeastRequestLoadBalancer::chooseHost(const LoadBalancerContext&) {
  if (hosts_.empty()) return nullptr;
  return equal_weights_ ? chooseFewestOfRandom() : chooseEarliestDeadline();
}

HostConstSharedPtr LeastRequestLoadBalancer::chooseFewestOfRandom() {
  size_t best = random_() % hosts_.size();
  int64_t best_active = hosts_[best]->stats.rq_active.load(std::memory_order_relaxed);
  for (uint32_t i = 1; i < config_.choice_count; ++i) {
    const size_t candidate = random_() % hosts_.size();
    const int64_t active = hosts_[candidate]->stats.rq_active.load(std::memory_order_relaxed);
    if (active < best_active) {
      best = candidate;
      best_active = active;
    }
  }
  return hosts_[best];
}

HostConstSharedPtr LeastRequestLoadBalancer::chooseEarliestDeadline() {
  std::pop_heap(schedule_.begin(), schedule_.end(), later);
  Scheduled& picked = schedule_.back();
  now_ = picked.deadline;
  const uint32_t index = picked.host;
  // Requeued with its weight as of now: the more requests it has in flight, the later it
  // comes round again.
  picked = {now_ + 1.0 / effectiveWeight(*hosts_[index]), next_order_++, index};
  std::push_heap(schedule_.begin(), schedule_.end(), later);
  return hosts_[index];
}

double LeastRequestLoadBalancer::effectiveWeight(const Host& host) const {
  const double weight = host.weight;
  const double bias = config_.active_request_bias;
  if (bias == 0.0) return weight;  // plain weighted round robin
  const double active = static_cast<double>(
      std::max<int64_t>(0, host.stats.rq_active.load(std::memory_order_relaxed)));
  return bias == 1.0 ? weight / (active + 1) : weight / std::pow(active + 1, bias);
}

}  // namespace remora::upstream
