#include "upstream/resource_manager.h"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "upstream/cluster.h"

namespace remora::upstream {
namespace {

envoy::config::cluster::v3::CircuitBreakers parse(const std::string& text) {
  envoy::config::cluster::v3::CircuitBreakers proto;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &proto));
  return proto;
}

int64_t gauge(stats::Store& store, const std::string& name) { return store.gauge(name).value(); }

TEST(ResourceManagerTest, EnvoyDefaultsWithoutThresholds) {
  auto limits = ResourceManager::Limits::fromProto(parse(""), ResourcePriority::Default);
  EXPECT_EQ(limits.max_connections, 1024u);
  EXPECT_EQ(limits.max_pending_requests, 1024u);
  EXPECT_EQ(limits.max_requests, 1024u);
  EXPECT_EQ(limits.max_retries, 3u);
  EXPECT_FALSE(limits.budget_percent.has_value());
  EXPECT_FALSE(limits.track_remaining);
}

TEST(ResourceManagerTest, ThresholdsPickedByPriorityFirstEntryWins) {
  auto proto = parse(R"(
    thresholds { priority: HIGH max_connections { value: 7 } max_retries { value: 9 } }
    thresholds { max_requests { value: 5 } track_remaining: true }
    thresholds { max_requests { value: 99 } }
  )");
  auto high = ResourceManager::Limits::fromProto(proto, ResourcePriority::High);
  EXPECT_EQ(high.max_connections, 7u);
  EXPECT_EQ(high.max_retries, 9u);
  EXPECT_EQ(high.max_requests, 1024u);
  auto def = ResourceManager::Limits::fromProto(proto, ResourcePriority::Default);
  EXPECT_EQ(def.max_requests, 5u);
  EXPECT_EQ(def.max_connections, 1024u);
  EXPECT_TRUE(def.track_remaining);
}

TEST(ResourceManagerTest, EmptyRetryBudgetTakesEnvoyDefaults) {
  auto limits = ResourceManager::Limits::fromProto(parse("thresholds { retry_budget {} }"),
                                                   ResourcePriority::Default);
  ASSERT_TRUE(limits.budget_percent.has_value());
  EXPECT_DOUBLE_EQ(*limits.budget_percent, 20.0);
  EXPECT_EQ(*limits.min_retry_concurrency, 3u);
}

TEST(ResourceManagerTest, RetryBudgetArithmetic) {
  // max(budget% of active + pending, truncated; min_retry_concurrency)
  EXPECT_EQ(ResourceManager::retryBudgetMax(20.0, 3, 0), 3u);
  EXPECT_EQ(ResourceManager::retryBudgetMax(20.0, 3, 19), 3u);  // 3.8 -> 3
  EXPECT_EQ(ResourceManager::retryBudgetMax(20.0, 3, 20), 4u);  // 4
  EXPECT_EQ(ResourceManager::retryBudgetMax(20.0, 3, 24), 4u);  // 4.8 -> 4
  EXPECT_EQ(ResourceManager::retryBudgetMax(50.0, 0, 5), 2u);   // 2.5 -> 2
  EXPECT_EQ(ResourceManager::retryBudgetMax(100.0, 1, 7), 7u);
  EXPECT_EQ(ResourceManager::retryBudgetMax(0.0, 0, 1000), 0u);
}

TEST(ResourceManagerTest, LimitHoldsAndGaugesFollow) {
  stats::Store store(1);
  store.bindThread(0);
  ResourceManager::Limits limits;
  limits.max_requests = 2;
  limits.track_remaining = true;
  ResourceManager manager(limits, store, "cluster.c.circuit_breakers.default.");
  const std::string p = "cluster.c.circuit_breakers.default.";
  EXPECT_EQ(gauge(store, p + "rq_open"), 0);
  EXPECT_EQ(gauge(store, p + "remaining_rq"), 2);
  EXPECT_EQ(gauge(store, p + "remaining_cx"), 1024);
  EXPECT_EQ(gauge(store, p + "remaining_retries"), 3);
  {
    ResourceHold a;
    ASSERT_TRUE(manager.requests().tryAcquire());
    a = ResourceHold(manager.requests());
    EXPECT_EQ(gauge(store, p + "remaining_rq"), 1);
    ASSERT_TRUE(manager.requests().tryAcquire());
    ResourceHold b(manager.requests());
    EXPECT_FALSE(manager.requests().tryAcquire());
    EXPECT_EQ(manager.requests().count(), 2u);
    EXPECT_EQ(gauge(store, p + "rq_open"), 1);
    EXPECT_EQ(gauge(store, p + "remaining_rq"), 0);
  }
  EXPECT_EQ(manager.requests().count(), 0u);
  EXPECT_EQ(gauge(store, p + "rq_open"), 0);
  EXPECT_EQ(gauge(store, p + "remaining_rq"), 2);
}

