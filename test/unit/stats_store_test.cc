#include "stats/store.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace remora::stats {
namespace {

TEST(StatsStoreTest, CountersMergeAcrossThreads) {
  Store store(5);
  store.bindThread(0);
  Counter& c = store.counter("cluster.a.upstream_cx_total");
  Gauge& g = store.gauge("cluster.a.upstream_cx_active");
  std::vector<std::thread> threads;
  for (uint32_t slot = 1; slot < 5; ++slot) {
    threads.emplace_back([&, slot] {
      store.bindThread(slot);
      for (int i = 0; i < 10000; ++i) c.inc();
      g.add(3);
      g.sub(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000u);
  EXPECT_EQ(g.value(), 8);
  EXPECT_TRUE(g.used());
}

TEST(StatsStoreTest, SameNameSameStatAndSetOverridesDeltas) {
  Store store(2);
  store.bindThread(0);
  EXPECT_EQ(&store.counter("x"), &store.counter("x"));
  Gauge& g = store.gauge("server.live");
  EXPECT_FALSE(g.used());
  g.set(1);
  EXPECT_EQ(g.value(), 1);
  g.set(0);
  EXPECT_EQ(g.value(), 0);
}

TEST(StatsStoreTest, GrowsPastOneChunkWithoutMovingValues) {
  Store store(1);
  store.bindThread(0);
  Counter& first = store.counter("first");
  first.inc(7);
  for (uint32_t i = 0; i < kChunkSize * 2; ++i) store.counter("c" + std::to_string(i)).inc();
  EXPECT_EQ(first.value(), 7u);
  EXPECT_EQ(store.counter("c" + std::to_string(kChunkSize + 5)).value(), 1u);
}

TEST(StatsStoreTest, VisitsInNameOrder) {
  Store store(1);
  store.bindThread(0);
  store.counter("b");
  store.counter("a");
  std::vector<std::string> names;
  store.forEachCounter([&](const Counter& c) { names.push_back(c.name()); });
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace remora::stats
