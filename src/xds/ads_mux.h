#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/backoff.h"
#include "common/status.h"
#include "envoy/config/core/v3/base.pb.h"
#include "envoy/config/core/v3/config_source.pb.h"
#include "event/dispatcher.h"
#include "grpc/async_client.h"
#include "stats/store.h"
#include "xds/subscription.h"
#include "xds/subscription_stats.h"

namespace remora::upstream {
class ClusterManager;
}

namespace remora::xds {

// One Aggregated Discovery Service stream carrying every subscribed type (Envoy's GrpcMuxImpl and,
// for DELTA_GRPC, NewGrpcMuxImpl) on the main thread:
//  - State of the World (StreamAggregatedResources): each request carries the type's last accepted
//    version, the nonce of the response it answers and the names wanted (none: wildcard). A
//    response goes to every subscription of its type, each receiving the resources it watches; if
//    any consumer refuses it the request is a NACK (the previous version, error_detail with the
//    consumer's message) and the consumers keep their config.
//  - Delta (DeltaAggregatedResources): requests carry subscribe/unsubscribe name changes, and on a
//    new stream the names and versions already held (initial_resource_versions); responses carry
//    only changed and removed resources.
//  - The node identity goes on the first request of each type on a stream (on every SotW
//    request unless set_node_on_first_message_only, as Envoy).
//  - While a CDS (LDS) response is applied, EDS (RDS) requests wait, so the control plane sees the
//    CDS (LDS) ACK before the endpoints (routes) the new clusters (listeners) ask for.
//  - A closed stream reconnects after a jittered exponential backoff (500 ms base, 30 s max);
//    consumers keep what they have meanwhile, and the new stream resubscribes everything.
class AdsMux final : public grpc::AsyncStreamCallbacks {
 public:
  // Validates `config` (dynamic_resources.ads_config).
  // `static_clusters` are the bootstrap's (the gRPC service must name one); the stream finds it
  // in `clusters` when it opens, so the mux may be made before the clusters are built.
  static StatusOr<std::unique_ptr<AdsMux>> create(
      const envoy::config::core::v3::ApiConfigSource& config,
      const envoy::config::core::v3::Node& node,
      const google::protobuf::RepeatedPtrField<envoy::config::cluster::v3::Cluster>&
          static_clusters,
      upstream::ClusterManager& clusters, event::Dispatcher& dispatcher, stats::Store& stats,
      const std::string& path);
  // Opens streams with `start_stream` (method path, callbacks) instead of a gRPC client: for
  // tests. `target` names the other end in logs.
  using StreamFactory =
      std::function<grpc::AsyncStreamPtr(std::string_view, grpc::AsyncStreamCallbacks&)>;
  AdsMux(const envoy::config::core::v3::ApiConfigSource& config, envoy::config::core::v3::Node node,
         StreamFactory start_stream, std::string target, event::Dispatcher& dispatcher,
         stats::Store& stats);
  ~AdsMux() override;

  // A subscription to `type_url` resources on this stream, counted in `stats` (the consumer's,
  // e.g. "cluster.<name>."); `initial_fetch_timeout` (0: none) bounds the wait for the first
  // update after start(), after which the consumer hears onConfigUpdateFailed(FetchTimedOut).
  SubscriptionPtr subscribe(const std::string& type_url, SubscriptionCallbacks& callbacks,
                            std::chrono::milliseconds initial_fetch_timeout,
                            SubscriptionStats stats);

  // The same for a consumer's ConfigSource (what a subscription factory calls): `ads` sources
  // only, with their initial_fetch_timeout.
  StatusOr<SubscriptionPtr> subscribe(const envoy::config::core::v3::ConfigSource& source,
                                      std::string_view type_url, SubscriptionCallbacks& callbacks,
                                      SubscriptionStats stats);

  // Opens the stream; subscriptions made before are requested on it at once.
  void start();
  // Holds back requests of `type_url` until the matching resume() (counted).
  void pause(const std::string& type_url);
  void resume(const std::string& type_url);

  bool isDelta() const { return delta_; }
  bool connected() const { return stream_ != nullptr; }

  // grpc::AsyncStreamCallbacks
  void onReceiveInitialMetadata() override {}
  void onReceiveMessage(std::string_view message) override;
  void onRemoteClose(uint32_t grpc_status, const std::string& message) override;

 private:
  class WatchImpl;
  struct TypeState {
    std::vector<uint64_t> watches;  // in subscription order
    std::string version;            // SotW: the last accepted version_info
    std::string nonce;              // the last response's nonce, echoed by the next request
    std::string error_detail;       // set: the next request is a NACK
    bool ack_pending = false;       // delta: the next request answers `nonce`
    bool request_pending = false;   // a request waits for the stream or a resume
    bool sent_on_stream = false;    // the first request of this stream went out
    int paused = 0;
    // Delta: what the server knows we want, and the versions we hold.
    std::set<std::string> subscribed;
    bool subscribed_wildcard = false;
    std::map<std::string, std::string> resource_versions;
  };

  AdsMux(const envoy::config::core::v3::ApiConfigSource& config, envoy::config::core::v3::Node node,
         std::unique_ptr<grpc::AsyncClient> client, event::Dispatcher& dispatcher,
         stats::Store& stats);

  TypeState& typeState(const std::string& type_url);
  void onWatchChanged(const std::string& type_url);
  void removeWatch(WatchImpl& watch);
  // The union of the names a type's started watches want; `wildcard` when one wants all.
  std::set<std::string> wantedNames(const TypeState& state, bool& wildcard) const;
  void queueRequest(const std::string& type_url);
  void sendSotwRequest(const std::string& type_url, TypeState& state);
  void sendDeltaRequest(const std::string& type_url, TypeState& state);
  void onSotwResponse(std::string_view message);
  void onDeltaResponse(std::string_view message);
  // Runs `apply` for each watch of the type that still exists; returns the joined errors.
  std::string dispatch(TypeState& state, const std::function<Status(WatchImpl&)>& apply);
  void establishStream();
  void scheduleReconnect();

  const bool delta_;
  const bool node_on_first_message_only_;
  const envoy::config::core::v3::Node node_;
  std::unique_ptr<grpc::AsyncClient> client_;  // what start_stream_ uses, when made by create()
  StreamFactory start_stream_;
  const std::string target_;
  event::Dispatcher& dispatcher_;
  stats::Store& stats_;
  stats::Gauge& connected_state_;
  stats::Counter& rate_limit_enforced_;
  stats::Gauge& pending_requests_;
  grpc::AsyncStreamPtr stream_;
  bool started_ = false;
  bool first_request_on_stream_ = true;
  JitteredBackOff backoff_;
  event::TimerPtr retry_timer_;
  std::vector<std::string> type_order_;  // types in first-subscribed order
  std::map<std::string, TypeState> types_;
  std::map<uint64_t, WatchImpl*> watches_;
  uint64_t next_watch_id_ = 1;
};

// The initial_fetch_timeout of a ConfigSource (Envoy's default: 15 s; 0 disables it).
std::chrono::milliseconds initialFetchTimeout(const envoy::config::core::v3::ConfigSource& source);

}  // namespace remora::xds
