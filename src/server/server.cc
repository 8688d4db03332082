#include "server/server.h"

#include <google/protobuf/util/time_util.h>
#include <malloc.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "access_log/access_log_file.h"
#include "admin/admin_listener.h"
#include "common/logger.h"
#include "net/socket.h"
#include "upstream/outlier_detection.h"

namespace remora::server {

using google::protobuf::util::TimeUtil;

namespace {
// Envoy stamps static resources with the server's start time.
google::protobuf::Timestamp toTimestamp(std::chrono::system_clock::time_point t) {
  return TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}
}  // namespace

Server::Server(Options options, envoy::config::bootstrap::v3::Bootstrap bootstrap)
    : options_(std::move(options)),
      bootstrap_(std::move(bootstrap)),
      start_time_(std::chrono::system_clock::now()),
      dispatcher_(event::createDispatcher("main_thread")),
      stats_(std::make_unique<stats::Store>(options_.concurrency + 1)),
      cluster_manager_(std::make_unique<upstream::ClusterManager>(*dispatcher_)),
      subscription_context_{*dispatcher_, *stats_, nullptr},
      route_providers_(
          std::make_unique<router::RouteConfigProviderManager>(*stats_, subscription_context_)) {
  stats_->bindThread(0);
  cluster_manager_->setSubscriptionFactoryContext(&subscription_context_);
  listener_manager_ = std::make_unique<ListenerManager>(
      *dispatcher_, *stats_, options_, init_manager_, workers_, *route_providers_,
      [this] { return cluster_manager_->names(); });
  server_state_.local_cluster_name = bootstrap_.node().cluster();
}

Server::~Server() {
  admin_.reset();
  workers_.clear();
  lds_.reset();
  listener_manager_.reset();  // closes the sockets no worker took
  cds_.reset();
  signal_event_.reset();
  if (signal_fd_ >= 0) ::close(signal_fd_);
  cluster_manager_.reset();
  ads_mux_.reset();
}

Status Server::initialize() {
  RETURN_IF_ERROR(buildClusters());
  RETURN_IF_ERROR(buildListeners(true));
  RETURN_IF_ERROR(startDynamicResources());
  if (bootstrap_.has_admin() && bootstrap_.admin().has_address()) {
    auto address = admin::AdminListener::addressFromProto(bootstrap_.admin().address());
    if (!address.ok()) return address.status();
    auto admin = admin::AdminListener::create(*this, address.value());
    if (!admin.ok()) return admin.status();
    admin_ = std::move(admin).value();
  }
  stats_->gauge("server.concurrency").set(options_.concurrency);
  const auto clusters = cluster_manager_->clusters();
  stats_->counter("cluster_manager.cluster_added").inc(clusters->size());
  stats_->gauge("cluster_manager.active_clusters").set(static_cast<int64_t>(clusters->size()));
  initialized_ = true;
  return {};
}

Status Server::validateOnly() {
  RETURN_IF_ERROR(buildClusters());
  return buildListeners(false);
}

Status Server::buildClusters() {
  cluster_manager_->setInitManager(&init_manager_);
  // The ADS stream first: EDS clusters fed by it subscribe while they are built. It finds its own
  // static cluster when it opens, in run().
  const auto& protos = bootstrap_.static_resources().clusters();
  if (bootstrap_.dynamic_resources().has_ads_config()) {
    auto mux = xds::AdsMux::create(bootstrap_.dynamic_resources().ads_config(), bootstrap_.node(),
                                   protos, *cluster_manager_, *dispatcher_, *stats_,
                                   "dynamic_resources.ads_config");
    if (!mux.ok()) return mux.status();
    ads_mux_ = std::move(mux).value();
    cluster_manager_->setAdsMux(ads_mux_.get());
    // Every `ads` ConfigSource (LDS, CDS, RDS) subscribes on this stream.
    subscription_context_.api_factory =
        [mux = ads_mux_.get()](const envoy::config::core::v3::ConfigSource& source,
                               std::string_view type_url, xds::SubscriptionCallbacks& callbacks,
                               xds::SubscriptionStats stats) {
          return mux->subscribe(source, type_url, callbacks, stats);
        };
  }
  for (int i = 0; i < protos.size(); ++i) {
    if (protos[i].eds_cluster_config().eds_config().has_ads() && ads_mux_ == nullptr) {
      return Status::error("static_resources.clusters[" + std::to_string(i) +
                           "].eds_cluster_config.eds_config.ads: needs "
                           "dynamic_resources.ads_config");
    }
    cluster_manager_->addCluster(std::make_shared<const upstream::Cluster>(protos[i], *stats_));
  }
  return {};
}

Status Server::buildListeners(bool bind) {
  const auto& protos = bootstrap_.static_resources().listeners();
  for (int i = 0; i < protos.size(); ++i) {
    RETURN_IF_ERROR(listener_manager_->addStaticListener(protos[i], bind)
                        .withPrefix("static_resources.listeners[" + std::to_string(i) + "]"));
  }
  return {};
}

Status Server::startDynamicResources() {
  // CDS before LDS, as Envoy: listeners' routes name clusters. Both start when the server's
  // init runs (their init targets), and it waits for their first responses.
  const auto& dynamic = bootstrap_.dynamic_resources();
  if (dynamic.has_cds_config()) {
    cds_ = std::make_unique<upstream::CdsApi>(*cluster_manager_, *stats_, init_manager_);
    RETURN_IF_ERROR(cds_->start(dynamic.cds_config(), subscription_context_));
  }
  if (dynamic.has_lds_config()) {
    lds_ = std::make_unique<LdsApi>(*listener_manager_, init_manager_);
    RETURN_IF_ERROR(lds_->start(dynamic.lds_config(), subscription_context_));
  }
  return {};
}

int Server::run() {
  // Signals arrive as events on the main loop; workers (started after this) inherit the mask.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);
  signal_fd_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  signal_event_ = dispatcher_->createFileEvent(
      signal_fd_, [this](uint32_t) { onSignal(); }, event::FileReadyType::Read);

  for (uint32_t i = 0; i < options_.concurrency; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, *stats_, server_state_));
  }
  for (uint32_t i = 0; i < options_.concurrency; ++i) {
    auto clusters = cluster_manager_->clusters();
    workers_[i]->post([clusters](ConnectionHandler&, upstream::ThreadLocalClusterManager& cm) {
      cm.update(clusters);
    });
    workers_[i]->start();
  }
  // Later snapshots (membership and health changes) reach every worker the same way.
  cluster_manager_->setPublisher([this](upstream::ClusterMapConstSharedPtr clusters) {
    for (auto& w : workers_) {
      w->post([clusters](ConnectionHandler&, upstream::ThreadLocalClusterManager& cm) {
        cm.update(clusters);
      });
    }
  });
  stats_timer_ = dispatcher_->createTimer([this] { updateServerStats(); });
  updateServerStats();
  if (bootstrap_.has_stats_flush_interval()) {
    stats_flush_interval_ = std::chrono::milliseconds(
        TimeUtil::DurationToMilliseconds(bootstrap_.stats_flush_interval()));
  }
  stats_flush_timer_ = dispatcher_->createTimer([this] { flushStats(); });
  stats_flush_timer_->enableTimer(stats_flush_interval_);
  // Listeners accept only once everything they depend on is ready (Envoy's init sequence); until
  // then the server is INITIALIZING and /ready answers 503.
  if (ads_mux_ != nullptr) ads_mux_->start();
  init_manager_.initialize([this] { startListeners(); });
  dispatcher_->run();
  workers_.clear();
  LOG_INFO("remora exiting");
  return 0;
}

