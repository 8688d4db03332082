#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "event/dispatcher.h"
#include "upstream/cluster_discovery.h"
#include "upstream/host.h"

namespace remora::upstream {

// ORIGINAL_DST's hosts (Envoy's OriginalDstCluster host map): a worker picking a destination
// no host stands for yet makes one here; every worker and every snapshot of the cluster's
// configuration shares them, so a destination's stats, shown by /clusters, are one. The main
// thread removes, every cleanup_interval, the hosts no pick used since the previous sweep.
class OriginalDstHostMap {
 public:
  struct Entry {
    explicit Entry(HostConstSharedPtr host_in) : host(std::move(host_in)) {}
    const HostConstSharedPtr host;
    std::atomic<bool> used{true};      // picked since the last sweep
    std::atomic<bool> removed{false};  // swept: a worker's cached entry must be looked up again
  };
  using EntrySharedPtr = std::shared_ptr<Entry>;

  // The entry for `address`, made on first use. Takes the lock: workers call it only for a
  // destination their own cache does not hold (OriginalDstLoadBalancer).
  EntrySharedPtr getOrCreate(const net::Address& address);
  // Every host, for /clusters.
  HostVector hosts() const;
  // Removes the hosts unused since the last call and marks the rest unused; returns how many
  // it removed.
  size_t sweep();

 private:
  mutable std::mutex lock_;
  std::map<std::string, EntrySharedPtr, std::less<>> entries_;
};
using OriginalDstHostMapSharedPtr = std::shared_ptr<OriginalDstHostMap>;

// The main thread's side of an ORIGINAL_DST cluster: sweeps its host map every
// cleanup_interval (Envoy's default 5 s). Initialized at once: there is nothing to discover.
class OriginalDstCleanup final : public ClusterDiscovery {
 public:
  OriginalDstCleanup(const Cluster& cluster, event::Dispatcher& dispatcher);

 private:
  const OriginalDstHostMapSharedPtr hosts_;
  const std::chrono::milliseconds interval_;
  event::TimerPtr timer_;
};

}  // namespace remora::upstream
