#pragma once

#include <vector>

#include "upstream/lb_config.h"
#include "upstream/load_balancer.h"

namespace remora::upstream {

// LEAST_REQUEST as Envoy. Equal weights: draw choice_count hosts at random (with replacement)
// and take the one with the fewest active requests (P2C for the default two). Unequal weights:
// an earliest-deadline-first schedule where a host's weight, taken each time it is (re)queued,
// is weight / (active_requests + 1)^active_request_bias, so a busy host comes round less often
// but never stops. Active requests are the host's rq_active, counted across all workers.
class LeastRequestLoadBalancer final : public LoadBalancer {
 public:
  LeastRequestLoadBalancer(const HostVector& hosts, const LeastRequestLbConfig& config,
                           RandomFn random = randomU64);
  HostConstSharedPtr chooseHost(const LoadBalancerContext& context) override;

 private:
  struct Scheduled {
    double deadline;
    uint64_t order;  // ties go to the host queued first
    uint32_t host;   // index into hosts_
  };
  static bool later(const Scheduled& a, const Scheduled& b) {
    return a.deadline != b.deadline ? a.deadline > b.deadline : a.order > b.order;
  }
  HostConstSharedPtr chooseFewestOfRandom();
  HostConstSharedPtr chooseEarliestDeadline();
  double effectiveWeight(const Host& host) const;

  const HostVector& hosts_;
  const LeastRequestLbConfig config_;
  RandomFn random_;
  bool equal_weights_ = true;
  std::vector<Scheduled> schedule_;  // a min-heap on (deadline, order)
  double now_ = 0;
  uint64_t next_order_ = 0;
};

}  // namespace remora::upstream
