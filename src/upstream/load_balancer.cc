#include "upstream/load_balancer.h"

#include <algorithm>

#include "upstream/least_request_lb.h"
#include "upstream/maglev_lb.h"
#include "upstream/priority_lb.h"
#include "upstream/ring_hash_lb.h"

namespace remora::upstream {

RoundRobinLoadBalancer::RoundRobinLoadBalancer(const HostVector& hosts, RandomFn random)
    : hosts_(hosts), current_(hosts.size(), 0) {
  for (const auto& h : hosts_) total_weight_ += h->weight;
  if (random != nullptr && total_weight_ > 0) {
    // Start somewhere in the cycle (bounded work: a cycle of huge weights starts in its first
    // 1024 picks).
    const uint64_t skip = random() % static_cast<uint64_t>(std::min<int64_t>(total_weight_, 1024));
    for (uint64_t i = 0; i < skip; ++i) chooseHost({});
  }
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

RandomLoadBalancer::RandomLoadBalancer(const HostVector& hosts, RandomFn random)
    : hosts_(hosts), random_(random) {
  const bool equal = std::all_of(hosts.begin(), hosts.end(), [&](const HostConstSharedPtr& h) {
    return h->weight == hosts.front()->weight;
  });
  if (equal) return;
  uint64_t sum = 0;
  for (const auto& h : hosts) cumulative_.push_back(sum += h->weight);
}

HostConstSharedPtr RandomLoadBalancer::chooseHost(const LoadBalancerContext&) {
  if (hosts_.empty()) return nullptr;
  if (cumulative_.empty()) return hosts_[random_() % hosts_.size()];
  const uint64_t draw = random_() % cumulative_.back();
  // The first host whose running sum exceeds the draw owns it.
  auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), draw);
  return hosts_[static_cast<size_t>(it - cumulative_.begin())];
}

std::optional<net::Address> parseIpAndPort(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) return std::nullopt;
  std::string_view ip = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') {
    ip = ip.substr(1, ip.size() - 2);
  } else if (ip.find(':') != std::string_view::npos) {
    return std::nullopt;  // IPv6 needs its brackets
  }
  uint32_t port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9' || port_text.size() > 5) return std::nullopt;
    port = port * 10 + static_cast<uint32_t>(c - '0');
  }
  if (port > 65535) return std::nullopt;
  auto address = net::Address::parse(ip, static_cast<uint16_t>(port));
  if (!address.ok()) return std::nullopt;
  return *address;
}

OriginalDstLoadBalancer::OriginalDstLoadBalancer(OriginalDstLbConfig config,
                                                 std::shared_ptr<OriginalDstHostMap> hosts,
                                                 stats::Counter* host_invalid)
    : config_(std::move(config)),
      hosts_(hosts ? std::move(hosts) : std::make_shared<OriginalDstHostMap>()),
      host_invalid_(host_invalid) {}

std::optional<net::Address> OriginalDstLoadBalancer::destination(
    const LoadBalancerContext& context) const {
  if (config_.http_header_name && context.downstream_headers != nullptr) {
    if (const std::string* value = context.downstream_headers->get(*config_.http_header_name)) {
      if (auto address = parseIpAndPort(*value)) return address;
      if (host_invalid_ != nullptr) host_invalid_->inc();
    }
  }
  if (context.downstream == nullptr || !context.downstream->local_address_restored) {
    return std::nullopt;
  }
  return context.downstream->local_address;
}

HostConstSharedPtr OriginalDstLoadBalancer::chooseHost(const LoadBalancerContext& context) {
  auto address = destination(context);
  if (!address) return nullptr;
  if (config_.upstream_port_override) {
    address = *net::Address::parse(address->ip(), *config_.upstream_port_override);
  }
  std::string key = address->asString();
  auto it = cache_.find(key);
  if (it == cache_.end() || it->second->removed.load(std::memory_order_acquire)) {
    // New to this worker, or swept: ask the shared map. Now and then forget what was swept,
    // so the cache stays near the map's size at a cost spread over the new destinations.
    if (cache_.size() >= prune_at_) {
      std::erase_if(cache_, [](const auto& item) {
        return item.second->removed.load(std::memory_order_acquire);
      });
      prune_at_ = std::max<size_t>(64, cache_.size() * 2);
    }
    it = cache_.insert_or_assign(std::move(key), hosts_->getOrCreate(*address)).first;
  }
  it->second->used.store(true, std::memory_order_relaxed);
  return it->second->host;
}

