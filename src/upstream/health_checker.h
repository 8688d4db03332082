#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "envoy/config/core/v3/health_check.pb.h"
#include "event/dispatcher.h"
#include "stats/store.h"
#include "upstream/cluster.h"
#include "upstream/host.h"

namespace remora::upstream {

class ClusterManager;

// Envoy's cluster.<name>.health_check.* stats.
struct HealthCheckerStats {
  HealthCheckerStats(stats::Store& store, const std::string& cluster_name);
  stats::Counter& attempt;
  stats::Counter& success;
  stats::Counter& failure;
  stats::Counter& network_failure;
  stats::Counter& passive_failure;
  stats::Counter& verify_cluster;
  stats::Gauge& healthy;
  stats::Gauge& degraded;
};

// The timing and threshold fields of a HealthCheck proto, with Envoy's defaults.
struct HealthCheckTiming {
  explicit HealthCheckTiming(const envoy::config::core::v3::HealthCheck& proto);
  HealthCheckTiming() = default;
  std::chrono::milliseconds timeout{1000};
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds initial_jitter{0};
  std::chrono::milliseconds interval_jitter{0};
  uint32_t interval_jitter_percent = 0;
  uint32_t unhealthy_threshold = 1;
  uint32_t healthy_threshold = 1;
  // A cluster that has not carried traffic yet is checked this often (default 60 s).
  std::chrono::milliseconds no_traffic_interval{60000};
  // Default: interval.
  std::chrono::milliseconds unhealthy_interval{1000};
  // Defaults: unhealthy_interval and interval.
  std::chrono::milliseconds unhealthy_edge_interval{1000};
  std::chrono::milliseconds healthy_edge_interval{1000};
  bool reuse_connection = true;
};

// How a check failed (Envoy's HealthCheckFailureType). Only network failures (a refused or
// dropped connection, a timeout) and retriable statuses count toward unhealthy_threshold; an
// active failure (a status outside expected_statuses, a wrong payload) or a passive one (an
// x-envoy-immediate-health-check-fail answer) fails the host at once.
enum class FailureType { Active, Network, Passive };
enum class HealthTransition { Unchanged, Changed, ChangePending };

// The per-host verdict state machine of Envoy's ActiveHealthCheckSession, free of timers and
// sockets: counts consecutive results against the thresholds and chooses the next interval.
class HostHealthState {
 public:
  HostHealthState(const HealthCheckTiming& timing, bool initially_healthy)
      : timing_(timing), healthy_(initially_healthy) {}

  // A check passed. The first result ever makes a failed host healthy at once (Envoy: "during
  // startup, only a single successful health check is required").
  HealthTransition onSuccess();
  HealthTransition onFailure(FailureType type, bool retriable);
  bool healthy() const { return healthy_; }
  bool checked() const { return !first_check_; }

  // The delay before the next check after a result with `transition` (success or failure as
  // given): Envoy's interval(), healthy/unhealthy edge intervals while a transition is pending,
  // no_traffic_interval while the cluster has carried no traffic, plus jitter from `random`.
  std::chrono::milliseconds nextInterval(bool succeeded, HealthTransition transition,
                                         bool cluster_has_traffic, uint64_t random) const;

 private:
  const HealthCheckTiming& timing_;
  bool healthy_;
  bool first_check_ = true;
  uint32_t num_healthy_ = 0;
  uint32_t num_unhealthy_ = 0;
};

// Adds interval_jitter_percent of `base` and interval_jitter, each scaled by random values.
std::chrono::milliseconds intervalWithJitter(const HealthCheckTiming& timing, uint64_t base_ms,
                                             uint64_t random_a, uint64_t random_b);

// Active health checking for one cluster (Envoy's HealthCheckerImplBase), on the main thread. One
// session per host runs its checks on a timer; a verdict change sets or clears the host's
// FailedActiveHc flag and asks the ClusterManager for the cluster's next snapshot.
class HealthChecker {
 public:
  HealthChecker(event::Dispatcher& dispatcher, ClusterManager& cluster_manager,
                ClusterConstSharedPtr cluster, const envoy::config::core::v3::HealthCheck& proto);
  virtual ~HealthChecker();

