#include "event/timer_heap.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace remora::event {
namespace {

MonotonicTime at(int ms) { return MonotonicTime{} + std::chrono::milliseconds(ms); }

// Random pushes and removals against a sorted reference: the top is always the earliest.
TEST(TimerHeapTest, TopIsEarliestUnderRandomPushAndRemove) {
  std::mt19937 rng(7);
  std::vector<HeapTimer> timers(200);
  TimerHeap heap;
  for (int round = 0; round < 5000; ++round) {
    HeapTimer& t = timers[rng() % timers.size()];
    if (t.inHeap()) {
      heap.remove(&t);
    } else {
      heap.push(&t, at(static_cast<int>(rng() % 1000)));
    }
    MonotonicTime earliest = MonotonicTime::max();
    bool any = false;
    for (const auto& x : timers) {
      if (x.inHeap()) {
        any = true;
        earliest = std::min(earliest, x.filed_at);
      }
    }
    ASSERT_EQ(heap.empty(), !any);
    if (any) ASSERT_EQ(heap.top()->filed_at, earliest);
  }
}

TEST(TimerHeapTest, PopsInOrder) {
  std::vector<HeapTimer> timers(50);
  TimerHeap heap;
  for (size_t i = 0; i < timers.size(); ++i) heap.push(&timers[i], at(static_cast<int>((i * 37) % 50)));
  int last = -1;
  while (!heap.empty()) {
    HeapTimer* t = heap.top();
    int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(t->filed_at - MonotonicTime{}).count());
    EXPECT_GE(ms, last);
    last = ms;
    heap.remove(t);
    EXPECT_FALSE(t->inHeap());
  }
}

}  // namespace
}  // namespace remora::event