void Server::startListeners() {
  listener_manager_->startWorkers();
  LOG_INFO("remora started: {} worker(s), {} listener(s), {} cluster(s)", options_.concurrency,
           listener_manager_->activeCount(), cluster_manager_->clusters()->size());
  if (stats_timer_) updateServerStats();
}

void Server::updateServerStats() {
  stats_->gauge("server.live").set(state() == envoy::admin::v3::ServerInfo::LIVE ? 1 : 0);
  stats_->gauge("server.state").set(static_cast<int64_t>(state()));
  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() -
                                                                 start_time_);
  stats_->gauge("server.uptime").set(uptime.count());
  struct mallinfo2 info = mallinfo2();
  stats_->gauge("server.memory_allocated").set(static_cast<int64_t>(info.uordblks + info.hblkhd));
  stats_->gauge("server.memory_heap_size").set(static_cast<int64_t>(info.arena + info.hblkhd));
  stats_->gauge("server.total_connections").set(static_cast<int64_t>(openConnections()));
  stats_timer_->enableTimer(std::chrono::seconds(1));
}

void Server::flushStats() {
  // Envoy's stats flush: histograms close their interval (there are no sinks to feed yet).
  stats_->mergeHistograms();
  stats_flush_timer_->enableTimer(stats_flush_interval_);
}