TEST(ResourceManagerTest, ConnectionAcquireMayPassTheLimit) {
  stats::Store store(1);
  store.bindThread(0);
  ResourceManager::Limits limits;
  limits.max_connections = 1;
  ResourceManager manager(limits, store, "cb.");
  ASSERT_TRUE(manager.connections().tryAcquire());
  EXPECT_FALSE(manager.connections().tryAcquire());
  manager.connections().acquire();  // a pool's first connection
  EXPECT_EQ(manager.connections().count(), 2u);
  EXPECT_EQ(gauge(store, "cb.cx_open"), 1);
  manager.connections().release();
  EXPECT_EQ(gauge(store, "cb.cx_open"), 1);
  manager.connections().release();
  EXPECT_EQ(gauge(store, "cb.cx_open"), 0);
}

TEST(ResourceManagerTest, RetryBudgetFollowsActiveAndPendingRequests) {
  stats::Store store(1);
  store.bindThread(0);
  ResourceManager::Limits limits = ResourceManager::Limits::fromProto(parse(R"(thresholds {
        max_retries { value: 100 } track_remaining: true
        retry_budget { budget_percent { value: 25 } min_retry_concurrency { value: 1 } } })"),
                                                                      ResourcePriority::Default);
  ResourceManager manager(limits, store, "cb.");
  // No requests: min_retry_concurrency (1), not max_retries.
  EXPECT_EQ(manager.retries().max(), 1u);
  ASSERT_TRUE(manager.retries().tryAcquire());
  EXPECT_FALSE(manager.retries().tryAcquire());
  EXPECT_EQ(gauge(store, "cb.rq_retry_open"), 1);
  EXPECT_EQ(gauge(store, "cb.remaining_retries"), 0);  // Envoy: 0 under a budget
  // 6 active + 2 pending: 25% of 8 = 2.
  for (int i = 0; i < 6; ++i) manager.requests().acquire();
  for (int i = 0; i < 2; ++i) manager.pendingRequests().acquire();
  EXPECT_EQ(manager.retries().max(), 2u);
  EXPECT_EQ(gauge(store, "cb.rq_retry_open"), 0);
  EXPECT_TRUE(manager.retries().tryAcquire());
  EXPECT_FALSE(manager.retries().tryAcquire());
  EXPECT_EQ(gauge(store, "cb.rq_retry_open"), 1);
}

TEST(ResourceManagerTest, ExactLimitAcrossThreads) {
  stats::Store store(5);
  store.bindThread(0);
  ResourceManager::Limits limits;
  limits.max_pending_requests = 37;
  ResourceManager manager(limits, store, "cb.");
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (uint32_t slot = 1; slot < 5; ++slot) {
    threads.emplace_back([&, slot] {
      store.bindThread(slot);
      for (int i = 0; i < 1000; ++i) {
        if (manager.pendingRequests().tryAcquire()) granted.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(granted.load(), 37);
  EXPECT_EQ(manager.pendingRequests().count(), 37u);
  EXPECT_EQ(gauge(store, "cb.rq_pending_open"), 1);
}

TEST(ResourceManagerTest, ClusterManagersNamePriorities) {
  stats::Store store(1);
  store.bindThread(0);
  ClusterResourceManagers managers(parse("thresholds { priority: HIGH max_requests { value: 0 } }"),
                                   store, "c");
  EXPECT_FALSE(managers.get(ResourcePriority::High).requests().canCreate());
  EXPECT_TRUE(managers.get(ResourcePriority::Default).requests().canCreate());
  EXPECT_EQ(gauge(store, "cluster.c.circuit_breakers.high.rq_open"), 1);
  EXPECT_EQ(gauge(store, "cluster.c.circuit_breakers.default.rq_open"), 0);
}

}  // namespace
}  // namespace remora::upstream

namespace remora::upstream {
namespace {

// A rebuilt snapshot (membership or health changed) keeps the circuit breaker counts: requests
// and connections opened under the old snapshot release into the same object.
TEST(ResourceManagerTest, SnapshotsOfOneClusterShareTheirCircuitBreakers) {
  stats::Store store(1);
  store.bindThread(0);
  envoy::config::cluster::v3::Cluster proto;
  proto.set_name("c");
  proto.mutable_circuit_breakers()->add_thresholds()->mutable_max_requests()->set_value(1);
  auto* sa = proto.mutable_load_assignment()
                 ->add_endpoints()
                 ->add_lb_endpoints()
                 ->mutable_endpoint()
                 ->mutable_address()
                 ->mutable_socket_address();
  sa->set_address("10.0.0.1");
  sa->set_port_value(80);
  auto first = std::make_shared<Cluster>(proto, store);
  ASSERT_TRUE(first->resourceManager(ResourcePriority::Default).requests().tryAcquire());
  ResourceHold held(first->resourceManager(ResourcePriority::Default).requests());
  auto next = first->withHosts({});
  EXPECT_EQ(next->resourceManagers(), first->resourceManagers());
  EXPECT_FALSE(next->resourceManager(ResourcePriority::Default).requests().canCreate());
  held.release();
  EXPECT_TRUE(next->resourceManager(ResourcePriority::Default).requests().canCreate());
}

}  // namespace
}  // namespace remora::upstream
