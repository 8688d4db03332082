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
    std::optional<http::Protocol> downstream) {
  const bool http2 = cluster->useHttp2(downstream);
  auto& pools = http2 ? http2_pools : http1_pools;
  auto it = pools.find(host->address_string);
  if (it == pools.end()) {
    std::unique_ptr<HttpConnPool> pool;
    if (http2) {
      pool = std::make_unique<Http2ConnPool>(dispatcher, host, cluster);
    } else {
      pool = std::make_unique<Http1ConnPool>(dispatcher, host, cluster);
    }
    it = pools.emplace(host->address_string, std::move(pool)).first;
  }
  return *it->second;
}

ThreadLocalClusterManager::Entry* ThreadLocalClusterManager::get(std::string_view name) {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace remora::upstream
