#include <gtest/gtest.h>

#include "init/manager.h"

namespace remora::init {
namespace {

TEST(InitManagerTest, NoTargetsFinishesAtOnce) {
  Manager manager("test");
  bool done = false;
  manager.initialize([&] { done = true; });
  EXPECT_TRUE(done);
  EXPECT_EQ(manager.state(), Manager::State::Initialized);
}

TEST(InitManagerTest, WaitsForEveryTargetThenRunsDoneOnce) {
  Manager manager("test");
  int started = 0;
  Target a("a", [&] { ++started; });
  Target b("b", [&] { ++started; });
  manager.add(a);
  manager.add(b);
  EXPECT_EQ(started, 0);  // nothing starts before initialize
  int done = 0;
  manager.initialize([&] { ++done; });
  EXPECT_EQ(started, 2);
  EXPECT_EQ(manager.state(), Manager::State::Initializing);
  EXPECT_EQ(manager.pendingTargets(), (std::vector<std::string>{"a", "b"}));
  a.ready();
  a.ready();  // a second ready() counts once
  EXPECT_EQ(done, 0);
  EXPECT_EQ(manager.pendingTargets(), (std::vector<std::string>{"b"}));
  b.ready();
  EXPECT_EQ(done, 1);
  EXPECT_EQ(manager.state(), Manager::State::Initialized);
}

TEST(InitManagerTest, TargetReadyInsideInitializeDoesNotFinishEarly) {
  Manager manager("test");
  Target sync("sync", nullptr);
  Target later("later", [] {});
  Target* sync_ptr = &sync;
  Target first("first", [&] { sync_ptr->ready(); });
  manager.add(first);
  manager.add(sync);
  manager.add(later);
  bool done = false;
  manager.initialize([&] { done = true; });
  first.ready();
  EXPECT_FALSE(done);  // `later` is still pending
  later.ready();
  EXPECT_TRUE(done);
}

TEST(InitManagerTest, TargetAddedWhileInitializingIsWaitedOn) {
  Manager manager("test");
  Target a("a", [] {});
  manager.add(a);
  bool done = false;
  manager.initialize([&] { done = true; });
  bool started = false;
  Target late("late", [&] { started = true; });
  manager.add(late);
  EXPECT_TRUE(started);
  a.ready();
  EXPECT_FALSE(done);
  late.ready();
  EXPECT_TRUE(done);
}

TEST(InitManagerTest, DestroyedTargetCountsAsReady) {
  Manager manager("test");
  bool done = false;
  {
    Target a("a", [] {});
    manager.add(a);
    manager.initialize([&] { done = true; });
    EXPECT_FALSE(done);
  }
  EXPECT_TRUE(done);
}

TEST(InitManagerTest, TargetAddedAfterInitializedStartsWithoutWaiting) {
  Manager manager("test");
  manager.initialize([] {});
  bool started = false;
  Target late("late", [&] { started = true; });
  manager.add(late);
  EXPECT_TRUE(started);
  late.ready();
  EXPECT_EQ(manager.state(), Manager::State::Initialized);
}

TEST(InitManagerTest, TargetOutlivingItsManagerIsHarmless) {
  auto target = std::make_unique<Target>("t", [] {});
  {
    Manager manager("test");
    manager.add(*target);
    manager.initialize([] {});
  }
  target->ready();
  target.reset();
}

}  // namespace
}  // namespace remora::init
