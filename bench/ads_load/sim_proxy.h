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
  explicit LoadState(std::vector<WatchedChange> changes) : changes_(std::move(changes)) {}

  const std::vector<WatchedChange>& changes() const { return changes_; }
  int currentChange() const { return current_.load(std::memory_order_acquire); }
  // Makes change `index` current and resets its ACK count.
  void startChange(int index);

  void onSynced();
  void onChangeAcked();
  void onStreamFailed(const std::string& why);

  // Waits (bounded) until `want` proxies synced / ACKed the current change; false on timeout.
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

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  struct TypeState {
    std::string version, nonce;
    std::set<std::string> names;     // subscribed (EDS, RDS)
    std::set<std::string> received;  // every resource name seen so far
    bool answered = false;
  };

  void handle(const envoy::service::discovery::v3::DiscoveryResponse& response);
  void onClusters(const envoy::service::discovery::v3::DiscoveryResponse& response);
  void onEndpoints(const envoy::service::discovery::v3::DiscoveryResponse& response);
  void onListeners(const envoy::service::discovery::v3::DiscoveryResponse& response);
  void onRoutes(const envoy::service::discovery::v3::DiscoveryResponse& response);
  // Sends a request for `type_url` carrying its state's names, version and nonce (an ACK when
  // the nonce is that of a response, a subscription change otherwise).
  void request(const std::string& type_url, const TypeState& ts);
  void send(envoy::service::discovery::v3::DiscoveryRequest request);
  bool isSynced() const;

  LoadState& state_;
  const int index_;
  envoy::config::core::v3::Node node_;
  grpc::ClientContext context_;
  envoy::service::discovery::v3::DiscoveryResponse response_;
  TypeState cds_, eds_, lds_, rds_;
  bool synced_ = false, node_sent_ = false;
  int acked_change_ = -1;

  std::mutex write_mu_;
  std::deque<envoy::service::discovery::v3::DiscoveryRequest> writes_;
  bool writing_ = false;

  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
};

}  // namespace remora::bench
