#pragma once

#include <chrono>
#include <map>
#include <string>

#include "envoy/admin/v3/clusters.pb.h"
#include "envoy/admin/v3/config_dump.pb.h"
#include "envoy/admin/v3/listeners.pb.h"
#include "envoy/admin/v3/server_info.pb.h"
#include "event/dispatcher.h"
#include "server/options.h"
#include "stats/store.h"

namespace remora::server {

// What the admin API sees of the running server. Every method runs on the main thread. Status
// is handed over as Envoy's own admin protos, so admin renders exactly Envoy's shapes.
class Instance {
 public:
  virtual ~Instance() = default;

  virtual event::Dispatcher& dispatcher() = 0;
  virtual stats::Store& stats() = 0;
  virtual const Options& options() const = 0;

  // LIVE once initialized and not failing health checks; DRAINING after /healthcheck/fail or
  // while shutting down.
  virtual envoy::admin::v3::ServerInfo::State state() const = 0;
  virtual envoy::admin::v3::ServerInfo serverInfo() const = 0;
  virtual envoy::admin::v3::Clusters clusterStatuses() const = 0;
  // Per cluster with outlier detection, the last interval's success-rate figures (-1: none
  // computed), which /clusters' text prints first and admin.v3.ClusterStatus only partly holds.
  struct OutlierFigures {
    double success_rate_average = -1;
    double success_rate_ejection_threshold = -1;
    double local_origin_success_rate_average = -1;
    double local_origin_success_rate_ejection_threshold = -1;
  };
  virtual std::map<std::string, OutlierFigures> outlierFigures() const { return {}; }
  virtual envoy::admin::v3::Listeners listenerStatuses() const = 0;
  virtual envoy::admin::v3::ConfigDump configDump() const = 0;

  // POST /quitquitquit: begin shutdown after the current response is written.
  virtual void shutdown() = 0;
  // POST /healthcheck/fail and /healthcheck/ok.
  virtual void setHealthCheckFailed(bool failed) = 0;
  virtual bool healthCheckFailed() const = 0;
  // POST /drain_listeners[?inboundonly][&graceful]: stop listeners (inbound only: those with
  // traffic_direction INBOUND), draining their connections first when graceful.
  virtual void drainListeners(bool inbound_only, bool graceful) = 0;
  // POST /reopen_logs (and SIGUSR1): every file access log reopens its path, so lines land in a
  // new file after logrotate moved the old one away.
  virtual void reopenAccessLogs() = 0;
};

}  // namespace remora::server
