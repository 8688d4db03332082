#include "upstream/thread_local_cluster_manager.h"

#include "upstream/http1_conn_pool.h"
#include "upstream/http2_conn_pool.h"

namespace remora::upstream {

void ThreadLocalClusterManager::update(ClusterMapConstSharedPtr clusters) {
  std::map<std::string, Entry, std::less<>> next;
  for (const auto& [name, cluster] : *clusters) {
    auto it = entries_.find(name);
    if (it != entries_.end() && it->second.cluster == cluster) {
      next.emplace(name, std::move(it->second));
    } else {
      next.emplace(name, Entry{cluster, createLoadBalancer(*cluster), {}, {}});
    }
  }
  entries_ = std::move(next);
  clusters_ = std::move(clusters);
}

HttpConnPool& ThreadLocalClusterManager::Entry::httpConnPool(
    const HostConstSharedPtr& host, event::Dispatcher& dispatcher,
    std::optional<http::Protocol> downstream, ResourcePriority priority) {
  const bool http2 = cluster->useHttp2(downstream);
  auto& pools = http2 ? http2_pools : http1_pools;
  std::string high_key;
  std::string_view key = host->address_string;
  if (priority == ResourcePriority::High) key = high_key = host->address_string + "#high";
  auto it = pools.find(key);
  if (it == pools.end()) {
    std::unique_ptr<HttpConnPool> pool;
    if (http2) {
      pool = std::make_unique<Http2ConnPool>(dispatcher, host, cluster, priority);
    } else {
      pool = std::make_unique<Http1ConnPool>(dispatcher, host, cluster, priority);
    }
    it = pools.emplace(std::string(key), std::move(pool)).first;
  }
  return *it->second;
}

ThreadLocalClusterManager::Entry* ThreadLocalClusterManager::get(std::string_view name) {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace remora::upstream
