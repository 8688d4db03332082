#include "event/timer_heap.h"

namespace remora::event {

void TimerHeap::push(HeapTimer* timer, MonotonicTime at) {
  timer->filed_at = at;
  heap_.push_back(timer);
  timer->heap_index = heap_.size() - 1;
  siftUp(timer->heap_index);
}

void TimerHeap::remove(HeapTimer* timer) {
  const size_t index = timer->heap_index;
  HeapTimer* last = heap_.back();
  heap_.pop_back();
  timer->heap_index = HeapTimer::kNotInHeap;
  if (last == timer) return;
  place(index, last);
  siftUp(index);
  siftDown(last->heap_index);
}

void TimerHeap::siftUp(size_t index) {
  HeapTimer* timer = heap_[index];
  while (index > 0) {
    const size_t parent = (index - 1) / 2;
    if (heap_[parent]->filed_at <= timer->filed_at) break;
    place(index, heap_[parent]);
    index = parent;
  }
  place(index, timer);
}

void TimerHeap::siftDown(size_t index) {
  HeapTimer* timer = heap_[index];
  const size_t size = heap_.size();
  while (true) {
    size_t child = 2 * index + 1;
    if (child >= size) break;
    if (child + 1 < size && heap_[child + 1]->filed_at < heap_[child]->filed_at) ++child;
    if (timer->filed_at <= heap_[child]->filed_at) break;
    place(index, heap_[child]);
    index = child;
  }
  place(index, timer);
}

}  // namespace remora::event