size_t Server::openConnections() const {
  size_t total = 0;
  for (const auto& w : workers_) total += w->connectionCount();
  return total;
}

void Server::onSignal() {
  signalfd_siginfo info;
  while (::read(signal_fd_, &info, sizeof(info)) == sizeof(info)) {
    if (info.ssi_signo == SIGUSR1) {
      // Envoy's log-rotation signal: reopen the access logs, keep serving.
      LOG_INFO("caught SIGUSR1: reopening access logs");
      reopenAccessLogs();
      continue;
    }
    LOG_INFO("caught signal {}: draining for up to {}s",
             strsignal(static_cast<int>(info.ssi_signo)), options_.drain_time.count());
    beginDrainThenExit();
  }
}

void Server::beginDrainThenExit() {
  if (draining_) return;
  draining_ = true;
  updateServerStats();
  listener_manager_->stopListeners(false);
  // HTTP connections wind down (GOAWAY, Connection: close).
  listener_manager_->drainListeners(false);
  drain_deadline_ = std::chrono::steady_clock::now() + options_.drain_time;
  drain_timer_ = dispatcher_->createTimer([this] { checkDrained(); });
  // Workers refresh their counts every 50 ms; give them one refresh before the first check.
  drain_timer_->enableTimer(std::chrono::milliseconds(100));
}

void Server::checkDrained() {
  if (openConnections() == 0 || std::chrono::steady_clock::now() >= drain_deadline_) {
    dispatcher_->exit();  // run() stops the workers, which close what is left
    return;
  }
  drain_timer_->enableTimer(std::chrono::milliseconds(50));
}

void Server::shutdown() {
  // Envoy's /quitquitquit exits without a drain period; let the response go out first.
  stats_timer_->disableTimer();
  stats_flush_timer_->disableTimer();
  drain_timer_ = dispatcher_->createTimer([this] { dispatcher_->exit(); });
  drain_timer_->enableTimer(std::chrono::milliseconds(10));
}

void Server::setHealthCheckFailed(bool failed) {
  server_state_.health_check_failed.store(failed, std::memory_order_relaxed);
  updateServerStats();
}

void Server::reopenAccessLogs() { access_log::AccessLogFileManager::get().reopenAll(); }

void Server::drainListeners(bool inbound_only, bool graceful) {
  if (!graceful) {
    listener_manager_->stopListeners(inbound_only);
    return;
  }
  // Graceful: the listeners' connections start draining now (Envoy's drain sequence); the
  // listeners keep accepting through the drain period, then stop (Envoy's behaviour).
  listener_manager_->drainListeners(inbound_only);
  listener_drain_timer_ = dispatcher_->createTimer(
      [this, inbound_only] { listener_manager_->stopListeners(inbound_only); });
  listener_drain_timer_->enableTimer(
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.drain_time));
}

envoy::admin::v3::ServerInfo::State Server::state() const {
  if (!initialized_) return envoy::admin::v3::ServerInfo::PRE_INITIALIZING;
  if (init_manager_.state() != init::Manager::State::Initialized)
    return envoy::admin::v3::ServerInfo::INITIALIZING;
  if (draining_ || healthCheckFailed()) return envoy::admin::v3::ServerInfo::DRAINING;
  return envoy::admin::v3::ServerInfo::LIVE;
}

