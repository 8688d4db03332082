#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/random.h"
#include "http/header_map.h"
#include "net/connection.h"
#include "upstream/cluster.h"
#include "upstream/original_dst_hosts.h"

namespace remora::upstream {

// What a load balancer may look at when picking a host for one connection or request.
struct LoadBalancerContext {
  LoadBalancerContext(const net::ConnectionInfo* downstream_in = nullptr,  // NOLINT: implicit
                      std::optional<uint64_t> hash_key_in = std::nullopt)
      : downstream(downstream_in), hash_key(hash_key_in) {}

  const net::ConnectionInfo* downstream = nullptr;
  // The request's hash from the route's hash_policy (RING_HASH and MAGLEV use it); without one
  // they pick at random, as Envoy.
  std::optional<uint64_t> hash_key;
  // 0 for the first pick of a request; n for the n-th re-pick when a retry host predicate
  // rejected the previous one. Hashing balancers step to another host for n > 0.
  uint32_t host_selection_attempt = 0;
  // The request's headers (HTTP only): ORIGINAL_DST with use_http_header reads its override
  // from them.
  const http::RequestHeaderMap* downstream_headers = nullptr;
};

// Where balancers draw random numbers. A plain function pointer (no std::function on the request
// path); tests pass a seeded generator to make distributions reproducible.
using RandomFn = uint64_t (*)();

// Per-worker picker over one cluster snapshot. Not thread-safe: each worker owns its own.
class LoadBalancer {
 public:
  virtual ~LoadBalancer() = default;
  // The host to use, or nullptr when none is available.
  virtual HostConstSharedPtr chooseHost(const LoadBalancerContext& context) = 0;
};
using LoadBalancerPtr = std::unique_ptr<LoadBalancer>;

// Built once per cluster snapshot (on the main thread, with the Cluster) and shared by every
// worker: holds what is costly and immutable (a hash ring, a Maglev table) and makes each
// worker's balancer, whose own state (a round-robin cursor, an EDF schedule) is not shared.
class LoadBalancerFactory {
 public:
  virtual ~LoadBalancerFactory() = default;
  virtual LoadBalancerPtr create() const = 0;
};
using LoadBalancerFactoryConstSharedPtr = std::shared_ptr<const LoadBalancerFactory>;

// Smooth weighted round robin (as nginx): every host is picked in proportion to its weight with
// picks spread out, not bunched; equal weights degrade to plain rotation. Each worker starts at
// a random point of the cycle, so workers do not all hit the same host first.
class RoundRobinLoadBalancer final : public LoadBalancer {
 public:
  explicit RoundRobinLoadBalancer(const HostVector& hosts, RandomFn random = nullptr);
  HostConstSharedPtr chooseHost(const LoadBalancerContext& context) override;

 private:
  const HostVector& hosts_;
  std::vector<int64_t> current_;
  int64_t total_weight_ = 0;
};

// RANDOM: a uniformly random host, or with unequal weights a host drawn in proportion to its
// weight (Envoy's RANDOM ignores weights; remora honours them everywhere).
class RandomLoadBalancer final : public LoadBalancer {
 public:
  explicit RandomLoadBalancer(const HostVector& hosts, RandomFn random = randomU64);
  HostConstSharedPtr chooseHost(const LoadBalancerContext& context) override;

 private:
  const HostVector& hosts_;
  RandomFn random_;
  // Running weight sums, only when weights differ: a pick is a binary search of a draw below
  // the total.
  std::vector<uint64_t> cumulative_;
};

// ORIGINAL_DST with CLUSTER_PROVIDED: the host is the connection's original destination, as
// restored by the original_dst listener filter. Without a restored address there is no host.
// With use_http_header, a request's header "ip:port" (IPv6 in brackets) names the host instead;
// a value that is not one counts original_dst_host_invalid and the connection's destination
// is used (Envoy's order). upstream_port_override then replaces the port, whatever chose it.
// Hosts come from the cluster's OriginalDstHostMap, one per destination; each worker caches the
// entries it has used, so a pick takes the map's lock only for a destination new to the worker.
class OriginalDstLoadBalancer final : public LoadBalancer {
 public:
  // `hosts` null: a map of its own (tests).
  explicit OriginalDstLoadBalancer(OriginalDstLbConfig config = {},
                                   std::shared_ptr<OriginalDstHostMap> hosts = nullptr,
                                   stats::Counter* host_invalid = nullptr);
  HostConstSharedPtr chooseHost(const LoadBalancerContext& context) override;

 private:
  std::optional<net::Address> destination(const LoadBalancerContext& context) const;

  const OriginalDstLbConfig config_;
  const std::shared_ptr<OriginalDstHostMap> hosts_;
  stats::Counter* const host_invalid_;
  // This worker's entries by "ip:port"; one the main thread swept is looked up again.
  std::unordered_map<std::string, std::shared_ptr<OriginalDstHostMap::Entry>> cache_;
  size_t prune_at_ = 64;  // the cache size at which swept entries are next dropped
};

// "10.0.0.1:80" or "[::1]:80" as an address; nothing for anything else (a name, no port).
std::optional<net::Address> parseIpAndPort(std::string_view text);

// The factory for a cluster's policy over one host list (owned by the cluster snapshot);
// hashing policies build their table here and, given a store, set the ring_hash_lb.* /
// maglev_lb.* gauges under `prefix`.
LoadBalancerFactoryConstSharedPtr createHostListFactory(const LbConfig& config,
                                                        const HostVector& hosts,
                                                        stats::Store* store,
                                                        const std::string& prefix);

// The factory for a cluster snapshot (called by the Cluster whenever its hosts change): the
// policy's balancer over the one level that takes traffic, or a priority (and locality) picker
// in front of a balancer per level (priority_lb.h).
LoadBalancerFactoryConstSharedPtr createLoadBalancerFactory(const Cluster& cluster,
                                                            stats::Store& store);

// A new balancer for one worker: cluster.lbFactory().create().
LoadBalancerPtr createLoadBalancer(const Cluster& cluster);

}  // namespace remora::upstream
