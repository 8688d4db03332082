#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"
#include "envoy/config/cluster/v3/outlier_detection.pb.h"
#include "event/dispatcher.h"
#include "stats/store.h"
#include "upstream/host.h"
#include "upstream/outlier_detection_monitor.h"

namespace remora::upstream {
class ClusterManager;
}

namespace remora::upstream::outlier {

// The cluster's OutlierDetection proto with Envoy's defaults applied.
struct DetectorConfig {
  std::chrono::milliseconds interval{10000};
  std::chrono::milliseconds base_ejection_time{30000};
  // Unset: 300 s, or base_ejection_time when that is longer.
  std::chrono::milliseconds max_ejection_time{300000};
  std::chrono::milliseconds max_ejection_time_jitter{0};
  uint32_t max_ejection_percent = 10;
  bool always_eject_one_host = false;
  ConsecutiveLimits limits;
  uint32_t enforcing_consecutive_5xx = 100;
  uint32_t enforcing_consecutive_gateway_failure = 0;
  uint32_t enforcing_consecutive_local_origin_failure = 100;
  uint32_t success_rate_minimum_hosts = 5;
  uint32_t success_rate_request_volume = 100;
  uint32_t success_rate_stdev_factor = 1900;  // thousandths of a standard deviation
  uint32_t enforcing_success_rate = 100;
  uint32_t enforcing_local_origin_success_rate = 100;
  uint32_t failure_percentage_threshold = 85;
  uint32_t failure_percentage_minimum_hosts = 5;
  uint32_t failure_percentage_request_volume = 50;
  uint32_t enforcing_failure_percentage = 0;
  uint32_t enforcing_failure_percentage_local_origin = 0;
  // An ejected host whose active health check passes returns at once (Envoy's default).
  bool successful_active_health_check_uneject_host = true;

  // Envoy's check: max_ejection_time, when set, is not below base_ejection_time. `path` names
  // the outlier_detection message in the error.
  static StatusOr<DetectorConfig> create(const envoy::config::cluster::v3::OutlierDetection& proto,
                                         const std::string& path);
};

// cluster.<name>.outlier_detection.* (Envoy's names, including the two deprecated counters).
struct DetectorStats {
  DetectorStats(stats::Store& store, const std::string& cluster_name);
  stats::Counter& ejections_enforced_total;
  stats::Gauge& ejections_active;
  stats::Counter& ejections_overflow;
  stats::Counter& ejections_total;            // deprecated: detected within the cap
  stats::Counter& ejections_consecutive_5xx;  // deprecated: detected consecutive 5xx
  // Indexed by EjectionType.
  stats::Counter* enforced[7];
  stats::Counter* detected[7];
};

// Envoy's outlier DetectorImpl for one cluster, on the main thread. Attaches a HostMonitor to
// each host before the host is first published (the cluster's hosts at creation, then each
// member update); consecutive-error limits reached on workers arrive as posts; success rate and
// failure percentage run on the interval timer, which also returns ejected hosts. An ejection or
// return sets or clears the host's FailedOutlierCheck flag and asks the ClusterManager for the
// next snapshot.
class Detector : public std::enable_shared_from_this<Detector> {
 public:
  using Clock = std::function<event::MonotonicTime()>;
  using Random = std::function<uint64_t()>;

  // Seams for tests: the clock (default: the dispatcher's loop time) and the random source for
  // enforcing_* percentages and the ejection jitter.
  struct Options {
    Clock clock;
    Random random;
  };

  // Creates the detector of `cluster` (already added to `manager`) and starts its interval.
  static std::shared_ptr<Detector> create(ClusterManager& manager, const std::string& cluster,
                                          const DetectorConfig& config, stats::Store& store,
                                          event::Dispatcher& dispatcher, Options options = {});
  // The same without a ClusterManager: `hosts` are the members, `on_health_changed` is called
  // after ejections and returns (unit tests; create() uses it).
  static std::shared_ptr<Detector> create(const HostVector& hosts, const std::string& cluster,
                                          const DetectorConfig& config, stats::Store& store,
                                          event::Dispatcher& dispatcher,
                                          std::function<void()> on_health_changed,
                                          Options options = {});
  ~Detector();

  // Membership changed (the ClusterManager's member-update callback).
  void onMembersChanged(const HostVector& added, const HostVector& removed);
  // One interval: return hosts whose ejection has run out, close the success-rate intervals and
  // eject by success rate and failure percentage. The timer calls it, then re-arms.
  void runInterval();
  // A worker saw `host` reach a consecutive-error limit (delivered on the main thread).
  void onConsecutiveError(const HostConstSharedPtr& host, EjectionType type);
  // The active health checker found `host` healthy: an ejected member returns now, its
  // ejection time not run out (successful_active_health_check_uneject_host).
  void onSuccessfulActiveHealthCheck(const Host& host);

  // The last interval's success-rate figures, -1 when it computed none (too few hosts with
  // enough requests): the mean and the ejection threshold, for all results or (local origin)
  // for our own connection failures. /clusters shows them.
  struct SuccessRateFigures {
    double average = -1;
    double ejection_threshold = -1;
  };
  const SuccessRateFigures& successRateFigures(bool local_origin) const {
    return local_origin ? local_origin_figures_ : external_figures_;
  }

  const DetectorConfig& config() const { return config_; }
  DetectorStats& stats() { return stats_; }

 private:
  Detector(const std::string& cluster, const DetectorConfig& config, stats::Store& store,
           event::Dispatcher& dispatcher, std::function<void()> on_health_changed, Options options);
  void addHost(const HostConstSharedPtr& host);
  void ejectHost(const HostConstSharedPtr& host, EjectionType type);
  bool enforced(EjectionType type);
  bool maybeReturn(const Host& host, HostMonitor& monitor, event::MonotonicTime now);
  void unejectHost(const Host& host, HostMonitor& monitor, event::MonotonicTime now);
  void processSuccessRate(
      bool local_origin,
      const std::map<const Host*, std::optional<std::pair<double, uint64_t>>>& closed_intervals);

  const DetectorConfig config_;
  event::Dispatcher& dispatcher_;
  DetectorStats stats_;
  std::function<void()> on_health_changed_;
  Options options_;
  event::TimerPtr interval_timer_;
  // Members by address of the Host (hosts own their monitors).
  std::map<const Host*, HostConstSharedPtr> hosts_;
  int64_t ejected_ = 0;
  SuccessRateFigures external_figures_;
  SuccessRateFigures local_origin_figures_;
};

}  // namespace remora::upstream::outlier
