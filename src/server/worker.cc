#include "server/worker.h"

#include <pthread.h>

namespace remora::server {

Worker::Worker(uint32_t index, stats::Store& stats, const ServerState& server)
    : index_(index),
      stats_(stats),
      dispatcher_(event::createDispatcher("worker_" + std::to_string(index))),
      context_{*dispatcher_, clusters_, stats, server, drain_callbacks_} {
  handler_ = std::make_unique<ConnectionHandler>(context_);
}

Worker::~Worker() { stop(); }

void Worker::start() {
  thread_ = std::thread([this] {
    std::string name = "wrk:worker_" + std::to_string(index_);
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
    stats_.bindThread(index_ + 1);  // slot 0 is the main thread
    // The main thread reads connection counts while draining; refresh them a few times a second.
    count_timer_ = dispatcher_->createTimer([this] { refreshCount(); });
    refreshCount();
    dispatcher_->run();
    handler_.reset();  // closes what is left, on this thread
    count_timer_.reset();
  });
}

void Worker::refreshCount() {
  connection_count_.store(handler_->numConnections(), std::memory_order_relaxed);
  count_timer_->enableTimer(std::chrono::milliseconds(50));
}

void Worker::post(
    std::function<void(ConnectionHandler&, upstream::ThreadLocalClusterManager&)> cb) {
  dispatcher_->post([this, cb = std::move(cb)] { cb(*handler_, clusters_); });
}

void Worker::stop() {
  if (!thread_.joinable()) return;
  dispatcher_->post([this] {
    handler_->closeConnections();
    dispatcher_->exit();
  });
  thread_.join();
}

}  // namespace remora::server