envoy::admin::v3::ServerInfo Server::serverInfo() const {
  envoy::admin::v3::ServerInfo info;
  info.set_version(remoraVersion());
  info.set_state(state());
  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() -
                                                                 start_time_);
  *info.mutable_uptime_current_epoch() = TimeUtil::SecondsToDuration(uptime.count());
  *info.mutable_uptime_all_epochs() = TimeUtil::SecondsToDuration(uptime.count());
  info.set_hot_restart_version("disabled");
  auto* cli = info.mutable_command_line_options();
  cli->set_concurrency(options_.concurrency);
  cli->set_config_path(options_.config_path);
  cli->set_config_yaml(options_.config_yaml);
  cli->set_log_level(spdlog::level::to_string_view(options_.log_level).data());
  cli->set_service_cluster(options_.service_cluster);
  cli->set_service_node(options_.service_node);
  cli->set_service_zone(options_.service_zone);
  *cli->mutable_drain_time() = TimeUtil::SecondsToDuration(options_.drain_time.count());
  *cli->mutable_parent_shutdown_time() =
      TimeUtil::SecondsToDuration(options_.parent_shutdown_time.count());
  cli->set_mode(options_.mode == Mode::Validate ? envoy::admin::v3::CommandLineOptions::Validate
                                                : envoy::admin::v3::CommandLineOptions::Serve);
  cli->set_disable_hot_restart(true);
  *info.mutable_node() = bootstrap_.node();
  return info;
}

std::map<std::string, Instance::OutlierFigures> Server::outlierFigures() const {
  std::map<std::string, OutlierFigures> out;
  for (const auto& [name, cluster] : *cluster_manager_->clusters()) {
    const auto* detector = cluster_manager_->outlierDetector(name);
    if (detector == nullptr) continue;
    const auto& external = detector->successRateFigures(false);
    const auto& local = detector->successRateFigures(true);
    out[name] = OutlierFigures{external.average, external.ejection_threshold, local.average,
                               local.ejection_threshold};
  }
  return out;
}