namespace {

// The stateless policies: each worker's balancer reads the cluster's host snapshot directly.
template <class Lb>
class SimpleFactory final : public LoadBalancerFactory {
 public:
  explicit SimpleFactory(const HostVector& hosts) : hosts_(hosts) {}
  LoadBalancerPtr create() const override { return std::make_unique<Lb>(hosts_, randomU64); }

 private:
  const HostVector& hosts_;  // owned by the Cluster, which owns this factory
};

class OriginalDstFactory final : public LoadBalancerFactory {
 public:
  OriginalDstFactory(OriginalDstLbConfig config, std::shared_ptr<OriginalDstHostMap> hosts,
                     stats::Counter* host_invalid)
      : config_(std::move(config)), hosts_(std::move(hosts)), host_invalid_(host_invalid) {}
  LoadBalancerPtr create() const override {
    return std::make_unique<OriginalDstLoadBalancer>(config_, hosts_, host_invalid_);
  }

 private:
  const OriginalDstLbConfig config_;
  const std::shared_ptr<OriginalDstHostMap> hosts_;
  stats::Counter* const host_invalid_;
};

class LeastRequestFactory final : public LoadBalancerFactory {
 public:
  LeastRequestFactory(const HostVector& hosts, const LeastRequestLbConfig& config)
      : hosts_(hosts), config_(config) {}
  LoadBalancerPtr create() const override {
    return std::make_unique<LeastRequestLoadBalancer>(hosts_, config_, randomU64);
  }

 private:
  const HostVector& hosts_;
  const LeastRequestLbConfig config_;
};

}  // namespace

LoadBalancerFactoryConstSharedPtr createHostListFactory(const LbConfig& config,
                                                        const HostVector& hosts,
                                                        stats::Store* store,
                                                        const std::string& prefix) {
  switch (config.policy) {
    case LbPolicy::Random:
      return std::make_shared<SimpleFactory<RandomLoadBalancer>>(hosts);
    case LbPolicy::LeastRequest:
      return std::make_shared<LeastRequestFactory>(hosts, config.least_request);
    case LbPolicy::RingHash: {
      auto ring = std::make_shared<const RingHashTable>(hosts, config.ring_hash);
      if (store != nullptr) {
        store->gauge(prefix + "ring_hash_lb.size").set(static_cast<int64_t>(ring->size()));
        store->gauge(prefix + "ring_hash_lb.min_hashes_per_host")
            .set(static_cast<int64_t>(ring->minHashesPerHost()));
        store->gauge(prefix + "ring_hash_lb.max_hashes_per_host")
            .set(static_cast<int64_t>(ring->maxHashesPerHost()));
      }
      return std::make_shared<HashingLoadBalancerFactory>(std::move(ring));
    }
    case LbPolicy::Maglev: {
      auto table = std::make_shared<const MaglevTable>(hosts, config.maglev.table_size);
      if (store != nullptr) {
        store->gauge(prefix + "maglev_lb.min_entries_per_host")
            .set(static_cast<int64_t>(table->minEntriesPerHost()));
        store->gauge(prefix + "maglev_lb.max_entries_per_host")
            .set(static_cast<int64_t>(table->maxEntriesPerHost()));
      }
      return std::make_shared<HashingLoadBalancerFactory>(std::move(table));
    }
    case LbPolicy::ClusterProvided:  // createLoadBalancerFactory's: the cluster owns its hosts
    case LbPolicy::RoundRobin:
      break;
  }
  return std::make_shared<SimpleFactory<RoundRobinLoadBalancer>>(hosts);
}

LoadBalancerFactoryConstSharedPtr createLoadBalancerFactory(const Cluster& cluster,
                                                            stats::Store& store) {
  const std::string prefix = "cluster." + cluster.name() + ".";
  const auto& sets = cluster.hostSets();
  // The common case, one level taking all traffic without locality weighting: the policy's
  // balancer over its hosts directly, no priority step per pick.
  if (cluster.lbConfig().policy == LbPolicy::ClusterProvided) {
    return std::make_shared<OriginalDstFactory>(
        cluster.lbConfig().original_dst, cluster.originalDstHosts(),
        &store.counter(prefix + "original_dst_host_invalid"));
  }
  if ((sets.size() == 1 && !sets[0].panic && !cluster.localityWeighted() &&
       cluster.degradedPriorityLoad()[0] == 0)) {
    return createHostListFactory(cluster.lbConfig(), sets[0].lb_hosts, &store, prefix);
  }
  return createPriorityLoadBalancerFactory(cluster, store, prefix);
}

LoadBalancerPtr createLoadBalancer(const Cluster& cluster) { return cluster.lbFactory().create(); }

}  // namespace remora::upstream
