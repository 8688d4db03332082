#pragma once

#include <cstddef>
#include <vector>

#include "event/dispatcher.h"

namespace remora::event {

// What TimerHeap stores: a timer's place in the heap and the time it is filed under.
struct HeapTimer {
  static constexpr size_t kNotInHeap = static_cast<size_t>(-1);
  MonotonicTime filed_at{};
  size_t heap_index = kNotInHeap;
  bool inHeap() const { return heap_index != kNotInHeap; }
};

// A binary min-heap of timers by filed_at, intrusive: each timer records its own index, so arming
// and cancelling never allocate (the vector only grows to the loop's peak number of timers) and
// cancelling is O(log n) without a search. Every request arms and cancels several timers.
class TimerHeap {
 public:
  bool empty() const { return heap_.empty(); }
  HeapTimer* top() const { return heap_.front(); }
  void push(HeapTimer* timer, MonotonicTime at);
  void remove(HeapTimer* timer);

 private:
  void place(size_t index, HeapTimer* timer) {
    heap_[index] = timer;
    timer->heap_index = index;
  }
  void siftUp(size_t index);
  void siftDown(size_t index);

  std::vector<HeapTimer*> heap_;
};

}  // namespace remora::event
