#pragma once

// One simulated Istio sidecar on one ADS stream (State-of-the-World), subscribed the way Envoy
// subscribes: wildcard CDS and LDS, then EDS for every EDS cluster received and RDS for every
// route configuration a listener names. Every response is decoded (each Any unpacked into its
// type) and ACKed with its version and nonce.
//
// The benchmark watches endpoint changes: while a change is current, a proxy that receives the
// watched cluster's ClusterLoadAssignment carrying the change's port records the time it ACKs it.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "envoy/service/discovery/v3/ads.grpc.pb.h"

namespace remora::bench {

using Clock = std::chrono::steady_clock;

// An endpoint change the proxies watch for: `cluster`'s endpoints moved to `port`.
struct WatchedChange {
  std::string cluster;
  uint32_t port = 0;
};

// What all proxies report to: sync and ACK counts, the time of the latest one.
class LoadState {
 public:
  LoadState(int proxies, std::vector<WatchedChange> changes)
      : changes_(std::move(changes)), synced_by_proxy_(proxies, 0), acked_by_proxy_(proxies, -1) {}

  const std::vector<WatchedChange>& changes() const { return changes_; }
  int currentChange() const { return current_.load(std::memory_order_acquire); }
  // Makes change `index` current and resets its ACK count.
  void startChange(int index);

  // Counted once per proxy index, whichever of its streams reports (a failed stream is replaced).
  void onSynced(int proxy);
  void onChangeAcked(int proxy, int change);
  void onStreamFailed(const std::string& why);

  // Waits (bounded) until `want` proxies synced / ACKed the current change, or a stream fails;
  // false unless the count was reached.
  bool waitSynced(int want, std::chrono::milliseconds timeout);
  bool waitAcked(int want, std::chrono::milliseconds timeout);
  Clock::time_point lastEvent() const;
  int synced() const;
  int acked() const;
  int failures() const;

 private:
  const std::vector<WatchedChange> changes_;
  std::atomic<int> current_{-1};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int synced_ = 0, acked_ = 0, failures_ = 0;
  bool failed_since_wait_ = false;
  std::vector<char> synced_by_proxy_;
  std::vector<int> acked_by_proxy_;
  Clock::time_point last_event_{};
  std::string first_failure_;
};

class SimProxy : public grpc::ClientBidiReactor<envoy::service::discovery::v3::DiscoveryRequest,
                                                envoy::service::discovery::v3::DiscoveryResponse> {
 public:
  SimProxy(LoadState& state, int index, const std::string& ns,
           envoy::service::discovery::v3::AggregatedDiscoveryService::Stub& stub);

  // Cancels the stream; wait() returns once gRPC is done with it.
  void cancel() { context_.TryCancel(); }
  void wait();
  // The stream ended with an error (the pilot reset it, or it never connected): Envoy would open
  // a new one, and so does the generator (ads_load.cc).
  bool failed() const { return failed_.load(); }

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  enum Type { kCds, kEds, kLds, kRds, kTypes };
  // One resource type: what the proxy last received and asks for, and the request message it is
  // sent in. The message is reused (only version and nonce change on an ACK): with thousands of
  // EDS names per request, building each ACK afresh would cost more than everything else.
  struct TypeState {
    std::string version, nonce;
    std::set<std::string> names;    // subscribed (EDS, RDS)
    std::set<std::string> missing;  // subscribed but not received yet (until synced)
    bool answered = false;
    bool names_changed = true;  // `message` must take the names again
    bool queued = false;        // waiting in writes_ (it then sends the latest state)
    envoy::service::discovery::v3::DiscoveryRequest message;
  };

  void handle(const envoy::service::discovery::v3::DiscoveryResponse& response);
  void onClusters(const envoy::service::discovery::v3::DiscoveryResponse& response);
  void onEndpoints(const envoy::service::discovery::v3::DiscoveryResponse& response);
  void onListeners(const envoy::service::discovery::v3::DiscoveryResponse& response);
  void onRoutes(const envoy::service::discovery::v3::DiscoveryResponse& response);
  // Records a response of `type` and queues its ACK.
  void acknowledge(Type type, const envoy::service::discovery::v3::DiscoveryResponse& response);
  void subscribe(Type type, std::set<std::string> names);
  // Queues a request for `type` carrying its latest state (an ACK when it has a nonce). A request
  // already queued for the type is not queued twice: it goes out with the latest state.
  void request(Type type);
  void writeNextLocked();
  bool isSynced() const;

  LoadState& state_;
  const int index_;
  envoy::config::core::v3::Node node_;
  grpc::ClientContext context_;
  envoy::service::discovery::v3::DiscoveryResponse response_;
  TypeState types_[kTypes];
  bool synced_ = false, node_sent_ = false;

  // Guards types_ and the write queue: reads and write completions come on different threads.
  std::mutex mu_;
  std::deque<Type> writes_;
  bool writing_ = false;

  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::atomic<bool> failed_{false};
};

}  // namespace remora::bench
