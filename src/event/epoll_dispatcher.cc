#include "event/epoll_dispatcher.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/assert.h"

namespace remora::event {

namespace {
constexpr int kMaxEventsPerWait = 256;
// Timers armed at least this far ahead wait on the unsorted far list (see far_timers_).
constexpr std::chrono::milliseconds kFarHorizon{1000};
// Marks a ready entry whose FileEvent was destroyed earlier in the same batch.
char kDeadEvent;

uint32_t toEpoll(uint32_t events) {
  uint32_t out = EPOLLET;
  if (events & FileReadyType::Read) out |= EPOLLIN | EPOLLRDHUP;
  if (events & FileReadyType::Write) out |= EPOLLOUT;
  return out;
}

uint32_t fromEpoll(uint32_t events) {
  uint32_t out = 0;
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) out |= FileReadyType::Read;
  if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) out |= FileReadyType::Write;
  if (events & (EPOLLRDHUP | EPOLLHUP)) out |= FileReadyType::Closed;
  return out;
}
}  // namespace

EpollFileEvent::EpollFileEvent(EpollDispatcher& dispatcher, int fd, FileReadyCb cb, uint32_t events)
    : dispatcher_(dispatcher), fd_(fd), cb_(std::move(cb)) {
  epoll_event ev{};
  ev.events = toEpoll(events);
  ev.data.ptr = this;
  RELEASE_ASSERT(epoll_ctl(dispatcher_.epoll_fd_, EPOLL_CTL_ADD, fd_, &ev) == 0, "epoll_ctl ADD");
}

EpollFileEvent::~EpollFileEvent() {
  epoll_ctl(dispatcher_.epoll_fd_, EPOLL_CTL_DEL, fd_, nullptr);
  if (injected_ != 0) {
    auto& list = dispatcher_.activated_;
    list.erase(std::remove(list.begin(), list.end(), this), list.end());
  }
  for (auto& pending : dispatcher_.activated_running_) {
    if (pending == this) pending = nullptr;
  }
  for (int i = 0; i < dispatcher_.ready_count_; ++i) {
    if (dispatcher_.ready_[i].data.ptr == this) dispatcher_.ready_[i].data.ptr = &kDeadEvent;
  }
}

void EpollFileEvent::activate(uint32_t events) {
  if (injected_ == 0) dispatcher_.activated_.push_back(this);
  injected_ |= events;
}

EpollTimer::~EpollTimer() {
  if (due_now_) leaveDueList();
  if (far_index_ != kNotFar) dispatcher_.removeFar(this);
  if (inHeap()) dispatcher_.timers_.remove(this);
}

void EpollTimer::leaveDueList() {
  auto& list = dispatcher_.due_timers_;
  list.erase(std::find(list.begin(), list.end(), this));
  due_now_ = false;
}

void EpollTimer::enableTimer(std::chrono::milliseconds duration) {
  const MonotonicTime deadline = dispatcher_.now_ + duration;
  deadline_ = deadline;
  armed_ = true;
  if (duration <= std::chrono::milliseconds::zero()) {
    // A heap entry, if any, stays: dropped when it comes due unless re-armed by then.
    if (!due_now_) {
      dispatcher_.due_timers_.push_back(this);
      due_now_ = true;
    }
    return;
  }
  if (due_now_) leaveDueList();
  if (inHeap()) {
    if (deadline >= filed_at) return;  // the heap entry comes due first and re-files it
    dispatcher_.timers_.remove(this);
  }
  if (duration >= kFarHorizon) {
    if (far_index_ == kNotFar) dispatcher_.addFar(this);
    dispatcher_.far_sweep_at_ = std::min(dispatcher_.far_sweep_at_, deadline - kFarHorizon);
    return;
  }
  if (far_index_ != kNotFar) dispatcher_.removeFar(this);
  dispatcher_.timers_.push(this, deadline);
}

void EpollTimer::disableTimer() {
  armed_ = false;
  if (due_now_) leaveDueList();
}

EpollDispatcher::EpollDispatcher(std::string name)
    : name_(std::move(name)),
      epoll_fd_(epoll_create1(EPOLL_CLOEXEC)),
      wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      thread_id_(std::this_thread::get_id()),
      now_(std::chrono::steady_clock::now()) {
  RELEASE_ASSERT(epoll_fd_ >= 0 && wake_fd_ >= 0, "epoll/eventfd creation failed");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // nullptr marks the wake fd
  RELEASE_ASSERT(epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) == 0, "epoll_ctl wake fd");
}

EpollDispatcher::~EpollDispatcher() {
  clearDeferredDeletes();
  close(wake_fd_);
  close(epoll_fd_);
}

FileEventPtr EpollDispatcher::createFileEvent(int fd, FileReadyCb cb, uint32_t events) {
  return std::make_unique<EpollFileEvent>(*this, fd, std::move(cb), events);
}

TimerPtr EpollDispatcher::createTimer(TimerCb cb) {
  return std::make_unique<EpollTimer>(*this, std::move(cb));
}

void EpollDispatcher::deferredDelete(DeferredDeletablePtr object) {
  to_delete_.push_back(std::move(object));
}

