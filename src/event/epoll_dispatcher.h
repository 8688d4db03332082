#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "event/dispatcher.h"
#include "event/timer_heap.h"

namespace remora::event {

class EpollDispatcher;

class EpollFileEvent final : public FileEvent {
 public:
  EpollFileEvent(EpollDispatcher& dispatcher, int fd, FileReadyCb cb, uint32_t events);
  ~EpollFileEvent() override;
  void activate(uint32_t events) override;

 private:
  friend class EpollDispatcher;
  EpollDispatcher& dispatcher_;
  const int fd_;
  FileReadyCb cb_;
  uint32_t injected_ = 0;  // bits pending from activate(), delivered next iteration
};

class EpollTimer final : public Timer, private HeapTimer {
 public:
  EpollTimer(EpollDispatcher& dispatcher, TimerCb cb)
      : dispatcher_(dispatcher), cb_(std::move(cb)) {}
  ~EpollTimer() override;
  void enableTimer(std::chrono::milliseconds duration) override;
  void disableTimer() override;
  bool enabled() const override { return armed_; }

 private:
  friend class EpollDispatcher;
  void leaveDueList();

  EpollDispatcher& dispatcher_;
  TimerCb cb_;
  // When the timer should really fire. Pushing an armed timer later (an idle timeout reset on
  // every read) only moves `deadline_`; the heap entry (filed_at) is moved when it comes due, so
  // the common reset costs no heap operations.
  MonotonicTime deadline_;
  // Whether the timer will fire. Disarming leaves any heap entry in place (it is dropped when it
  // comes due), so a timer disarmed and re-armed with a later deadline, as connection idle
  // timers are around every request, costs no heap operations either.
  bool armed_ = false;
  // Armed with a zero duration: queued on the dispatcher's due list, not in the heap.
  bool due_now_ = false;
  // Position in the dispatcher's far list (armed at least kFarHorizon ahead), or kNotFar.
  // A timer is in the heap or the far list, never both.
  static constexpr size_t kNotFar = static_cast<size_t>(-1);
  size_t far_index_ = kNotFar;
};

class EpollDispatcher final : public Dispatcher {
 public:
  explicit EpollDispatcher(std::string name);
  ~EpollDispatcher() override;

  const std::string& name() const override { return name_; }
  FileEventPtr createFileEvent(int fd, FileReadyCb cb, uint32_t events) override;
  TimerPtr createTimer(TimerCb cb) override;
  void deferredDelete(DeferredDeletablePtr object) override;
  void post(PostCb cb) override;
  void run() override;
  void exit() override;
  MonotonicTime now() const override { return now_; }
  bool isThreadSafe() const override { return std::this_thread::get_id() == thread_id_; }

 private:
  friend class EpollFileEvent;
  friend class EpollTimer;

  void runTimers();
  void runDueTimers();
  void addFar(EpollTimer* timer);
  void removeFar(EpollTimer* timer);
  void sweepFar();
  void runActivated();
  void runPosted();
  void clearDeferredDeletes();
  int nextTimeoutMs() const;

  const std::string name_;
  const int epoll_fd_;
  const int wake_fd_;  // eventfd: post() and exit() wake the loop
  std::atomic<bool> exit_requested_{false};
  std::thread::id thread_id_;
  MonotonicTime now_;

  TimerHeap timers_;
  // Timers armed with a zero duration ("on the next iteration", as the connection pools use them
  // after every response), in arming order: they skip the heap.
  std::vector<EpollTimer*> due_timers_;
  // Timers armed kFarHorizon or more ahead (a stream's idle timeout, a route's timeout: armed on
  // every request, nearly always destroyed long before they are due): unsorted, so arming and
  // destroying one is O(1). They move into the heap when a sweep finds them within the horizon;
  // far_sweep_at_ is never later than the earliest far deadline minus the horizon (destroyed
  // timers do not move it, which costs at most an early sweep).
  std::vector<EpollTimer*> far_timers_;
  MonotonicTime far_sweep_at_ = MonotonicTime::max();
  std::vector<EpollFileEvent*> activated_;
  // The batch being dispatched: a callback may destroy an event later in the same batch, so
  // destruction scrubs it from here (see EpollFileEvent::~EpollFileEvent).
  std::vector<EpollFileEvent*> activated_running_;
  struct epoll_event* ready_ = nullptr;
  int ready_count_ = 0;
  std::vector<DeferredDeletablePtr> to_delete_;

  std::mutex post_lock_;
  std::vector<PostCb> posted_;
};

}  // namespace remora::event
