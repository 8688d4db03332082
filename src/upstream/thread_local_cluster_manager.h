#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "http/codec.h"
#include "upstream/conn_pool.h"
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
    // Pools by protocol, host address (Host::address_string: stable, also for ORIGINAL_DST's
    // hosts, remade after a sweep, and LOGICAL_DNS's, whose connections follow
    // currentAddress() within one pool) and priority (a HIGH pool counts against the HIGH
    // circuit breakers).
    std::map<std::string, std::unique_ptr<HttpConnPool>, std::less<>> http1_pools;
    std::map<std::string, std::unique_ptr<HttpConnPool>, std::less<>> http2_pools;

    // The pool for `host`, created on first use: HTTP/1.1 or HTTP/2 as the cluster's
    // HttpProtocolOptions say; with use_downstream_protocol_config, `downstream` decides.
    HttpConnPool& httpConnPool(const HostConstSharedPtr& host, event::Dispatcher& dispatcher,
                               std::optional<http::Protocol> downstream = std::nullopt,
                               ResourcePriority priority = ResourcePriority::Default);

    // ORIGINAL_DST: the pools asked for since the last sweep. Every cleanup_interval the others
    // are retired, as Envoy removes the hosts unused for that long; without it a proxy that
    // sees many destinations would keep a pool for each forever.
    std::unordered_set<const HttpConnPool*> used_pools;
    event::TimerPtr cleanup_timer;
    // The manager's retired pools (an Entry's address is stable: update() moves map nodes).
    std::vector<std::unique_ptr<HttpConnPool>>* retired = nullptr;
    void sweepUnusedPools();
  };

  // Installs a new cluster map. An unchanged cluster keeps its balancer; a new snapshot of the
  // same configuration (membership or health changed) gets a new balancer and keeps the pools
  // of hosts still present. Pools of hosts that left, or of a cluster whose configuration
  // changed or that was removed, are retired: they close idle connections and live until their
  // last request ends.
  void update(ClusterMapConstSharedPtr clusters);
  // nullptr when the cluster does not exist.
  Entry* get(std::string_view name);

 private:
  using PoolMap = std::map<std::string, std::unique_ptr<HttpConnPool>, std::less<>>;
  void retireAll(Entry& entry);

  ClusterMapConstSharedPtr clusters_;
  std::map<std::string, Entry, std::less<>> entries_;
  std::vector<std::unique_ptr<HttpConnPool>> retired_pools_;
};

}  // namespace remora::upstream
