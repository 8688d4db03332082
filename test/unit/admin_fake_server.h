#pragma once

#include "server/instance.h"

namespace remora::admin {

// A server::Instance with settable answers, recording what the admin asked of it.
class FakeServer : public server::Instance {
 public:
  FakeServer() : dispatcher_(event::createDispatcher("fake")), stats_(1) { stats_.bindThread(0); }

  event::Dispatcher& dispatcher() override { return *dispatcher_; }
  stats::Store& stats() override { return stats_; }
  const server::Options& options() const override { return options_; }
  envoy::admin::v3::ServerInfo::State state() const override { return state_; }
  envoy::admin::v3::ServerInfo serverInfo() const override { return server_info_; }
  envoy::admin::v3::Clusters clusterStatuses() const override { return clusters_; }
  std::map<std::string, OutlierFigures> outlierFigures() const override { return outlier_; }
  envoy::admin::v3::Listeners listenerStatuses() const override { return listeners_; }
  envoy::admin::v3::ConfigDump configDump() const override { return config_dump_; }
  void shutdown() override { ++shutdowns_; }
  void setHealthCheckFailed(bool failed) override { hc_failed_ = failed; }
  bool healthCheckFailed() const override { return hc_failed_; }
  void drainListeners(bool inbound_only, bool graceful) override {
    ++drains_;
    drain_inbound_only_ = inbound_only;
    drain_graceful_ = graceful;
  }

  void reopenAccessLogs() override { ++reopens_; }

  event::DispatcherPtr dispatcher_;
  stats::Store stats_;
  server::Options options_;
  envoy::admin::v3::ServerInfo::State state_ = envoy::admin::v3::ServerInfo::LIVE;
  envoy::admin::v3::ServerInfo server_info_;
  envoy::admin::v3::Clusters clusters_;
  std::map<std::string, OutlierFigures> outlier_;
  envoy::admin::v3::Listeners listeners_;
  envoy::admin::v3::ConfigDump config_dump_;
  int shutdowns_ = 0;
  bool hc_failed_ = false;
  int drains_ = 0;
  bool drain_inbound_only_ = false;
  bool drain_graceful_ = false;
  int reopens_ = 0;
};

}  // namespace remora::admin
