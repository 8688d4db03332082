#pragma once

#include <vector>

#include "net/connection.h"
#include "upstream/cluster.h"

namespace remora::upstream {

// What a load balancer may look at when picking a host for one connection or request.
struct LoadBalancerContext {
  const net::ConnectionInfo* downstream = nullptr;
};

// Per-worker picker over one cluster snapshot. Not thread-safe: each worker owns its own.
class LoadBalancer {
 public:
  virtual ~LoadBalancer() = default;
  // The host to use, or nullptr when none is available.
  virtual HostConstSharedPtr chooseHost(const LoadBalancerContext& context) = 0;
};
using LoadBalancerPtr = std::unique_ptr<LoadBalancer>;

// Smooth weighted round robin (as nginx): every host is picked in proportion to its weight with
// picks spread out, not bunched; equal weights degrade to plain rotation.
class RoundRobinLoadBalancer final : public LoadBalancer {
 public:
  explicit RoundRobinLoadBalancer(const HostVector& hosts);
  HostConstSharedPtr chooseHost(const LoadBalancerContext& context) override;

 private:
  const HostVector& hosts_;
  std::vector<int64_t> current_;
  int64_t total_weight_ = 0;
};

// ORIGINAL_DST with CLUSTER_PROVIDED: the host is the connection's original destination, as
// restored by the original_dst listener filter. Without a restored address there is no host.
class OriginalDstLoadBalancer final : public LoadBalancer {
 public:
  HostConstSharedPtr chooseHost(const LoadBalancerContext& context) override;
};

LoadBalancerPtr createLoadBalancer(const Cluster& cluster);

}  // namespace remora::upstream
