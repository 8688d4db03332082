#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace remora::event {

using MonotonicTime = std::chrono::steady_clock::time_point;

// Readiness bits delivered to a FileEvent callback.
enum FileReadyType : uint32_t { Read = 0x1, Write = 0x2, Closed = 0x4 };

using FileReadyCb = std::function<void(uint32_t events)>;
using TimerCb = std::function<void()>;
using PostCb = std::function<void()>;

// A file descriptor registered with the loop once, edge-triggered: the owner must drain reads
// and writes until EAGAIN. Destroying it unregisters the fd (it does not close it).
class FileEvent {
 public:
  virtual ~FileEvent() = default;
  // Delivers `events` on the next loop iteration as if the kernel had reported them; used
  // after re-enabling reads, when an edge may have been consumed while reading was paused.
  virtual void activate(uint32_t events) = 0;
};
using FileEventPtr = std::unique_ptr<FileEvent>;

// A one-shot timer owned by its creator; destroying it cancels it.
class Timer {
 public:
  virtual ~Timer() = default;
  // (Re)arms the timer to fire once after `duration`.
  virtual void enableTimer(std::chrono::milliseconds duration) = 0;
  virtual void disableTimer() = 0;
  virtual bool enabled() const = 0;
};
using TimerPtr = std::unique_ptr<Timer>;

// Objects whose destruction must wait until the current event has been handled, because frames
// up the stack may still reference them (a connection closing itself from its own callback).
class DeferredDeletable {
 public:
  virtual ~DeferredDeletable() = default;
};
using DeferredDeletablePtr = std::unique_ptr<DeferredDeletable>;

// One event loop, owned by one thread. Every method except post() must be called on that thread.
class Dispatcher {
 public:
  virtual ~Dispatcher() = default;

  virtual const std::string& name() const = 0;
  // Registers `fd` for the given FileReadyType bits, edge-triggered.
  virtual FileEventPtr createFileEvent(int fd, FileReadyCb cb, uint32_t events) = 0;
  virtual TimerPtr createTimer(TimerCb cb) = 0;
  // Destroys `object` after the current batch of events.
  virtual void deferredDelete(DeferredDeletablePtr object) = 0;
  // Runs `cb` on this loop's thread; safe to call from any thread.
  virtual void post(PostCb cb) = 0;
  // Runs the loop until exit() is called.
  virtual void run() = 0;
  // Makes run() return after the current iteration; safe from any thread.
  virtual void exit() = 0;
  // The loop's cached time, refreshed once per iteration.
  virtual MonotonicTime now() const = 0;
  // True when called from the thread running this loop.
  virtual bool isThreadSafe() const = 0;
};
using DispatcherPtr = std::unique_ptr<Dispatcher>;

DispatcherPtr createDispatcher(std::string name);

}  // namespace remora::event
