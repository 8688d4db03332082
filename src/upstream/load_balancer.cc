#include "upstream/load_balancer.h"

namespace remora::upstream {

RoundRobinLoadBalancer::RoundRobinLoadBalancer(const HostVector& hosts)
    : hosts_(hosts), current_(hosts.size(), 0) {
  for (const auto& h : hosts_) total_weight_ += h->weight;
}

HostConstSharedPtr RoundRobinLoadBalancer::chooseHost(const LoadBalancerContext&) {
  if (hosts_.empty()) return nullptr;
  size_t best = 0;
  for (size_t i = 0; i < hosts_.size(); ++i) {
    current_[i] += hosts_[i]->weight;
    if (current_[i] > current_[best]) best = i;
  }
  current_[best] -= total_weight_;
  return hosts_[best];
}

HostConstSharedPtr OriginalDstLoadBalancer::chooseHost(const LoadBalancerContext& context) {
  if (context.downstream == nullptr || !context.downstream->local_address_restored) return nullptr;
  return std::make_shared<Host>(context.downstream->local_address, 1);
}

LoadBalancerPtr createLoadBalancer(const Cluster& cluster) {
  if (cluster.type() == ClusterType::OriginalDst) return std::make_unique<OriginalDstLoadBalancer>();
  return std::make_unique<RoundRobinLoadBalancer>(cluster.lbHosts());
}

}  // namespace remora::upstream
