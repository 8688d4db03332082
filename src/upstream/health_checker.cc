#include "upstream/health_checker.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>

#include "common/assert.h"
#include "common/random.h"
#include "router/header_mutations.h"
#include "upstream/cluster_manager.h"
#include "upstream/grpc_health_checker.h"
#include "upstream/http_health_checker.h"
#include "upstream/tcp_health_checker.h"

namespace remora::upstream {

namespace {
std::chrono::milliseconds toMs(const google::protobuf::Duration& d) {
  return std::chrono::milliseconds(google::protobuf::util::TimeUtil::DurationToMilliseconds(d));
}
// Envoy caps every health check interval (its max_interval_ms); a day is far above any config.
constexpr uint64_t kMaxIntervalMs = 24ull * 3600 * 1000;
}  // namespace

HealthCheckerStats::HealthCheckerStats(stats::Store& store, const std::string& cluster_name)
    : attempt(store.counter("cluster." + cluster_name + ".health_check.attempt")),
      success(store.counter("cluster." + cluster_name + ".health_check.success")),
      failure(store.counter("cluster." + cluster_name + ".health_check.failure")),
      network_failure(store.counter("cluster." + cluster_name + ".health_check.network_failure")),
      passive_failure(store.counter("cluster." + cluster_name + ".health_check.passive_failure")),
      verify_cluster(store.counter("cluster." + cluster_name + ".health_check.verify_cluster")),
      healthy(store.gauge("cluster." + cluster_name + ".health_check.healthy")),
      degraded(store.gauge("cluster." + cluster_name + ".health_check.degraded")) {}

HealthCheckTiming::HealthCheckTiming(const envoy::config::core::v3::HealthCheck& proto)
    : timeout(toMs(proto.timeout())),
      interval(toMs(proto.interval())),
      initial_jitter(toMs(proto.initial_jitter())),
      interval_jitter(toMs(proto.interval_jitter())),
      interval_jitter_percent(proto.interval_jitter_percent()),
      unhealthy_threshold(proto.unhealthy_threshold().value()),
      healthy_threshold(proto.healthy_threshold().value()),
      reuse_connection(!proto.has_reuse_connection() || proto.reuse_connection().value()) {
  if (proto.has_no_traffic_interval()) no_traffic_interval = toMs(proto.no_traffic_interval());
  unhealthy_interval = proto.has_unhealthy_interval() ? toMs(proto.unhealthy_interval()) : interval;
  unhealthy_edge_interval = proto.has_unhealthy_edge_interval()
                                ? toMs(proto.unhealthy_edge_interval())
                                : unhealthy_interval;
  healthy_edge_interval =
      proto.has_healthy_edge_interval() ? toMs(proto.healthy_edge_interval()) : interval;
  // A threshold of 0 would never be reached by counting; Envoy's validation allows it and its
  // counter comparison then fails every time, which is no use. Treat it as 1.
  unhealthy_threshold = std::max<uint32_t>(unhealthy_threshold, 1);
  healthy_threshold = std::max<uint32_t>(healthy_threshold, 1);
}

HealthTransition HostHealthState::onSuccess() {
  num_unhealthy_ = 0;
  HealthTransition transition = HealthTransition::Unchanged;
  if (!healthy_) {
    if (first_check_ || ++num_healthy_ >= timing_.healthy_threshold) {
      healthy_ = true;
      num_healthy_ = 0;
      transition = HealthTransition::Changed;
    } else {
      transition = HealthTransition::ChangePending;
    }
  }
  first_check_ = false;
  return transition;
}

HealthTransition HostHealthState::onFailure(FailureType type, bool retriable) {
  num_healthy_ = 0;
  HealthTransition transition = HealthTransition::Unchanged;
  if (healthy_) {
    if ((type != FailureType::Network && !retriable) ||
        ++num_unhealthy_ >= timing_.unhealthy_threshold) {
      healthy_ = false;
      num_unhealthy_ = 0;
      transition = HealthTransition::Changed;
    } else {
      transition = HealthTransition::ChangePending;
    }
  }
  first_check_ = false;
  return transition;
}

std::chrono::milliseconds intervalWithJitter(const HealthCheckTiming& timing, uint64_t base_ms,
                                             uint64_t random_a, uint64_t random_b) {
  const uint64_t percent_span = timing.interval_jitter_percent * base_ms / 100;
  if (percent_span > 0) base_ms += random_a % percent_span;
  const auto jitter = static_cast<uint64_t>(timing.interval_jitter.count());
  if (jitter > 0) base_ms += random_b % jitter;
  return std::chrono::milliseconds(std::min(base_ms, kMaxIntervalMs));
}

std::chrono::milliseconds HostHealthState::nextInterval(bool succeeded, HealthTransition transition,
                                                        bool cluster_has_traffic,
                                                        uint64_t random) const {
  std::chrono::milliseconds base;
  if (!cluster_has_traffic) {
    base = timing_.no_traffic_interval;
  } else if (succeeded) {
    base = transition == HealthTransition::ChangePending ? timing_.healthy_edge_interval
                                                         : timing_.interval;
  } else {
    base = transition == HealthTransition::ChangePending ? timing_.unhealthy_edge_interval
                                                         : timing_.unhealthy_interval;
  }
  return intervalWithJitter(timing_, static_cast<uint64_t>(base.count()), random,
                            random >> 32 | random << 32);
}

HealthChecker::HealthChecker(event::Dispatcher& dispatcher, ClusterManager& cluster_manager,
                             ClusterConstSharedPtr cluster,
                             const envoy::config::core::v3::HealthCheck& proto)
    : dispatcher_(dispatcher),
      cluster_manager_(cluster_manager),
      cluster_name_(cluster->name()),
      cluster_(std::move(cluster)),
      timing_(proto),
      stats_(cluster_->statsStore(), cluster_name_) {}

HealthChecker::~HealthChecker() = default;

void HealthChecker::start(const HostVector& hosts) { onMembershipChange(hosts, {}); }

void HealthChecker::onMembershipChange(const HostVector& added, const HostVector& removed) {
  for (const auto& host : removed) sessions_.erase(host.get());
  for (const auto& host : added) {
    // Envoy: a host starts failed (FailedActiveHc) until its first check passes, at startup
    // and when it joins later.
    host->healthFlagSet(HealthFlag::FailedActiveHc);
    host->healthFlagSet(HealthFlag::PendingActiveHc);
    auto session = makeSession(host, false);
    Session& ref = *session;
    sessions_[host.get()] = std::move(session);
    ref.start();
  }
  if (!added.empty()) cluster_manager_.onHostHealthChanged(cluster_name_);
  if (!removed.empty()) checkFirstRound();
}

void HealthChecker::whenFirstRoundDone(std::function<void()> done) {
  first_round_done_ = std::move(done);
  checkFirstRound();
}

void HealthChecker::checkFirstRound() {
  if (!first_round_done_) return;
  for (const auto& [host, session] : sessions_) {
    if (!session->checked()) return;
  }
  auto done = std::move(first_round_done_);
  first_round_done_ = nullptr;
  done();
}

void HealthChecker::onImmediateFailFromTraffic(const Host& host) {
  auto it = sessions_.find(&host);
  if (it != sessions_.end()) it->second->onPassiveImmediateFail();
}

bool HealthChecker::clusterHasTraffic() const {
  // Health check connections are not counted there (createHostConnection).
  return cluster_->stats().upstream_cx_total.value() > 0;
}

HealthChecker::Session::Session(HealthChecker& parent, HostConstSharedPtr host,
                                bool initially_healthy)
    : parent_(parent), host_(std::move(host)), state_(parent.timing_, initially_healthy) {
  if (initially_healthy) parent_.stats_.healthy.inc();
}

HealthChecker::Session::~Session() {
  if (state_.healthy()) parent_.stats_.healthy.dec();
  if (degraded_) parent_.stats_.degraded.dec();
}

void HealthChecker::Session::start() {
  interval_timer_ = parent_.dispatcher_.createTimer([this] { runCheck(); });
  timeout_timer_ = parent_.dispatcher_.createTimer([this] {
    // The verdict first: the connection the subclass then closes reports nothing more.
    host_->healthFlagSet(HealthFlag::ActiveHcTimeout);
    handleFailure(FailureType::Network);
    onTimeout();
  });
  const auto jitter = static_cast<uint64_t>(parent_.timing_.initial_jitter.count());
  interval_timer_->enableTimer(std::chrono::milliseconds(jitter > 0 ? randomU64() % jitter : 0));
}

void HealthChecker::Session::runCheck() {
  parent_.stats_.attempt.inc();
  in_flight_ = true;
  timeout_timer_->enableTimer(parent_.timing_.timeout);
  onInterval();
}

void HealthChecker::Session::handleSuccess(bool degraded) {
  if (!in_flight_) return;  // a late answer after the timeout already failed the check
  in_flight_ = false;
  parent_.stats_.success.inc();
  host_->healthFlagClear(HealthFlag::ActiveHcTimeout);
  host_->healthFlagClear(HealthFlag::ExcludedViaImmediateHcFail);
  // x-envoy-degraded: the host stays in, behind the healthy ones (Envoy updates it on passes).
  bool degraded_changed = false;
  if (degraded != degraded_) {
    degraded ? parent_.stats_.degraded.inc() : parent_.stats_.degraded.dec();
    degraded ? host_->healthFlagSet(HealthFlag::DegradedActiveHc)
             : host_->healthFlagClear(HealthFlag::DegradedActiveHc);
    degraded_ = degraded;
    degraded_changed = true;
  }
  const bool was_pending = host_->healthFlagGet(HealthFlag::PendingActiveHc);
  host_->healthFlagClear(HealthFlag::PendingActiveHc);
  HealthTransition transition = state_.onSuccess();
  applyTransition(transition);
  if (transition != HealthTransition::Changed && (was_pending || degraded_changed)) {
    parent_.cluster_manager_.onHostHealthChanged(parent_.cluster_name_);
  }
  scheduleNext(true, transition);
  for (const auto& cb : parent_.check_complete_callbacks_) cb(*host_);
  if (was_pending) parent_.checkFirstRound();
}

void HealthChecker::Session::handleFailure(FailureType type, bool retriable) {
  if (!in_flight_) return;  // e.g. an idle kept-alive connection closed between checks
  in_flight_ = false;
  parent_.stats_.failure.inc();
  if (type == FailureType::Network) parent_.stats_.network_failure.inc();
  if (type == FailureType::Passive) parent_.stats_.passive_failure.inc();
  if (type != FailureType::Network) host_->healthFlagClear(HealthFlag::ActiveHcTimeout);
  const bool was_pending = host_->healthFlagGet(HealthFlag::PendingActiveHc);
  host_->healthFlagClear(HealthFlag::PendingActiveHc);
  HealthTransition transition = state_.onFailure(type, retriable);
  applyTransition(transition);
  if (transition != HealthTransition::Changed && was_pending) {
    parent_.cluster_manager_.onHostHealthChanged(parent_.cluster_name_);
  }
  scheduleNext(false, transition);
  for (const auto& cb : parent_.check_complete_callbacks_) cb(*host_);
  if (was_pending) parent_.checkFirstRound();
}

void HealthChecker::Session::handleImmediateFail() {
  if (!in_flight_) return;
  host_->healthFlagSet(HealthFlag::ExcludedViaImmediateHcFail);
  // An answer to our own check: an active failure, which ignores unhealthy_threshold.
  handleFailure(FailureType::Active);
}

void HealthChecker::Session::onPassiveImmediateFail() {
  // Outside any check: the scheduled one still runs, and passes again once the upstream is back.
  host_->healthFlagSet(HealthFlag::ExcludedViaImmediateHcFail);
  parent_.stats_.failure.inc();
  parent_.stats_.passive_failure.inc();
  HealthTransition transition = state_.onFailure(FailureType::Passive, false);
  applyTransition(transition);
  // Only the exclusion flag changed: the balancers still need to hear of it.
  if (transition != HealthTransition::Changed) {
    parent_.cluster_manager_.onHostHealthChanged(parent_.cluster_name_);
  }
  parent_.checkFirstRound();
}

void HealthChecker::Session::applyTransition(HealthTransition transition) {
  if (transition != HealthTransition::Changed) return;
  if (state_.healthy()) {
    host_->healthFlagClear(HealthFlag::FailedActiveHc);
    parent_.stats_.healthy.inc();
  } else {
    host_->healthFlagSet(HealthFlag::FailedActiveHc);
    parent_.stats_.healthy.dec();
  }
  parent_.cluster_manager_.onHostHealthChanged(parent_.cluster_name_);
}

void HealthChecker::Session::scheduleNext(bool succeeded, HealthTransition transition) {
  timeout_timer_->disableTimer();
  interval_timer_->enableTimer(
      state_.nextInterval(succeeded, transition, parent_.clusterHasTraffic(), randomU64()));
}

namespace {
Status checkPayload(const envoy::config::core::v3::HealthCheck::Payload& payload,
                    const std::string& path) {
  if (!payload.has_text()) return Status();
  const std::string& text = payload.text();
  const bool hex =
      text.size() % 2 == 0 && text.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
  if (!hex) return Status::error(path + ".text: invalid hex string \"" + text + "\"");
  return Status();
}
}  // namespace

Status validateHealthChecks(const envoy::config::cluster::v3::Cluster& cluster,
                            const std::string& path) {
  if (cluster.health_checks_size() > 1) {
    return Status::error(path + ".health_checks: multiple health checks not supported");
  }
  if (cluster.health_checks_size() == 0) return Status();
  const auto& hc = cluster.health_checks(0);
  const std::string at = path + ".health_checks[0]";
  if (hc.has_tcp_health_check()) {
    RETURN_IF_ERROR(checkPayload(hc.tcp_health_check().send(), at + ".tcp_health_check.send"));
    for (int i = 0; i < hc.tcp_health_check().receive_size(); ++i) {
      RETURN_IF_ERROR(checkPayload(hc.tcp_health_check().receive(i),
                                   at + ".tcp_health_check.receive[" + std::to_string(i) + "]"));
    }
  }
  if (hc.has_http_health_check()) {
    auto headers =
        router::HeaderMutations::create(hc.http_health_check().request_headers_to_add(), {},
                                        at + ".http_health_check.request_headers_to_add", "");
    if (!headers.ok()) return headers.status();
  }
  if (hc.has_grpc_health_check()) {
    auto headers = router::HeaderMutations::create(hc.grpc_health_check().initial_metadata(), {},
                                                   at + ".grpc_health_check.initial_metadata", "");
    if (!headers.ok()) return headers.status();
  }
  return Status();
}

std::shared_ptr<HealthChecker> createHealthChecker(
    event::Dispatcher& dispatcher, ClusterManager& cluster_manager, ClusterConstSharedPtr cluster,
    const envoy::config::core::v3::HealthCheck& proto) {
  using HC = envoy::config::core::v3::HealthCheck;
  switch (proto.health_checker_case()) {
    case HC::kHttpHealthCheck:
      return std::make_shared<HttpHealthChecker>(dispatcher, cluster_manager, std::move(cluster),
                                                 proto);
    case HC::kTcpHealthCheck:
      return std::make_shared<TcpHealthChecker>(dispatcher, cluster_manager, std::move(cluster),
                                                proto);
    case HC::kGrpcHealthCheck:
      return std::make_shared<GrpcHealthChecker>(dispatcher, cluster_manager, std::move(cluster),
                                                 proto);
    default:
      RELEASE_ASSERT(false, "health checker type was validated at load");
  }
  return nullptr;
}

}  // namespace remora::upstream
