#include "upstream/thread_local_cluster_manager.h"

namespace remora::upstream {

void ThreadLocalClusterManager::update(ClusterMapConstSharedPtr clusters) {
  std::map<std::string, Entry, std::less<>> next;
  for (const auto& [name, cluster] : *clusters) {
    auto it = entries_.find(name);
    if (it != entries_.end() && it->second.cluster == cluster) {
      next.emplace(name, std::move(it->second));
    } else {
      next.emplace(name, Entry{cluster, createLoadBalancer(*cluster)});
    }
  }
  entries_ = std::move(next);
  clusters_ = std::move(clusters);
}

Http1ConnPool& ThreadLocalClusterManager::Entry::httpConnPool(const HostConstSharedPtr& host,
                                                              event::Dispatcher& dispatcher) {
  auto it = http1_pools.find(host->address_string);
  if (it == http1_pools.end()) {
    it = http1_pools.emplace(host->address_string, std::make_unique<Http1ConnPool>(dispatcher, host, cluster)).first;
  }
  return *it->second;
}

ThreadLocalClusterManager::Entry* ThreadLocalClusterManager::get(std::string_view name) {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace remora::upstream