  // Starts checking `hosts` (the cluster's members at startup).
  void start(const HostVector& hosts);
  // Membership changed: new hosts start failed until their first successful check.
  void onMembershipChange(const HostVector& added, const HostVector& removed);
  // A routed response from `host` carried x-envoy-immediate-health-check-fail: excluded and
  // failed at once, counted as a passive failure (Envoy's setUnhealthy(ImmediateHealthCheckFail)).
  void onImmediateFailFromTraffic(const Host& host);
  // Runs `done` once every host being checked has had its first result (pass or fail; a host
  // removed before its first check no longer counts): the cluster's warming waits on it, as
  // Envoy's cluster init waits for the first health-check round. At once if none is pending.
  void whenFirstRoundDone(std::function<void()> done);
  // Called after every check result with the host checked, its flags updated (Envoy's
  // addHostCheckCompleteCb; outlier detection unejects on a pass through it).
  void addHostCheckCompleteCb(std::function<void(const Host&)> cb) {
    check_complete_callbacks_.push_back(std::move(cb));
  }
  HealthCheckerStats& stats() { return stats_; }

 protected:
  class Session {
   public:
    Session(HealthChecker& parent, HostConstSharedPtr host, bool initially_healthy);
    virtual ~Session();
    void start();
    void onPassiveImmediateFail();
    // The host has had at least one result.
    bool checked() const { return state_.checked(); }

   protected:
    // Runs one check; the subclass reports with handleSuccess / handleFailure.
    virtual void onInterval() = 0;
    // The check did not answer within timeout: abandon it (close the connection).
    virtual void onTimeout() = 0;
    void handleSuccess(bool degraded = false);
    void handleFailure(FailureType type, bool retriable = false);
    // The check's answer carried x-envoy-immediate-health-check-fail: excluded and failed at once.
    void handleImmediateFail();

    HealthChecker& parent_;
    const HostConstSharedPtr host_;

   private:
    void runCheck();
    void scheduleNext(bool succeeded, HealthTransition transition);
    void applyTransition(HealthTransition transition);

    HostHealthState state_;
    bool degraded_ = false;
    bool in_flight_ = false;
    event::TimerPtr interval_timer_;
    event::TimerPtr timeout_timer_;
  };
  using SessionPtr = std::unique_ptr<Session>;

  virtual SessionPtr makeSession(HostConstSharedPtr host, bool initially_healthy) = 0;

  event::Dispatcher& dispatcher_;
  ClusterManager& cluster_manager_;
  const std::string cluster_name_;
  // The first snapshot of the cluster's configuration (connect settings, buffer limits).
  const ClusterConstSharedPtr cluster_;
  const HealthCheckTiming timing_;

 private:
  bool clusterHasTraffic() const;
  // Runs the first-round callback when no session awaits its first result.
  void checkFirstRound();

  HealthCheckerStats stats_;
  std::map<const Host*, SessionPtr> sessions_;
  std::function<void()> first_round_done_;
  std::vector<std::function<void(const Host&)>> check_complete_callbacks_;
};

// Builds the checker the proto asks for (http_health_check, tcp_health_check or
// grpc_health_check; the config loader rejects the others).
std::shared_ptr<HealthChecker> createHealthChecker(
    event::Dispatcher& dispatcher, ClusterManager& cluster_manager, ClusterConstSharedPtr cluster,
    const envoy::config::core::v3::HealthCheck& proto);

// Load-time checks of a cluster's health_checks that the proto rules do not express: one at most
// (Envoy: "Multiple health checks not supported"), hex payload text, header formats.
Status validateHealthChecks(const envoy::config::cluster::v3::Cluster& cluster,
                            const std::string& path);

}  // namespace remora::upstream
