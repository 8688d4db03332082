#pragma once

#include <map>
#include <memory>
#include <string>

#include "upstream/load_balancer.h"

namespace remora::upstream {

// An immutable name → cluster map, published by the main thread to every worker.
using ClusterMap = std::map<std::string, ClusterConstSharedPtr, std::less<>>;
using ClusterMapConstSharedPtr = std::shared_ptr<const ClusterMap>;

// A worker's view of the clusters: the current snapshot plus its own load-balancer state, so
// picking a host takes no lock.
class ThreadLocalClusterManager {
 public:
  struct Entry {
    ClusterConstSharedPtr cluster;
    LoadBalancerPtr lb;
  };

  // Installs a new snapshot; balancers of unchanged clusters keep their state.
  void update(ClusterMapConstSharedPtr clusters);
  // nullptr when the cluster does not exist.
  Entry* get(std::string_view name);

 private:
  ClusterMapConstSharedPtr clusters_;
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace remora::upstream