void EpollDispatcher::post(PostCb cb) {
  {
    std::lock_guard<std::mutex> guard(post_lock_);
    posted_.push_back(std::move(cb));
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t rc = ::write(wake_fd_, &one, sizeof(one));
}

void EpollDispatcher::exit() {
  exit_requested_ = true;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t rc = ::write(wake_fd_, &one, sizeof(one));
}

int EpollDispatcher::nextTimeoutMs() const {
  if (!activated_.empty() || !to_delete_.empty() || !due_timers_.empty()) return 0;
  if (timers_.empty() && far_timers_.empty()) return -1;
  MonotonicTime next = far_timers_.empty() ? MonotonicTime::max() : far_sweep_at_;
  if (!timers_.empty()) next = std::min(next, timers_.top()->filed_at);
  auto wait = next - std::chrono::steady_clock::now();
  if (wait <= std::chrono::steady_clock::duration::zero()) return 0;
  // Round up so a timer never fires early.
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
  return static_cast<int>(std::min<int64_t>(ms, 60'000));
}

void EpollDispatcher::run() {
  thread_id_ = std::this_thread::get_id();
  epoll_event events[kMaxEventsPerWait];
  while (!exit_requested_) {
    int n = epoll_wait(epoll_fd_, events, kMaxEventsPerWait, nextTimeoutMs());
    if (n < 0 && errno != EINTR) PANIC("epoll_wait failed");
    now_ = std::chrono::steady_clock::now();
    ready_ = events;
    ready_count_ = std::max(n, 0);
    for (int i = 0; i < ready_count_; ++i) {
      if (events[i].data.ptr == &kDeadEvent) continue;
      auto* file_event = static_cast<EpollFileEvent*>(events[i].data.ptr);
      if (file_event == nullptr) {
        uint64_t count;
        [[maybe_unused]] ssize_t rc = ::read(wake_fd_, &count, sizeof(count));
        continue;
      }
      uint32_t ready = fromEpoll(events[i].events);
      // Fold in any synthetic bits so the callback sees one combined notification.
      if (file_event->injected_ != 0) {
        ready |= file_event->injected_;
        file_event->injected_ = 0;
        activated_.erase(std::remove(activated_.begin(), activated_.end(), file_event),
                         activated_.end());
      }
      file_event->cb_(ready);
    }
    ready_count_ = 0;
    runActivated();
    runTimers();
    runPosted();
    clearDeferredDeletes();
  }
  runPosted();
  clearDeferredDeletes();
  exit_requested_ = false;
}

void EpollDispatcher::runActivated() {
  // Callbacks may activate more events; those run on the next iteration.
  activated_running_.swap(activated_);
  for (size_t i = 0; i < activated_running_.size(); ++i) {
    EpollFileEvent* event = activated_running_[i];
    if (event == nullptr) continue;
    uint32_t ready = event->injected_;
    event->injected_ = 0;
    event->cb_(ready);
  }
  activated_running_.clear();
}

void EpollDispatcher::addFar(EpollTimer* timer) {
  timer->far_index_ = far_timers_.size();
  far_timers_.push_back(timer);
}

void EpollDispatcher::removeFar(EpollTimer* timer) {
  EpollTimer* last = far_timers_.back();
  far_timers_[timer->far_index_] = last;
  last->far_index_ = timer->far_index_;
  far_timers_.pop_back();
  timer->far_index_ = EpollTimer::kNotFar;
}

void EpollDispatcher::sweepFar() {
  // Disarmed timers leave the list; those now within the horizon go to the heap; the rest set
  // the next sweep.
  far_sweep_at_ = MonotonicTime::max();
  for (size_t i = 0; i < far_timers_.size();) {
    EpollTimer* timer = far_timers_[i];
    if (!timer->armed_ || timer->deadline_ - kFarHorizon <= now_) {
      removeFar(timer);  // the last entry moves to i
      if (timer->armed_) timers_.push(timer, timer->deadline_);
      continue;
    }
    far_sweep_at_ = std::min(far_sweep_at_, timer->deadline_ - kFarHorizon);
    ++i;
  }
}

void EpollDispatcher::runTimers() {
  now_ = std::chrono::steady_clock::now();
  runDueTimers();
  if (now_ >= far_sweep_at_) sweepFar();
  while (!timers_.empty() && timers_.top()->filed_at <= now_) {
    auto* timer = static_cast<EpollTimer*>(timers_.top());
    timers_.remove(timer);
    if (!timer->armed_ || timer->due_now_) continue;  // disarmed, or re-armed to run now
    if (timer->deadline_ > now_) {  // pushed back since it was filed: file it again
      timers_.push(timer, timer->deadline_);
      continue;
    }
    timer->armed_ = false;
    timer->cb_();
    // Zero timers armed by the callback are due now, as they would be in the heap.
    runDueTimers();
  }
}

void EpollDispatcher::runDueTimers() {
  // In arming order; callbacks may arm (more run in this loop) or disarm others.
  while (!due_timers_.empty()) {
    EpollTimer* timer = due_timers_.front();
    due_timers_.erase(due_timers_.begin());
    timer->due_now_ = false;
    timer->armed_ = false;
    timer->cb_();
  }
}

void EpollDispatcher::runPosted() {
  std::vector<PostCb> batch;
  {
    std::lock_guard<std::mutex> guard(post_lock_);
    batch.swap(posted_);
  }
  for (auto& cb : batch) cb();
}

void EpollDispatcher::clearDeferredDeletes() {
  // Destructors may defer more deletions (appended behind us); each element is moved out before
  // it is destroyed, so a reallocation by such an append cannot pull the vector from under it.
  // The vector keeps its capacity: streams are deferred-deleted on every request.
  for (size_t i = 0; i < to_delete_.size(); ++i) {
    DeferredDeletablePtr object = std::move(to_delete_[i]);
  }
  to_delete_.clear();
}

DispatcherPtr createDispatcher(std::string name) {
  return std::make_unique<EpollDispatcher>(std::move(name));
}

}  // namespace remora::event
