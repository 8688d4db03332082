#include "upstream/outlier_detection.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "common/assert.h"
#include "upstream/cluster_manager.h"

namespace remora::upstream::outlier {
namespace {

using Proto = envoy::config::cluster::v3::OutlierDetection;

std::chrono::milliseconds millis(const google::protobuf::Duration& d) {
  return std::chrono::milliseconds(d.seconds() * 1000 + d.nanos() / 1000000);
}

template <class Wrapper>
uint32_t valueOr(bool has, const Wrapper& wrapper, uint32_t fallback) {
  return has ? wrapper.value() : fallback;
}

constexpr const char* kTypeNames[] = {
    "consecutive_5xx",
    "consecutive_gateway_failure",
    "consecutive_local_origin_failure",
    "success_rate",
    "local_origin_success_rate",
    "failure_percentage",
    "failure_percentage_local_origin",
};

size_t index(EjectionType type) { return static_cast<size_t>(type); }

}  // namespace

StatusOr<DetectorConfig> DetectorConfig::create(const Proto& p, const std::string& path) {
  DetectorConfig c;
  if (p.has_interval()) c.interval = millis(p.interval());
  if (p.has_base_ejection_time()) c.base_ejection_time = millis(p.base_ejection_time());
  if (p.has_max_ejection_time()) {
    c.max_ejection_time = millis(p.max_ejection_time());
    if (c.max_ejection_time < c.base_ejection_time) {
      return Status::error(path +
                           ": outlier detector's max_ejection_time cannot be smaller than "
                           "base_ejection_time");
    }
  } else {
    c.max_ejection_time = std::max(c.max_ejection_time, c.base_ejection_time);
  }
  if (p.has_max_ejection_time_jitter())
    c.max_ejection_time_jitter = millis(p.max_ejection_time_jitter());
  c.max_ejection_percent =
      std::min<uint32_t>(100, valueOr(p.has_max_ejection_percent(), p.max_ejection_percent(), 10));
  c.always_eject_one_host = p.has_always_eject_one_host() && p.always_eject_one_host().value();
  c.limits.consecutive_5xx = valueOr(p.has_consecutive_5xx(), p.consecutive_5xx(), 5);
  c.limits.consecutive_gateway_failure =
      valueOr(p.has_consecutive_gateway_failure(), p.consecutive_gateway_failure(), 5);
  c.limits.consecutive_local_origin_failure =
      valueOr(p.has_consecutive_local_origin_failure(), p.consecutive_local_origin_failure(), 5);
  c.limits.split_external_local_origin_errors = p.split_external_local_origin_errors();
  c.successful_active_health_check_uneject_host =
      !p.has_successful_active_health_check_uneject_host() ||
      p.successful_active_health_check_uneject_host().value();
  c.enforcing_consecutive_5xx =
      valueOr(p.has_enforcing_consecutive_5xx(), p.enforcing_consecutive_5xx(), 100);
  c.enforcing_consecutive_gateway_failure = valueOr(p.has_enforcing_consecutive_gateway_failure(),
                                                    p.enforcing_consecutive_gateway_failure(), 0);
  c.enforcing_consecutive_local_origin_failure =
      valueOr(p.has_enforcing_consecutive_local_origin_failure(),
              p.enforcing_consecutive_local_origin_failure(), 100);
  c.success_rate_minimum_hosts =
      valueOr(p.has_success_rate_minimum_hosts(), p.success_rate_minimum_hosts(), 5);
  c.success_rate_request_volume =
      valueOr(p.has_success_rate_request_volume(), p.success_rate_request_volume(), 100);
  c.success_rate_stdev_factor =
      valueOr(p.has_success_rate_stdev_factor(), p.success_rate_stdev_factor(), 1900);
  c.enforcing_success_rate =
      valueOr(p.has_enforcing_success_rate(), p.enforcing_success_rate(), 100);
  c.enforcing_local_origin_success_rate = valueOr(p.has_enforcing_local_origin_success_rate(),
                                                  p.enforcing_local_origin_success_rate(), 100);
  c.failure_percentage_threshold =
      valueOr(p.has_failure_percentage_threshold(), p.failure_percentage_threshold(), 85);
  c.failure_percentage_minimum_hosts =
      valueOr(p.has_failure_percentage_minimum_hosts(), p.failure_percentage_minimum_hosts(), 5);
  c.failure_percentage_request_volume =
      valueOr(p.has_failure_percentage_request_volume(), p.failure_percentage_request_volume(), 50);
  c.enforcing_failure_percentage =
      valueOr(p.has_enforcing_failure_percentage(), p.enforcing_failure_percentage(), 0);
  c.enforcing_failure_percentage_local_origin =
      valueOr(p.has_enforcing_failure_percentage_local_origin(),
              p.enforcing_failure_percentage_local_origin(), 0);
  return c;
}

DetectorStats::DetectorStats(stats::Store& store, const std::string& cluster_name)
    : ejections_enforced_total(
          store.counter("cluster." + cluster_name + ".outlier_detection.ejections_enforced_total")),
      ejections_active(
          store.gauge("cluster." + cluster_name + ".outlier_detection.ejections_active")),
      ejections_overflow(
          store.counter("cluster." + cluster_name + ".outlier_detection.ejections_overflow")),
      ejections_total(
          store.counter("cluster." + cluster_name + ".outlier_detection.ejections_total")),
      ejections_consecutive_5xx(store.counter("cluster." + cluster_name +
                                              ".outlier_detection.ejections_consecutive_5xx")) {
  const std::string prefix = "cluster." + cluster_name + ".outlier_detection.ejections_";
  for (size_t i = 0; i < 7; ++i) {
    enforced[i] = &store.counter(prefix + "enforced_" + kTypeNames[i]);
    detected[i] = &store.counter(prefix + "detected_" + kTypeNames[i]);
  }
}

Detector::Detector(const std::string& cluster, const DetectorConfig& config, stats::Store& store,
                   event::Dispatcher& dispatcher, std::function<void()> on_health_changed,
                   Options options)
    : config_(config),
      dispatcher_(dispatcher),
      stats_(store, cluster),
      on_health_changed_(std::move(on_health_changed)),
      options_(std::move(options)) {
  if (!options_.clock) options_.clock = [&dispatcher] { return dispatcher.now(); };
  if (!options_.random) {
    options_.random = [engine = std::mt19937_64(std::random_device{}())]() mutable {
      return engine();
    };
  }
}

std::shared_ptr<Detector> Detector::create(const HostVector& hosts, const std::string& cluster,
                                           const DetectorConfig& config, stats::Store& store,
                                           event::Dispatcher& dispatcher,
                                           std::function<void()> on_health_changed,
                                           Options options) {
  std::shared_ptr<Detector> detector(new Detector(
      cluster, config, store, dispatcher, std::move(on_health_changed), std::move(options)));
  for (const auto& host : hosts) detector->addHost(host);
  std::weak_ptr<Detector> weak = detector;
  detector->interval_timer_ = dispatcher.createTimer([weak] {
    if (auto self = weak.lock()) {
      self->runInterval();
      self->interval_timer_->enableTimer(self->config_.interval);
    }
  });
  detector->interval_timer_->enableTimer(config.interval);
  return detector;
}

std::shared_ptr<Detector> Detector::create(ClusterManager& manager, const std::string& cluster,
                                           const DetectorConfig& config, stats::Store& store,
                                           event::Dispatcher& dispatcher, Options options) {
  auto detector = create(
      manager.get(cluster)->hosts(), cluster, config, store, dispatcher,
      [&manager, cluster] { manager.onHostHealthChanged(cluster); }, std::move(options));
  std::weak_ptr<Detector> weak = detector;
  manager.addMemberUpdateCallback(cluster,
                                  [weak](const HostVector& added, const HostVector& removed) {
                                    if (auto self = weak.lock())
                                      self->onMembersChanged(added, removed);
                                  });
  return detector;
}

Detector::~Detector() { stats_.ejections_active.add(-ejected_); }

void Detector::addHost(const HostConstSharedPtr& host) {
  std::weak_ptr<Detector> weak_detector = weak_from_this();
  std::weak_ptr<const Host> weak_host = host;
  event::Dispatcher* dispatcher = &dispatcher_;
  // Runs on the worker that saw the limit reached: the ejection itself happens on the main
  // thread, if the detector and the host are both still there.
  auto on_limit = [weak_detector, weak_host, dispatcher](EjectionType type) {
    dispatcher->post([weak_detector, weak_host, type] {
      auto detector = weak_detector.lock();
      auto host = weak_host.lock();
      if (detector && host) detector->onConsecutiveError(host, type);
    });
  };
  host->setOutlierMonitor(std::make_shared<HostMonitor>(config_.limits, std::move(on_limit)));
  hosts_.emplace(host.get(), host);
}

void Detector::onMembersChanged(const HostVector& added, const HostVector& removed) {
  for (const auto& host : added) addHost(host);
  for (const auto& host : removed) {
    if (hosts_.erase(host.get()) == 0) continue;
    if (host->healthFlagGet(HealthFlag::FailedOutlierCheck)) {
      --ejected_;
      stats_.ejections_active.dec();
    }
  }
}

bool Detector::enforced(EjectionType type) {
  uint32_t percent = 0;
  switch (type) {
    case EjectionType::Consecutive5xx:
      percent = config_.enforcing_consecutive_5xx;
      break;
    case EjectionType::ConsecutiveGatewayFailure:
      percent = config_.enforcing_consecutive_gateway_failure;
      break;
    case EjectionType::ConsecutiveLocalOriginFailure:
      percent = config_.enforcing_consecutive_local_origin_failure;
      break;
    case EjectionType::SuccessRate:
      percent = config_.enforcing_success_rate;
      break;
    case EjectionType::SuccessRateLocalOrigin:
      percent = config_.enforcing_local_origin_success_rate;
      break;
    case EjectionType::FailurePercentage:
      percent = config_.enforcing_failure_percentage;
      break;
    case EjectionType::FailurePercentageLocalOrigin:
      percent = config_.enforcing_failure_percentage_local_origin;
      break;
  }
  if (percent >= 100) return true;
  if (percent == 0) return false;
  return options_.random() % 100 < percent;
}

void Detector::onConsecutiveError(const HostConstSharedPtr& host, EjectionType type) {
  // The post may arrive after the host left the cluster or was ejected for another reason.
  if (hosts_.count(host.get()) == 0 || host->healthFlagGet(HealthFlag::FailedOutlierCheck)) return;
  stats_.detected[index(type)]->inc();
  if (type == EjectionType::Consecutive5xx) stats_.ejections_consecutive_5xx.inc();
  ejectHost(host, type);
  // Start counting afresh, so that the next run of errors is detected even without a success
  // between them.
  HostMonitor& monitor = *host->outlierMonitor();
  switch (type) {
    case EjectionType::Consecutive5xx:
      monitor.resetConsecutive5xx();
      break;
    case EjectionType::ConsecutiveGatewayFailure:
      monitor.resetConsecutiveGatewayFailure();
      break;
    case EjectionType::ConsecutiveLocalOriginFailure:
      monitor.resetConsecutiveLocalOriginFailure();
      break;
    default:
      break;
  }
}

void Detector::ejectHost(const HostConstSharedPtr& host, EjectionType type) {
  // Envoy's cap: the ejection must keep the ejected share (over every priority) within
  // max_ejection_percent; always_eject_one_host lets the first one through regardless.
  const double ejected_percent =
      100.0 * static_cast<double>(ejected_ + 1) / static_cast<double>(hosts_.size());
  const bool within_cap = ejected_percent <= config_.max_ejection_percent ||
                          (config_.always_eject_one_host && ejected_ == 0);
  if (!within_cap) {
    stats_.ejections_overflow.inc();
    return;
  }
  stats_.ejections_total.inc();
  if (!enforced(type)) return;
  ++ejected_;
  stats_.ejections_active.inc();
  stats_.ejections_enforced_total.inc();
  stats_.enforced[index(type)]->inc();
  HostMonitor& monitor = *host->outlierMonitor();
  host->healthFlagSet(HealthFlag::FailedOutlierCheck);
  ++monitor.num_ejections;
  monitor.last_ejection_time = options_.clock();
  const uint64_t jitter_range = static_cast<uint64_t>(config_.max_ejection_time_jitter.count());
  monitor.jitter =
      std::chrono::milliseconds(jitter_range == 0 ? 0 : options_.random() % (jitter_range + 1));
  // Each ejection in a row lasts one base_ejection_time longer, up to max_ejection_time.
  if (config_.base_ejection_time * monitor.eject_time_backoff <
      config_.max_ejection_time + config_.base_ejection_time) {
    ++monitor.eject_time_backoff;
  }
  on_health_changed_();
}

bool Detector::maybeReturn(const Host& host, HostMonitor& monitor, event::MonotonicTime now) {
  if (!host.healthFlagGet(HealthFlag::FailedOutlierCheck)) {
    // In for a whole interval: the next ejection will be one step shorter.
    if (monitor.eject_time_backoff > 0) --monitor.eject_time_backoff;
    return false;
  }
  const auto ejection_time =
      std::min(config_.base_ejection_time * monitor.eject_time_backoff, config_.max_ejection_time) +
      monitor.jitter;
  if (!monitor.last_ejection_time || now - *monitor.last_ejection_time < ejection_time) {
    return false;
  }
  unejectHost(host, monitor, now);
  return true;
}

void Detector::onSuccessfulActiveHealthCheck(const Host& host) {
  if (!config_.successful_active_health_check_uneject_host) return;
  if (hosts_.count(&host) == 0 || !host.healthFlagGet(HealthFlag::FailedOutlierCheck)) return;
  unejectHost(host, *host.outlierMonitor(), options_.clock());
  on_health_changed_();
}

void Detector::unejectHost(const Host& host, HostMonitor& monitor, event::MonotonicTime now) {
  --ejected_;
  stats_.ejections_active.dec();
  host.healthFlagClear(HealthFlag::FailedOutlierCheck);
  // Counts close to their limit would eject the host again after very few new errors.
  monitor.resetConsecutive5xx();
  monitor.resetConsecutiveGatewayFailure();
  monitor.resetConsecutiveLocalOriginFailure();
  monitor.last_unejection_time = now;
}

void Detector::runInterval() {
  const auto now = options_.clock();
  bool changed = false;
  std::map<const Host*, std::optional<std::pair<double, uint64_t>>> external;
  std::map<const Host*, std::optional<std::pair<double, uint64_t>>> local;
  for (const auto& [key, host] : hosts_) {
    HostMonitor& monitor = *host->outlierMonitor();
    changed |= maybeReturn(*host, monitor, now);
    // Judged afresh below, if the host has enough requests this time.
    monitor.success_rate = -1;
    monitor.local_origin_success_rate = -1;
    external[key] = monitor.externalOrigin().closeInterval();
    local[key] = monitor.localOrigin().closeInterval();
  }
  processSuccessRate(false, external);
  processSuccessRate(true, local);
  if (changed) on_health_changed_();
}

void Detector::processSuccessRate(
    bool local_origin,
    const std::map<const Host*, std::optional<std::pair<double, uint64_t>>>& closed_intervals) {
  SuccessRateFigures& figures = local_origin ? local_origin_figures_ : external_figures_;
  figures = SuccessRateFigures();
  const size_t members = hosts_.size();
  if (members < config_.success_rate_minimum_hosts &&
      members < config_.failure_percentage_minimum_hosts) {
    return;
  }
  struct Candidate {
    HostConstSharedPtr host;
    double success_rate;
  };
  std::vector<Candidate> success_rate_hosts;
  std::vector<Candidate> failure_percentage_hosts;
  double sum = 0;
  for (const auto& [key, host] : hosts_) {
    // An ejected host is judged again only once it is back.
    if (host->healthFlagGet(HealthFlag::FailedOutlierCheck)) continue;
    auto it = closed_intervals.find(key);
    if (it == closed_intervals.end() || !it->second) continue;
    const auto [rate, volume] = *it->second;
    if (volume >= config_.success_rate_request_volume) {
      success_rate_hosts.push_back({host, rate});
      sum += rate;
      HostMonitor& monitor = *host->outlierMonitor();
      (local_origin ? monitor.local_origin_success_rate : monitor.success_rate) = rate;
    }
    if (volume >= config_.failure_percentage_request_volume) {
      failure_percentage_hosts.push_back({host, rate});
    }
  }

  if (!success_rate_hosts.empty() &&
      success_rate_hosts.size() >= config_.success_rate_minimum_hosts) {
    // Below the mean by more than stdev_factor population standard deviations.
    const double n = static_cast<double>(success_rate_hosts.size());
    const double mean = sum / n;
    double variance = 0;
    for (const auto& c : success_rate_hosts)
      variance += (c.success_rate - mean) * (c.success_rate - mean);
    const double stdev = std::sqrt(variance / n);
    const double threshold = mean - (config_.success_rate_stdev_factor / 1000.0) * stdev;
    figures.average = mean;
    figures.ejection_threshold = threshold;
    const EjectionType type =
        local_origin ? EjectionType::SuccessRateLocalOrigin : EjectionType::SuccessRate;
    for (const auto& c : success_rate_hosts) {
      if (c.success_rate < threshold && !c.host->healthFlagGet(HealthFlag::FailedOutlierCheck)) {
        stats_.detected[index(type)]->inc();
        ejectHost(c.host, type);
      }
    }
  }

  if (!failure_percentage_hosts.empty() &&
      failure_percentage_hosts.size() >= config_.failure_percentage_minimum_hosts) {
    const EjectionType type =
        local_origin ? EjectionType::FailurePercentageLocalOrigin : EjectionType::FailurePercentage;
    for (const auto& c : failure_percentage_hosts) {
      if (100.0 - c.success_rate >= config_.failure_percentage_threshold &&
          !c.host->healthFlagGet(HealthFlag::FailedOutlierCheck)) {
        stats_.detected[index(type)]->inc();
        ejectHost(c.host, type);
      }
    }
  }
}

}  // namespace remora::upstream::outlier
