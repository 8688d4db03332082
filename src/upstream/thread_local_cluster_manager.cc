#include "upstream/thread_local_cluster_manager.h"

#include <string_view>
#include <unordered_set>

#include "upstream/http1_conn_pool.h"
#include "upstream/http2_conn_pool.h"

namespace remora::upstream {

namespace {
// A HIGH priority pool's key: the host's address with this suffix.
constexpr std::string_view kHighPoolSuffix = "#high";
}  // namespace

void ThreadLocalClusterManager::update(ClusterMapConstSharedPtr clusters) {
  // Pools retired earlier go once their last request has ended.
  std::erase_if(retired_pools_, [](const auto& pool) { return pool->idle(); });
  std::map<std::string, Entry, std::less<>> next;
  for (const auto& [name, cluster] : *clusters) {
    auto it = entries_.find(name);
    if (it == entries_.end()) {
      Entry entry;
      entry.cluster = cluster;
      entry.lb = createLoadBalancer(*cluster);
      entry.retired = &retired_pools_;
      next.emplace(name, std::move(entry));
      continue;
    }
    Entry& entry = it->second;
    if (entry.cluster != cluster) {
      if (entry.cluster->configVersion() == cluster->configVersion()) {
        // Same configuration, new host set: keep the pools of the hosts still present.
        std::unordered_set<std::string_view> present;
        for (const auto& host : cluster->hosts()) present.insert(host->address_string);
        for (auto* pools : {&entry.http1_pools, &entry.http2_pools}) {
          for (auto pool = pools->begin(); pool != pools->end();) {
            std::string_view address = pool->first;
            if (address.ends_with(kHighPoolSuffix)) address.remove_suffix(kHighPoolSuffix.size());
            if (present.contains(address)) {
              ++pool;
            } else {
              retired_pools_.push_back(std::move(pool->second));
              pool = pools->erase(pool);
            }
          }
        }
      } else {
        retireAll(entry);
      }
      entry.cluster = cluster;
      entry.lb = createLoadBalancer(*cluster);
    }
    // The node moves, not the Entry: a cleanup timer may point at it.
    next.insert(entries_.extract(it));
  }
  for (auto& [name, entry] : entries_) retireAll(entry);  // clusters that were removed
  for (auto& pool : retired_pools_) pool->drainConnections();
  std::erase_if(retired_pools_, [](const auto& pool) { return pool->idle(); });
  entries_ = std::move(next);
  clusters_ = std::move(clusters);
}

void ThreadLocalClusterManager::retireAll(Entry& entry) {
  for (auto* pools : {&entry.http1_pools, &entry.http2_pools}) {
    for (auto& [address, pool] : *pools) retired_pools_.push_back(std::move(pool));
    pools->clear();
  }
}

HttpConnPool& ThreadLocalClusterManager::Entry::httpConnPool(
    const HostConstSharedPtr& host, event::Dispatcher& dispatcher,
    std::optional<http::Protocol> downstream, ResourcePriority priority) {
  const bool http2 = cluster->useHttp2(downstream);
  auto& pools = http2 ? http2_pools : http1_pools;
  std::string high_key;
  std::string_view key = host->address_string;
  if (priority == ResourcePriority::High) {
    high_key = host->address_string + std::string(kHighPoolSuffix);
    key = high_key;
  }
  auto it = pools.find(key);
  if (it != pools.end() && cluster->type() == ClusterType::OriginalDst &&
      it->second->host() != host) {
    // ORIGINAL_DST: the main thread swept the destination's host before this worker swept its
    // pool, and a pick made a new one; its connections count for the new host.
    it->second->drainConnections();
    retired->push_back(std::move(it->second));
    pools.erase(it);
    it = pools.end();
  }
  if (it == pools.end()) {
    std::unique_ptr<HttpConnPool> pool;
    if (http2) {
      pool = std::make_unique<Http2ConnPool>(dispatcher, host, cluster, priority);
    } else {
      pool = std::make_unique<Http1ConnPool>(dispatcher, host, cluster, priority);
    }
    it = pools.emplace(std::string(key), std::move(pool)).first;
  }
  if (cluster->type() == ClusterType::OriginalDst) {
    used_pools.insert(it->second.get());
    if (!cleanup_timer) {
      cleanup_timer = dispatcher.createTimer([this] { sweepUnusedPools(); });
      cleanup_timer->enableTimer(cluster->lbConfig().original_dst.cleanup_interval);
    }
  }
  return *it->second;
}

void ThreadLocalClusterManager::Entry::sweepUnusedPools() {
  if (cluster->type() != ClusterType::OriginalDst) return;  // reconfigured: nothing to sweep
  for (auto* pools : {&http1_pools, &http2_pools}) {
    for (auto pool = pools->begin(); pool != pools->end();) {
      if (used_pools.contains(pool->second.get())) {
        ++pool;
        continue;
      }
      // Idle connections close now; busy ones finish their requests first.
      pool->second->drainConnections();
      retired->push_back(std::move(pool->second));
      pool = pools->erase(pool);
    }
  }
  used_pools.clear();
  std::erase_if(*retired, [](const auto& pool) { return pool->idle(); });
  cleanup_timer->enableTimer(cluster->lbConfig().original_dst.cleanup_interval);
}

ThreadLocalClusterManager::Entry* ThreadLocalClusterManager::get(std::string_view name) {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace remora::upstream