envoy::admin::v3::Clusters Server::clusterStatuses() const {
  envoy::admin::v3::Clusters out;
  for (const auto& [name, cluster] : *cluster_manager_->clusters()) {
    auto* status = out.add_cluster_statuses();
    status->set_name(name);
    status->set_added_via_api(cds_ && cds_->addedViaApi(name));
    // Envoy leaves out a threshold it did not compute (or computed below 0).
    if (const auto* detector = cluster_manager_->outlierDetector(name)) {
      const double external = detector->successRateFigures(false).ejection_threshold;
      const double local = detector->successRateFigures(true).ejection_threshold;
      if (external >= 0) status->mutable_success_rate_ejection_threshold()->set_value(external);
      if (local >= 0) {
        status->mutable_local_origin_success_rate_ejection_threshold()->set_value(local);
      }
    }
    for (const auto& host : cluster->adminHosts()) {
      auto* hs = status->add_host_statuses();
      auto* sa = hs->mutable_address()->mutable_socket_address();
      // A LOGICAL_DNS host shows its current address, as Envoy's LogicalHost::address().
      const net::Address address = host->currentAddress();
      sa->set_address(address.ip());
      sa->set_port_value(address.port());
      auto metric = [&](const char* metric_name, uint64_t value, bool gauge) {
        auto* m = hs->add_stats();
        m->set_name(metric_name);
        m->set_value(value);
        m->set_type(gauge ? envoy::admin::v3::SimpleMetric::GAUGE
                          : envoy::admin::v3::SimpleMetric::COUNTER);
      };
      metric("cx_connect_fail", host->stats.cx_connect_fail.load(std::memory_order_relaxed), false);
      metric("cx_total", host->stats.cx_total.load(std::memory_order_relaxed), false);
      metric("rq_total", host->stats.rq_total.load(std::memory_order_relaxed), false);
      metric("cx_active", static_cast<uint64_t>(std::max<int64_t>(0, host->stats.cx_active.load())),
             true);
      metric("rq_active", static_cast<uint64_t>(std::max<int64_t>(0, host->stats.rq_active.load())),
             true);
      using upstream::HealthFlag;
      auto* health = hs->mutable_health_status();
      health->set_eds_health_status(
          host->healthFlagGet(HealthFlag::FailedEdsHealth)     ? envoy::config::core::v3::UNHEALTHY
          : host->healthFlagGet(HealthFlag::DegradedEdsHealth) ? envoy::config::core::v3::DEGRADED
                                                               : envoy::config::core::v3::HEALTHY);
      health->set_failed_active_degraded_check(host->healthFlagGet(HealthFlag::DegradedActiveHc));
      health->set_failed_active_health_check(host->healthFlagGet(HealthFlag::FailedActiveHc));
      health->set_failed_outlier_check(host->healthFlagGet(HealthFlag::FailedOutlierCheck));
      health->set_pending_active_hc(host->healthFlagGet(HealthFlag::PendingActiveHc));
      health->set_excluded_via_immediate_hc_fail(
          host->healthFlagGet(HealthFlag::ExcludedViaImmediateHcFail));
      health->set_active_hc_timeout(host->healthFlagGet(HealthFlag::ActiveHcTimeout));
      if (const auto* monitor = host->outlierMonitor()) {
        if (monitor->success_rate >= 0)
          hs->mutable_success_rate()->set_value(monitor->success_rate);
        if (monitor->local_origin_success_rate >= 0) {
          hs->mutable_local_origin_success_rate()->set_value(monitor->local_origin_success_rate);
        }
      }
      hs->set_priority(host->priority);
      hs->set_weight(host->weight);
      hs->set_hostname(host->hostname);
      if (!host->locality.empty()) {
        // Host::locality is "region/zone/sub_zone" (upstream/load_assignment.h).
        const std::string_view key = host->locality;
        const size_t first = key.find('/');
        const size_t second = key.find('/', first + 1);
        hs->mutable_locality()->set_region(std::string(key.substr(0, first)));
        hs->mutable_locality()->set_zone(std::string(key.substr(first + 1, second - first - 1)));
        hs->mutable_locality()->set_sub_zone(std::string(key.substr(second + 1)));
      }
    }
  }
  return out;
}

envoy::admin::v3::Listeners Server::listenerStatuses() const {
  return listener_manager_->statuses();
}

envoy::admin::v3::ConfigDump Server::configDump() const {
  envoy::admin::v3::ConfigDump dump;
  const auto updated = toTimestamp(start_time_);
  envoy::admin::v3::BootstrapConfigDump bootstrap_dump;
  *bootstrap_dump.mutable_bootstrap() = bootstrap_;
  *bootstrap_dump.mutable_last_updated() = updated;
  dump.add_configs()->PackFrom(bootstrap_dump);

  envoy::admin::v3::ClustersConfigDump clusters_dump;
  for (const auto& [name, cluster] : *cluster_manager_->clusters()) {
    if (cds_ && cds_->addedViaApi(name)) continue;
    auto* c = clusters_dump.add_static_clusters();
    c->mutable_cluster()->PackFrom(cluster->proto());
    *c->mutable_last_updated() = updated;
  }
  if (cds_) cds_->dump(clusters_dump);
  dump.add_configs()->PackFrom(clusters_dump);

  envoy::admin::v3::ListenersConfigDump listeners_dump;
  listener_manager_->dumpConfig(listeners_dump, start_time_);
  if (lds_) listeners_dump.set_version_info(lds_->versionInfo());
  dump.add_configs()->PackFrom(listeners_dump);

  envoy::admin::v3::RoutesConfigDump routes_dump;
  route_providers_->dump(routes_dump);
  dump.add_configs()->PackFrom(routes_dump);
  return dump;
}

}  // namespace remora::server
