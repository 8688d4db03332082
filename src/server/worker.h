#pragma once

#include <atomic>
#include <memory>
#include <thread>

#include "event/dispatcher.h"
#include "server/connection_handler.h"
#include "server/drain_decision.h"
#include "server/worker_context.h"

namespace remora::server {

// One worker thread: its own event loop, listeners (SO_REUSEPORT sockets), connections and
// cluster view. Everything else reaches it only through post().
class Worker {
 public:
  Worker(uint32_t index, stats::Store& stats, const ServerState& server);
  ~Worker();

  // Starts the thread; `on_started` runs on it once its loop is about to run.
  void start();
  // Runs `cb` on the worker thread with its handler and cluster view.
  void post(std::function<void(ConnectionHandler&, upstream::ThreadLocalClusterManager&)> cb);
  // Exits the loop after closing every connection, and joins the thread.
  void stop();
  // Connections open on this worker; readable from any thread.
  size_t connectionCount() const { return connection_count_.load(std::memory_order_relaxed); }

 private:
  void refreshCount();

  const uint32_t index_;
  stats::Store& stats_;
  event::DispatcherPtr dispatcher_;
  upstream::ThreadLocalClusterManager clusters_;
  DrainCallbacks drain_callbacks_;
  WorkerContext context_;
  std::unique_ptr<ConnectionHandler> handler_;
  event::TimerPtr count_timer_;
  std::atomic<size_t> connection_count_{0};
  std::thread thread_;
};

}  // namespace remora::server
