#include "upstream/priority_lb.h"

#include <vector>

#include "upstream/priority_load.h"

namespace remora::upstream {
namespace {

struct LevelFactories {
  LoadBalancerFactoryConstSharedPtr level;
  // Over the level's degraded hosts; null when it has none.
  LoadBalancerFactoryConstSharedPtr degraded;
  // Parallel to HostSet::localities; empty without locality weighted balancing. A locality
  // without degraded hosts has a null degraded factory.
  std::vector<LoadBalancerFactoryConstSharedPtr> localities;
  std::vector<LoadBalancerFactoryConstSharedPtr> degraded_localities;
};

class PriorityLoadBalancer final : public LoadBalancer {
 public:
  PriorityLoadBalancer(const Cluster& cluster, const std::vector<LevelFactories>& factories,
                       RandomFn random)
      : sets_(cluster.hostSets()),
        load_(cluster.priorityLoad()),
        degraded_load_(cluster.degradedPriorityLoad()),
        panic_counter_(cluster.stats().lb_healthy_panic),
        hashing_(cluster.lbConfig().usesHashKey()),
        locality_weighted_(cluster.localityWeighted() && !hashing_),
        random_(random) {
    levels_.resize(factories.size());
    for (size_t p = 0; p < factories.size(); ++p) {
      levels_[p].lb = factories[p].level->create();
      if (factories[p].degraded) levels_[p].degraded_lb = factories[p].degraded->create();
      for (const auto& factory : factories[p].localities) {
        levels_[p].locality_lbs.push_back(factory->create());
      }
      for (const auto& factory : factories[p].degraded_localities) {
        levels_[p].degraded_locality_lbs.push_back(factory ? factory->create() : nullptr);
      }
      levels_[p].locality_current.assign(factories[p].localities.size(), 0.0);
      levels_[p].degraded_locality_current.assign(factories[p].localities.size(), 0.0);
    }
  }

  HostConstSharedPtr chooseHost(const LoadBalancerContext& context) override {
    const uint64_t draw = hashing_ && context.hash_key ? *context.hash_key : random_();
    const auto [p, degraded] = choosePriority(load_, degraded_load_, draw);
    const HostSet& set = sets_[p];
    Level& level = levels_[p];
    // The healthy hosts fall short: this draw is for the level's degraded hosts, by locality
    // (their degraded effective weights) when balancing is locality weighted, as Envoy's
    // degraded locality scheduler.
    if (degraded && !set.panic && level.degraded_lb) {
      if (locality_weighted_) {
        const int locality = pickLocality(set, level.degraded_locality_current,
                                          &HostSet::Locality::degraded_effective_weight);
        if (locality >= 0) {
          return level.degraded_locality_lbs[static_cast<size_t>(locality)]->chooseHost(context);
        }
      }
      return level.degraded_lb->chooseHost(context);
    }
    if (set.panic) {
      panic_counter_.inc();
    } else if (locality_weighted_) {
      const int locality =
          pickLocality(set, level.locality_current, &HostSet::Locality::effective_weight);
      if (locality >= 0)
        return level.locality_lbs[static_cast<size_t>(locality)]->chooseHost(context);
    }
    return level.lb->chooseHost(context);
  }

 private:
  struct Level {
    LoadBalancerPtr lb;
    LoadBalancerPtr degraded_lb;
    std::vector<LoadBalancerPtr> locality_lbs;
    std::vector<LoadBalancerPtr> degraded_locality_lbs;
    // Smooth weighted round robin state over the localities, for each share.
    std::vector<double> locality_current;
    std::vector<double> degraded_locality_current;
  };

  // The locality with the largest running credit among those with a `weight` (effective, or
  // degraded effective); -1 when none has any (then the level's hosts of that kind are used, as
  // Envoy).
  static int pickLocality(const HostSet& set, std::vector<double>& current,
                          double HostSet::Locality::*weight_of) {
    double total = 0;
    int best = -1;
    for (size_t i = 0; i < set.localities.size(); ++i) {
      const double weight = set.localities[i].*weight_of;
      if (weight <= 0) continue;
      total += weight;
      current[i] += weight;
      if (best < 0 || current[i] > current[static_cast<size_t>(best)]) {
        best = static_cast<int>(i);
      }
    }
    if (best >= 0) current[static_cast<size_t>(best)] -= total;
    return best;
  }

  const std::vector<HostSet>& sets_;
  const std::vector<uint32_t>& load_;
  const std::vector<uint32_t>& degraded_load_;
  stats::Counter& panic_counter_;
  const bool hashing_;
  const bool locality_weighted_;
  RandomFn random_;
  std::vector<Level> levels_;
};

class PriorityLoadBalancerFactory final : public LoadBalancerFactory {
 public:
  PriorityLoadBalancerFactory(const Cluster& cluster, std::vector<LevelFactories> factories)
      : cluster_(cluster), factories_(std::move(factories)) {}
  LoadBalancerPtr create() const override {
    return std::make_unique<PriorityLoadBalancer>(cluster_, factories_, randomU64);
  }

 private:
  const Cluster& cluster_;  // the snapshot that owns this factory
  const std::vector<LevelFactories> factories_;
};

}  // namespace

LoadBalancerFactoryConstSharedPtr createPriorityLoadBalancerFactory(const Cluster& cluster,
                                                                    stats::Store& store,
                                                                    const std::string& prefix) {
  std::vector<LevelFactories> factories;
  const bool locality_weighted = cluster.localityWeighted() && !cluster.lbConfig().usesHashKey();
  for (size_t p = 0; p < cluster.hostSets().size(); ++p) {
    const HostSet& set = cluster.hostSets()[p];
    LevelFactories level;
    // Hashing gauges describe level 0's table.
    level.level =
        createHostListFactory(cluster.lbConfig(), set.lb_hosts, p == 0 ? &store : nullptr, prefix);
    if (!set.degraded_hosts.empty()) {
      level.degraded =
          createHostListFactory(cluster.lbConfig(), set.degraded_hosts, nullptr, prefix);
    }
    if (locality_weighted) {
      for (const auto& locality : set.localities) {
        level.localities.push_back(
            createHostListFactory(cluster.lbConfig(), locality.healthy_hosts, nullptr, prefix));
        level.degraded_localities.push_back(locality.degraded_hosts.empty()
                                                ? nullptr
                                                : createHostListFactory(cluster.lbConfig(),
                                                                        locality.degraded_hosts,
                                                                        nullptr, prefix));
      }
    }
    factories.push_back(std::move(level));
  }
  return std::make_shared<PriorityLoadBalancerFactory>(cluster, std::move(factories));
}

}  // namespace remora::upstream
