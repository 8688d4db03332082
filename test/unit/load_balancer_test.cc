#include "upstream/load_balancer.h"

#include <gtest/gtest.h>

#include <map>

#include "stats/store.h"

namespace remora::upstream {
namespace {

HostVector hosts(const std::vector<uint32_t>& weights) {
  HostVector out;
  for (size_t i = 0; i < weights.size(); ++i) {
    out.push_back(std::make_shared<Host>(
        *net::Address::parse("10.0.0." + std::to_string(i + 1), 80), weights[i]));
  }
  return out;
}

TEST(RoundRobinTest, EqualWeightsRotate) {
  auto h = hosts({1, 1, 1});
  RoundRobinLoadBalancer lb(h);
  std::vector<std::string> picks;
  for (int i = 0; i < 6; ++i) picks.push_back(lb.chooseHost({})->address.ip());
  EXPECT_EQ(picks, (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1",
                                             "10.0.0.2", "10.0.0.3"}));
}

TEST(RoundRobinTest, WeightsAreExactPerCycleAndSpreadOut) {
  auto h = hosts({5, 1, 1});
  RoundRobinLoadBalancer lb(h);
  std::map<std::string, int> counts;
  std::string previous;
  int longest_run = 0, run = 0;
  for (int i = 0; i < 70; ++i) {
    std::string ip = lb.chooseHost({})->address.ip();
    ++counts[ip];
    run = ip == previous ? run + 1 : 1;
    longest_run = std::max(longest_run, run);
    previous = ip;
  }
  EXPECT_EQ(counts["10.0.0.1"], 50);
  EXPECT_EQ(counts["10.0.0.2"], 10);
  EXPECT_EQ(counts["10.0.0.3"], 10);
  EXPECT_LE(longest_run, 4);  // smooth: the heavy host never takes all 5 of a cycle in a row
}

TEST(RoundRobinTest, NoHostsGivesNull) {
  HostVector none;
  RoundRobinLoadBalancer lb(none);
  EXPECT_EQ(lb.chooseHost({}), nullptr);
}

TEST(OriginalDstTest, UsesRestoredDestinationOnly) {
  OriginalDstLoadBalancer lb;
  net::ConnectionInfo info;
  info.local_address = *net::Address::parse("198.18.0.10", 8080);
  EXPECT_EQ(lb.chooseHost({&info}), nullptr);  // not redirected: no host, never ourselves
  info.local_address_restored = true;
  auto host = lb.chooseHost({&info});
  ASSERT_NE(host, nullptr);
  EXPECT_EQ(host->address.asString(), "198.18.0.10:8080");
}

TEST(OriginalDstTest, HeaderOverridesTheDestinationAndAnInvalidOneFallsBack) {
  stats::Store store(1);
  store.bindThread(0);
  auto& invalid = store.counter("cluster.od.original_dst_host_invalid");
  OriginalDstLbConfig config;
  config.http_header_name = "x-envoy-original-dst-host";
  OriginalDstLoadBalancer lb(config, nullptr, &invalid);
  net::ConnectionInfo info;
  info.local_address = *net::Address::parse("198.18.0.10", 8080);
  info.local_address_restored = true;
  http::RequestHeaderMap headers;
  LoadBalancerContext context{&info};
  context.downstream_headers = &headers;
  EXPECT_EQ(lb.chooseHost(context)->address.asString(), "198.18.0.10:8080");  // no header
  headers.set("x-envoy-original-dst-host", "[::1]:9000");
  EXPECT_EQ(lb.chooseHost(context)->address.asString(), "[::1]:9000");
  headers.set("x-envoy-original-dst-host", "service.example:80");
  EXPECT_EQ(lb.chooseHost(context)->address.asString(), "198.18.0.10:8080");
  EXPECT_EQ(invalid.value(), 1u);
}

TEST(OriginalDstTest, PortOverrideReplacesEveryDestinationsPort) {
  OriginalDstLbConfig config;
  config.http_header_name = "x-envoy-original-dst-host";
  config.upstream_port_override = 9443;
  OriginalDstLoadBalancer lb(config);
  net::ConnectionInfo info;
  info.local_address = *net::Address::parse("198.18.0.10", 8080);
  info.local_address_restored = true;
  http::RequestHeaderMap headers;
  LoadBalancerContext context{&info};
  context.downstream_headers = &headers;
  EXPECT_EQ(lb.chooseHost(context)->address.asString(), "198.18.0.10:9443");
  headers.set("x-envoy-original-dst-host", "[::1]:9000");
  EXPECT_EQ(lb.chooseHost(context)->address.asString(), "[::1]:9443");
}

// Workers share one Host per destination (its stats are one in /clusters); a sweep removes the
// hosts no worker picked since the previous one, and a worker then makes a new one.
TEST(OriginalDstTest, WorkersShareHostsAndASweepRemovesTheUnused) {
  auto map = std::make_shared<OriginalDstHostMap>();
  OriginalDstLoadBalancer worker1({}, map), worker2({}, map);
  net::ConnectionInfo a, b;
  a.local_address = *net::Address::parse("198.18.0.10", 80);
  b.local_address = *net::Address::parse("198.18.0.11", 80);
  a.local_address_restored = b.local_address_restored = true;
  auto host_a = worker1.chooseHost({&a});
  EXPECT_EQ(worker2.chooseHost({&a}), host_a);
  EXPECT_EQ(worker1.chooseHost({&a}), host_a);
  worker2.chooseHost({&b});
  EXPECT_EQ(map->hosts().size(), 2u);
  EXPECT_EQ(map->sweep(), 0u);  // both used since they were made
  worker1.chooseHost({&a});
  EXPECT_EQ(map->sweep(), 1u);  // b unused for a whole interval
  ASSERT_EQ(map->hosts().size(), 1u);
  EXPECT_EQ(map->hosts()[0], host_a);
  auto host_b = worker2.chooseHost({&b});
  EXPECT_EQ(host_b->address.asString(), "198.18.0.11:80");
  EXPECT_EQ(map->hosts().size(), 2u);
  EXPECT_EQ(map->sweep(), 1u);                  // a: not picked since the last sweep
  EXPECT_NE(worker1.chooseHost({&a}), host_a);  // swept: a new host for the destination
}

TEST(OriginalDstTest, ParseIpAndPort) {
  EXPECT_EQ(parseIpAndPort("10.1.2.3:8888")->asString(), "10.1.2.3:8888");
  EXPECT_EQ(parseIpAndPort("[2001:db8::1]:443")->asString(), "[2001:db8::1]:443");
  EXPECT_EQ(parseIpAndPort("10.1.2.3:0")->port(), 0);
  for (const char* bad : {"10.1.2.3", "10.1.2.3:", "10.1.2.3:65536", "10.1.2.3:8x", "::1:80",
                          "name:80", ":80", "[::1]", "10.1.2.3:123456"}) {
    EXPECT_FALSE(parseIpAndPort(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace remora::upstream

namespace remora::upstream {
namespace {

TEST(ClusterTest, TrafficGoesToTheLowestPriorityWithHosts) {
  envoy::config::cluster::v3::Cluster proto;
  proto.set_name("c");
  auto add = [&](uint32_t priority, const char* ip) {
    auto* locality = proto.mutable_load_assignment()->add_endpoints();
    locality->set_priority(priority);
    auto* sa = locality->add_lb_endpoints()
                   ->mutable_endpoint()
                   ->mutable_address()
                   ->mutable_socket_address();
    sa->set_address(ip);
    sa->set_port_value(80);
  };
  add(1, "10.0.0.1");
  add(2, "10.0.0.2");
  add(1, "10.0.0.3");
  stats::Store store(1);
  store.bindThread(0);
  Cluster cluster(proto, store);
  EXPECT_EQ(cluster.hosts().size(), 3u);
  ASSERT_EQ(cluster.hostSets().size(), 3u);  // level 0 exists, empty
  ASSERT_EQ(cluster.hostSets()[1].lb_hosts.size(), 2u);
  EXPECT_EQ(cluster.priorityLoad(), (std::vector<uint32_t>{0, 100, 0}));
  auto lb = createLoadBalancer(cluster);
  for (int i = 0; i < 4; ++i) EXPECT_NE(lb->chooseHost({})->address.ip(), "10.0.0.2");
  EXPECT_EQ(store.gauge("cluster.c.membership_total").value(), 3);
}

}  // namespace
}  // namespace remora::upstream
