#pragma once

#include <atomic>

#include "server/worker_context.h"

namespace remora::server {

// Whether a listener's connections should wind down (Envoy's Network::DrainDecision). One per
// listener, set on the main thread, read by its connections' filters on every worker. Draining
// is immediate (Envoy's --drain-strategy immediate): once it starts, every connection is told at
// once and closes as its protocol allows (HTTP/2 GOAWAY, HTTP/1 "Connection: close").
class DrainDecision {
 public:
  // `drain_on_health_check_fail`: drain_type DEFAULT (a MODIFY_ONLY listener ignores
  // /healthcheck/fail).
  DrainDecision(bool inbound, bool drain_on_health_check_fail)
      : inbound_(inbound), drain_on_health_check_fail_(drain_on_health_check_fail) {}

  // SIGTERM's drain, or /drain_listeners?graceful naming this listener. Then the server posts
  // DrainCallbacks::notify() to every worker.
  void startDraining() { draining_.store(true, std::memory_order_relaxed); }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }
  bool inbound() const { return inbound_; }
  // True when a connection should close at its next chance: the listener drains, or the server
  // fails health checks and drain_type is DEFAULT.
  bool drainClose(const ServerState& server) const {
    return draining() || (drain_on_health_check_fail_ &&
                          server.health_check_failed.load(std::memory_order_relaxed));
  }

 private:
  std::atomic<bool> draining_{false};
  const bool inbound_;
  const bool drain_on_health_check_fail_;
};

// A worker's connection filters that act on a drain as soon as it starts (Envoy's
// addOnDrainCloseCb): the HTTP connection manager sends its GOAWAY without waiting for a next
// response. Lives on one worker; no locks.
class DrainCallbacks {
 public:
  class Callback {
   public:
    virtual ~Callback() = default;
    // The listener of `decision()` started draining. Called once.
    virtual void onDrainClose() = 0;
    virtual const DrainDecision& drainDecision() const = 0;

   private:
    friend class DrainCallbacks;
    Callback* prev_ = nullptr;
    Callback* next_ = nullptr;
    bool linked_ = false;
  };

  void add(Callback& cb);
  void remove(Callback& cb);
  // Runs (and unregisters) every callback whose listener now drains.
  void notify();

 private:
  Callback* head_ = nullptr;
};

}  // namespace remora::server
