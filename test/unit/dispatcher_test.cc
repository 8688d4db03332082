#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "event/dispatcher.h"

namespace remora::event {
namespace {

TEST(DispatcherTest, TimersFireInDeadlineOrder) {
  auto d = createDispatcher("test");
  std::vector<int> order;
  auto t1 = d->createTimer([&] { order.push_back(1); });
  auto t2 = d->createTimer([&] {
    order.push_back(2);
    d->exit();
  });
  auto cancelled = d->createTimer([&] { order.push_back(99); });
  t2->enableTimer(std::chrono::milliseconds(20));
  t1->enableTimer(std::chrono::milliseconds(5));
  cancelled->enableTimer(std::chrono::milliseconds(1));
  cancelled->disableTimer();
  EXPECT_FALSE(cancelled->enabled());
  d->run();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

// Timers a second or more ahead wait on an unsorted list and move into the heap near their
// deadline; zero-duration timers run on the next iteration without the heap. Mixed with heap
// timers, disarmed, destroyed and re-armed, they still fire once, in deadline order.
TEST(DispatcherTest, FarAndZeroTimersFireInDeadlineOrder) {
  auto d = createDispatcher("test");
  std::vector<int> order;
  auto far = d->createTimer([&] {
    order.push_back(3);
    d->exit();
  });
  auto near = d->createTimer([&] { order.push_back(2); });
  auto zero = d->createTimer([&] { order.push_back(1); });
  auto far_disarmed = d->createTimer([&] { order.push_back(97); });
  auto far_destroyed = d->createTimer([&] { order.push_back(98); });
  auto far_made_near = d->createTimer([&] { order.push_back(4); });
  far->enableTimer(std::chrono::milliseconds(1100));
  far_disarmed->enableTimer(std::chrono::milliseconds(1000));
  far_disarmed->disableTimer();
  EXPECT_FALSE(far_disarmed->enabled());
  far_destroyed->enableTimer(std::chrono::milliseconds(1050));
  far_destroyed.reset();
  far_made_near->enableTimer(std::chrono::milliseconds(60'000));
  EXPECT_TRUE(far_made_near->enabled());
  near->enableTimer(std::chrono::milliseconds(30));
  zero->enableTimer(std::chrono::milliseconds(0));
  EXPECT_TRUE(zero->enabled());
  auto rearm = d->createTimer([&] { far_made_near->enableTimer(std::chrono::milliseconds(1)); });
  rearm->enableTimer(std::chrono::milliseconds(10));
  d->run();
  // far_made_near (re-armed to 1 ms at ~10 ms) fires before near (30 ms).
  EXPECT_EQ(order, (std::vector<int>{1, 4, 2, 3}));
  EXPECT_FALSE(far->enabled());
}

TEST(DispatcherTest, PostFromAnotherThreadRunsOnLoop) {
  auto d = createDispatcher("test");
  std::atomic<bool> ran_on_loop{false};
  std::thread poster([&] {
    d->post([&] {
      ran_on_loop = d->isThreadSafe();
      d->exit();
    });
  });
  d->run();
  poster.join();
  EXPECT_TRUE(ran_on_loop);
}

struct Deletable : DeferredDeletable {
  explicit Deletable(bool& flag) : deleted(flag) {}
  ~Deletable() override { deleted = true; }
  bool& deleted;
};

TEST(DispatcherTest, DeferredDeleteWaitsForEndOfBatch) {
  auto d = createDispatcher("test");
  bool deleted = false;
  bool deleted_inside = true;
  auto timer = d->createTimer([&] {
    d->deferredDelete(std::make_unique<Deletable>(deleted));
    deleted_inside = deleted;
    d->exit();
  });
  timer->enableTimer(std::chrono::milliseconds(0));
  d->run();
  EXPECT_FALSE(deleted_inside);
  EXPECT_TRUE(deleted);
}

TEST(DispatcherTest, EdgeTriggeredReadAndActivate) {
  auto d = createDispatcher("test");
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  int reads = 0;
  int activations = 0;
  FileEventPtr event;
  event = d->createFileEvent(
      fds[1],
      [&](uint32_t events) {
        if (events & FileReadyType::Read) {
          ++reads;
          char buf[16];
          while (::read(fds[1], buf, sizeof(buf)) > 0) {
          }
          if (reads == 1) {
            event->activate(FileReadyType::Read);  // synthetic: no new bytes needed
          } else {
            ++activations;
            d->exit();
          }
        }
      },
      FileReadyType::Read);
  ASSERT_EQ(::write(fds[0], "x", 1), 1);
  d->run();
  EXPECT_EQ(reads, 2);
  EXPECT_EQ(activations, 1);
  event.reset();
  close(fds[0]);
  close(fds[1]);
}

TEST(DispatcherTest, DestroyingAnActivatedEventCancelsIt) {
  auto d = createDispatcher("test");
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  bool fired_b = false;
  FileEventPtr b = d->createFileEvent(fds[1], [&](uint32_t) { fired_b = true; }, FileReadyType::Read);
  FileEventPtr a = d->createFileEvent(fds[0], [&](uint32_t) { b.reset(); }, FileReadyType::Write);
  auto stop = d->createTimer([&] { d->exit(); });
  stop->enableTimer(std::chrono::milliseconds(30));
  // `a` is writable immediately and destroys `b`; `b` was also activated in the same batch.
  b->activate(FileReadyType::Read);
  d->run();
  EXPECT_FALSE(fired_b);
  a.reset();
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace remora::event
