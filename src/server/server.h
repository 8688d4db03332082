#pragma once

#include <memory>
#include <vector>

#include "envoy/config/bootstrap/v3/bootstrap.pb.h"
#include "init/manager.h"
#include "router/rds.h"
#include "server/instance.h"
#include "server/lds_api.h"
#include "server/listener_config.h"
#include "server/listener_manager.h"
#include "server/worker.h"
#include "upstream/cds_api.h"
#include "upstream/cluster_manager.h"
#include "xds/subscription_factory.h"
#include "xds/ads_mux.h"

namespace remora::admin {
class AdminListener;
}

namespace remora::server {

// The proxy process: owns the main loop, the stats, the clusters and listeners built from the
// bootstrap, the workers, and the admin server. Lives on the main thread.
class Server final : public Instance {
 public:
  Server(Options options, envoy::config::bootstrap::v3::Bootstrap bootstrap);
  ~Server() override;

  // Builds clusters and listeners and binds every listen socket; a failure here means nothing
  // listens and the process exits 1 with the returned message.
  Status initialize();
  // --mode validate: builds every runtime object (clusters, listeners, filter factories) as
  // initialize() does, but binds nothing.
  Status validateOnly();
  // Serves until shutdown; returns the process exit code.
  int run();

  // Instance
  event::Dispatcher& dispatcher() override { return *dispatcher_; }
  stats::Store& stats() override { return *stats_; }
  const Options& options() const override { return options_; }
  envoy::admin::v3::ServerInfo::State state() const override;
  envoy::admin::v3::ServerInfo serverInfo() const override;
  envoy::admin::v3::Clusters clusterStatuses() const override;
  std::map<std::string, OutlierFigures> outlierFigures() const override;
  envoy::admin::v3::Listeners listenerStatuses() const override;
  envoy::admin::v3::ConfigDump configDump() const override;
  void shutdown() override;
  void setHealthCheckFailed(bool failed) override;
  bool healthCheckFailed() const override {
    return server_state_.health_check_failed.load(std::memory_order_relaxed);
  }
  void drainListeners(bool inbound_only, bool graceful) override;
  void reopenAccessLogs() override;

  // What the server waits on before its listeners accept and /ready answers LIVE: clusters'
  // first discovery and health-check round, listeners' first routes, the first xDS responses.
  init::Manager& initManager() { return init_manager_; }
  // Where every xDS subscription is made; the ADS client sets its api_factory.
  xds::SubscriptionFactoryContext& subscriptionFactoryContext() { return subscription_context_; }

 private:
  Status buildClusters();
  Status buildListeners(bool bind);
  Status startDynamicResources();
  void startListeners();
  void onSignal();
  void beginDrainThenExit();
  void checkDrained();
  void updateServerStats();
  void flushStats();
  size_t openConnections() const;

  const Options options_;
  const envoy::config::bootstrap::v3::Bootstrap bootstrap_;
  const std::chrono::system_clock::time_point start_time_;
  event::DispatcherPtr dispatcher_;
  std::unique_ptr<stats::Store> stats_;
  std::unique_ptr<upstream::ClusterManager> cluster_manager_;
  init::Manager init_manager_{"Server"};
  xds::SubscriptionFactoryContext subscription_context_;
  std::unique_ptr<router::RouteConfigProviderManager> route_providers_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<ListenerManager> listener_manager_;
  std::unique_ptr<upstream::CdsApi> cds_;
  std::unique_ptr<LdsApi> lds_;
  event::FileEventPtr signal_event_;
  int signal_fd_ = -1;
  event::TimerPtr stats_timer_;
  event::TimerPtr stats_flush_timer_;
  std::chrono::milliseconds stats_flush_interval_{5000};  // Envoy's default
  event::TimerPtr drain_timer_;
  event::TimerPtr listener_drain_timer_;
  std::chrono::steady_clock::time_point drain_deadline_;
  ServerState server_state_;  // read by the workers
  bool draining_ = false;
  bool initialized_ = false;
  // Declared last: destroyed first, while the dispatcher it runs on still exists.
  std::unique_ptr<admin::AdminListener> admin_;
  // dynamic_resources.ads_config's stream. The destructor drops the clusters (whose EDS
  // subscriptions are on it) before it.
  std::unique_ptr<xds::AdsMux> ads_mux_;
};

}  // namespace remora::server
