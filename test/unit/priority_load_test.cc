#include "upstream/priority_load.h"

#include <gtest/gtest.h>

#include <map>
#include <tuple>

#include "stats/store.h"
#include "upstream/cluster.h"
#include "upstream/load_balancer.h"

namespace remora::upstream {
namespace {

// A level with `healthy` of 100 hosts healthy: its health percentage is exactly `healthy`.
PriorityCounts percent(uint32_t healthy) { return {100, healthy}; }

// Envoy's "Priority levels" table: two levels, P=1 fully healthy.
TEST(PriorityLoadTest, TwoLevelsFollowTheDocumentedTable) {
  const std::vector<std::pair<uint32_t, std::vector<uint32_t>>> rows = {
      {100, {100, 0}}, {72, {100, 0}}, {71, {99, 1}},
      {50, {70, 30}},  {25, {35, 65}}, {0, {0, 100}}};
  for (const auto& [p0, load] : rows) {
    auto out = computePriorityLoad({percent(p0), percent(100)}, kDefaultOverprovisioningFactor,
                                   kDefaultPanicThreshold);
    EXPECT_EQ(out.load, load) << "P=0 " << p0 << "% healthy";
    // Normalized total health is 100%: panic is disregarded.
    EXPECT_EQ(out.panic, (std::vector<bool>{false, false})) << "P=0 " << p0 << "% healthy";
  }
}

// Envoy's "Panic threshold" table, both levels degrading (threshold 50%).
TEST(PriorityLoadTest, PanicAppliesOnlyWhenTotalHealthFallsShort) {
  auto out = computePriorityLoad({percent(72), percent(72)}, 140, 50);
  EXPECT_EQ(out.load, (std::vector<uint32_t>{100, 0}));
  out = computePriorityLoad({percent(71), percent(71)}, 140, 50);
  EXPECT_EQ(out.load, (std::vector<uint32_t>{99, 1}));
  EXPECT_EQ(out.panic, (std::vector<bool>{false, false}));
  // 25% and 25%: normalized total health 70%, both below the threshold, so both in panic and
  // the load follows the host counts.
  out = computePriorityLoad({percent(25), percent(25)}, 140, 50);
  EXPECT_EQ(out.load, (std::vector<uint32_t>{50, 50}));
  EXPECT_EQ(out.panic, (std::vector<bool>{true, true}));
  // 5% and 65%: total 98%; only P=0 is in panic. Health scores 7 and 91 normalise to 7 and 92
  // with the rounding leftover going to the first level with health, as Envoy's code does (the
  // documentation's table rounds to 7/93).
  out = computePriorityLoad({percent(5), percent(65)}, 140, 50);
  EXPECT_EQ(out.panic, (std::vector<bool>{true, false}));
  EXPECT_EQ(out.load, (std::vector<uint32_t>{8, 92}));
}

TEST(PriorityLoadTest, HealthIsScaledByTheOverprovisioningFactorAndCapped) {
  EXPECT_EQ(priorityHealth({10, 5}, 140), 70u);
  EXPECT_EQ(priorityHealth({10, 8}, 140), 100u);
  EXPECT_EQ(priorityHealth({10, 5}, 100), 50u);  // factor 1.0: no overprovisioning
  EXPECT_EQ(priorityHealth({0, 0}, 140), 0u);
  // Factor 1.0: P=0 at 80% keeps only 80% of the traffic.
  auto out = computePriorityLoad({{10, 8}, {10, 10}}, 100, 50);
  EXPECT_EQ(out.load, (std::vector<uint32_t>{80, 20}));
}

TEST(PriorityLoadTest, NothingHealthy) {
  // Panic: all levels in panic, load by host counts (1 and 3 hosts).
  auto out = computePriorityLoad({{1, 0}, {3, 0}}, 140, 50);
  EXPECT_EQ(out.load, (std::vector<uint32_t>{25, 75}));
  EXPECT_EQ(out.panic, (std::vector<bool>{true, true}));
  // Panic disabled (0%): no level panics, P=0 nominally takes everything and has no host.
  out = computePriorityLoad({{1, 0}, {3, 0}}, 140, 0);
  EXPECT_EQ(out.load, (std::vector<uint32_t>{100, 0}));
  EXPECT_EQ(out.panic, (std::vector<bool>{false, false}));
  // An empty cluster.
  out = computePriorityLoad({}, 140, 50);
  EXPECT_EQ(out.load, (std::vector<uint32_t>{100}));
}

// Envoy's "Degraded endpoints" table: one level, healthy and degraded percentages of its hosts.
TEST(PriorityLoadTest, DegradedHostsTakeWhatTheHealthyCannot) {
  const std::vector<std::tuple<uint32_t, uint32_t, uint32_t, uint32_t>> rows = {
      {100, 0, 100, 0}, {72, 28, 100, 0}, {71, 29, 99, 1},
      {50, 50, 70, 30}, {25, 65, 35, 65}, {10, 90, 14, 86}};
  for (const auto& [healthy, degraded, healthy_load, degraded_load] : rows) {
    auto out = computePriorityLoad({{100, healthy, degraded}}, 140, 50);
    EXPECT_EQ(out.load, std::vector<uint32_t>{healthy_load}) << healthy << "/" << degraded;
    EXPECT_EQ(out.degraded_load, std::vector<uint32_t>{degraded_load})
        << healthy << "/" << degraded;
    EXPECT_EQ(out.panic, std::vector<bool>{false});
  }
  // Healthy hosts of a lower level come before degraded ones of a higher level: P=0 all
  // degraded, P=1 all healthy.
  auto out = computePriorityLoad({{4, 0, 4}, {4, 4, 0}}, 140, 50);
  EXPECT_EQ(out.load, (std::vector<uint32_t>{0, 100}));
  EXPECT_EQ(out.degraded_load, (std::vector<uint32_t>{0, 0}));
  // Degraded hosts count against panic: 20% healthy + 40% degraded is not below 50%. Scores
  // 28 and 56 normalise to 33 and 66; the rounding leftover goes to the healthy hosts.
  out = computePriorityLoad({{10, 2, 4}}, 140, 50);
  EXPECT_EQ(out.panic, std::vector<bool>{false});
  EXPECT_EQ(out.load, std::vector<uint32_t>{34});
  EXPECT_EQ(out.degraded_load, std::vector<uint32_t>{66});
  // The rounding leftover goes to the first level with healthy hosts; only degraded: to those.
  out = computePriorityLoad({{10, 0, 3}}, 140, 0);
  EXPECT_EQ(out.degraded_load, std::vector<uint32_t>{100});
  // Draws walk the healthy loads, then the degraded ones.
  EXPECT_EQ(choosePriority({28, 0}, {56, 16}, 27), (std::pair<uint32_t, bool>{0, false}));
  EXPECT_EQ(choosePriority({28, 0}, {56, 16}, 28), (std::pair<uint32_t, bool>{0, true}));
  EXPECT_EQ(choosePriority({28, 0}, {56, 16}, 90), (std::pair<uint32_t, bool>{1, true}));
}

TEST(PriorityLoadTest, ChoosePriorityWalksTheCumulativeLoad) {
  const std::vector<uint32_t> load = {70, 0, 30};
  EXPECT_EQ(choosePriority(load, 0), 0u);
  EXPECT_EQ(choosePriority(load, 69), 0u);
  EXPECT_EQ(choosePriority(load, 70), 2u);
  EXPECT_EQ(choosePriority(load, 199), 2u);
  EXPECT_EQ(choosePriority(load, 169), 0u);  // draws wrap modulo 100
}

// A cluster over 10.0.<priority>.<n> endpoints, `unhealthy` of them per level marked by EDS.
envoy::config::cluster::v3::Cluster clusterProto(const std::vector<std::pair<int, int>>& levels,
                                                 std::optional<double> panic = std::nullopt) {
  envoy::config::cluster::v3::Cluster proto;
  proto.set_name("c");
  if (panic) proto.mutable_common_lb_config()->mutable_healthy_panic_threshold()->set_value(*panic);
  for (size_t p = 0; p < levels.size(); ++p) {
    auto* locality = proto.mutable_load_assignment()->add_endpoints();
    locality->set_priority(static_cast<uint32_t>(p));
    for (int i = 0; i < levels[p].first; ++i) {
      auto* e = locality->add_lb_endpoints();
      auto* sa = e->mutable_endpoint()->mutable_address()->mutable_socket_address();
      sa->set_address("10.0." + std::to_string(p) + "." + std::to_string(i + 1));
      sa->set_port_value(80);
    }
  }
  return proto;
}

TEST(PriorityLoadBalancerTest, SpreadsPicksByPriorityLoadAndCountsPanic) {
  stats::Store store(1);
  store.bindThread(0);
  Cluster base(clusterProto({{2, 0}, {2, 0}}), store);
  // Half of P=0 unhealthy: P=0 health 70, P=1 100 -> 70/30.
  base.hosts()[0]->healthFlagSet(HealthFlag::FailedActiveHc);
  auto cluster = base.withHosts(base.hosts());
  EXPECT_EQ(cluster->priorityLoad(), (std::vector<uint32_t>{70, 30}));
  auto lb = createLoadBalancer(*cluster);
  std::map<std::string, int> picks;
  for (int i = 0; i < 10000; ++i) ++picks[lb->chooseHost({})->address.ip()];
  EXPECT_EQ(picks.count("10.0.0.1"), 0u);  // unhealthy, P=0 not in panic
  EXPECT_NEAR(picks["10.0.0.2"], 7000, 400);
  EXPECT_NEAR(picks["10.0.1.1"] + picks["10.0.1.2"], 3000, 400);
  EXPECT_EQ(store.counter("cluster.c.lb_healthy_panic").value(), 0u);

  // One level, one of three healthy: 33% < 50% -> panic over all three, counted.
  Cluster single(clusterProto({{3, 0}}), store);
  single.hosts()[0]->healthFlagSet(HealthFlag::FailedEdsHealth);
  single.hosts()[1]->healthFlagSet(HealthFlag::FailedEdsHealth);
  auto panicked = single.withHosts(single.hosts());
  EXPECT_TRUE(panicked->hostSets()[0].panic);
  lb = createLoadBalancer(*panicked);
  picks.clear();
  for (int i = 0; i < 30; ++i) ++picks[lb->chooseHost({})->address.ip()];
  EXPECT_EQ(picks.size(), 3u);
  EXPECT_EQ(store.counter("cluster.c.lb_healthy_panic").value(), 30u);
}

TEST(PriorityLoadBalancerTest, PanicThresholdZeroNeverPanics) {
  stats::Store store(1);
  store.bindThread(0);
  Cluster base(clusterProto({{2, 0}}, 0.0), store);
  for (const auto& host : base.hosts()) host->healthFlagSet(HealthFlag::FailedActiveHc);
  auto cluster = base.withHosts(base.hosts());
  EXPECT_FALSE(cluster->hostSets()[0].panic);
  EXPECT_EQ(createLoadBalancer(*cluster)->chooseHost({}), nullptr);
}

TEST(PriorityLoadBalancerTest, LocalityWeightedPicksByEffectiveWeight) {
  envoy::config::cluster::v3::Cluster proto;
  proto.set_name("c");
  proto.mutable_common_lb_config()->mutable_locality_weighted_lb_config();
  auto add_locality = [&](const char* zone, uint32_t weight, int hosts) {
    auto* locality = proto.mutable_load_assignment()->add_endpoints();
    locality->mutable_locality()->set_zone(zone);
    locality->mutable_load_balancing_weight()->set_value(weight);
    for (int i = 0; i < hosts; ++i) {
      auto* sa = locality->add_lb_endpoints()
                     ->mutable_endpoint()
                     ->mutable_address()
                     ->mutable_socket_address();
      sa->set_address(std::string("10.") +
                      (zone[0] == 'a'   ? "1"
                       : zone[0] == 'b' ? "2"
                                        : "3") +
                      ".0." + std::to_string(i + 1));
      sa->set_port_value(80);
    }
  };
  add_locality("a", 1, 2);
  add_locality("b", 3, 2);
  add_locality("c", 0, 2);  // no weight: no traffic
  stats::Store store(1);
  store.bindThread(0);
  Cluster cluster(proto, store);
  auto lb = createLoadBalancer(cluster);
  std::map<std::string, int> by_zone;
  for (int i = 0; i < 400; ++i) ++by_zone[lb->chooseHost({})->address.ip().substr(0, 4)];
  EXPECT_EQ(by_zone["10.1"], 100);
  EXPECT_EQ(by_zone["10.2"], 300);
  EXPECT_EQ(by_zone.count("10.3"), 0u);

  // Half of zone b unhealthy: its effective weight is 3 * min(1, 1.4 * 0.5) = 2.1.
  cluster.hosts()[2]->healthFlagSet(HealthFlag::FailedActiveHc);
  auto next = cluster.withHosts(cluster.hosts());
  EXPECT_DOUBLE_EQ(next->hostSets()[0].localities[1].effective_weight, 3 * 0.7);
  lb = createLoadBalancer(*next);
  by_zone.clear();
  for (int i = 0; i < 310; ++i) ++by_zone[lb->chooseHost({})->address.ip()];
  EXPECT_NEAR(by_zone["10.1.0.1"] + by_zone["10.1.0.2"], 100, 1);
  EXPECT_NEAR(by_zone["10.2.0.2"], 210, 1);
  EXPECT_EQ(by_zone.count("10.2.0.1"), 0u);

  // Every weighted host degraded: the degraded share (all of it) is spread by the localities'
  // degraded effective weights, a 1 : b 3.
  for (int i = 0; i < 4; ++i) cluster.hosts()[i]->healthFlagSet(HealthFlag::DegradedEdsHealth);
  cluster.hosts()[2]->healthFlagClear(HealthFlag::FailedActiveHc);
  for (int i = 4; i < 6; ++i) cluster.hosts()[i]->healthFlagSet(HealthFlag::FailedEdsHealth);
  next = cluster.withHosts(cluster.hosts());
  ASSERT_EQ(next->degradedPriorityLoad()[0], 100u);
  lb = createLoadBalancer(*next);
  by_zone.clear();
  for (int i = 0; i < 400; ++i) ++by_zone[lb->chooseHost({})->address.ip().substr(0, 4)];
  EXPECT_EQ(by_zone["10.1"], 100);
  EXPECT_EQ(by_zone["10.2"], 300);
  // One of b's degraded hosts fails: b's degraded effective weight is 3 * min(1, 1.4 * 0.5).
  cluster.hosts()[2]->healthFlagSet(HealthFlag::FailedActiveHc);
  next = cluster.withHosts(cluster.hosts());
  EXPECT_DOUBLE_EQ(next->hostSets()[0].localities[1].degraded_effective_weight, 3 * 0.7);
  lb = createLoadBalancer(*next);
  by_zone.clear();
  for (int i = 0; i < 310; ++i) ++by_zone[lb->chooseHost({})->address.ip()];
  EXPECT_NEAR(by_zone["10.1.0.1"] + by_zone["10.1.0.2"], 100, 1);
  EXPECT_NEAR(by_zone["10.2.0.2"], 210, 1);
}

}  // namespace
}  // namespace remora::upstream
