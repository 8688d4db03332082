#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "http/codec.h"
#include "http/http2/options.h"
#include "stats/store.h"
#include "upstream/host.h"
#include "upstream/lb_config.h"
#include "upstream/resource_manager.h"

namespace remora::upstream {

// Envoy's cluster.<name>.* stats that remora maintains.
struct ClusterStats {
  explicit ClusterStats(stats::Store& store, const std::string& name);
  stats::Counter& upstream_cx_total;
  stats::Gauge& upstream_cx_active;
  stats::Counter& upstream_cx_connect_fail;
  stats::Counter& upstream_cx_connect_timeout;
  stats::Counter& upstream_cx_connect_attempts_exceeded;
  stats::Counter& upstream_cx_none_healthy;
  stats::Counter& upstream_cx_destroy;
  stats::Counter& upstream_cx_destroy_local;
  stats::Counter& upstream_cx_destroy_remote;
  stats::Counter& upstream_cx_rx_bytes_total;
  stats::Counter& upstream_cx_tx_bytes_total;
  stats::Counter& upstream_flow_control_paused_reading_total;
  stats::Counter& upstream_flow_control_resumed_reading_total;
  // The upstream side (connecting, or its write buffer full) paused / resumed the downstream.
  stats::Counter& upstream_flow_control_backed_up_total;
  stats::Counter& upstream_flow_control_drained_total;
  stats::Counter& upstream_cx_http1_total;
  stats::Counter& upstream_cx_http2_total;
  stats::Counter& upstream_cx_max_requests;
  stats::Counter& upstream_cx_idle_timeout;
  stats::Counter& upstream_cx_max_duration_reached;
  stats::Counter& upstream_cx_destroy_with_active_rq;
  stats::Counter& upstream_rq_total;
  stats::Gauge& upstream_rq_active;
  stats::Counter& upstream_rq_pending_total;
  stats::Gauge& upstream_rq_pending_active;
  stats::Counter& upstream_rq_pending_failure_eject;
  stats::Counter& upstream_rq_cancelled;
  stats::Counter& upstream_rq_timeout;
  stats::Counter& upstream_rq_per_try_timeout;
  stats::Counter& upstream_rq_rx_reset;
  stats::Counter& upstream_rq_tx_reset;
  stats::Counter& upstream_rq_retry;
  stats::Counter& upstream_rq_retry_success;
  stats::Counter& upstream_rq_retry_limit_exceeded;
  // Circuit breakers (resource_manager.h): a connection, pending request, request or retry
  // refused by its limit.
  stats::Counter& upstream_cx_overflow;
  stats::Counter& upstream_rq_pending_overflow;
  stats::Counter& upstream_rq_retry_overflow;
  stats::Gauge& membership_total;
  stats::Gauge& membership_healthy;
  stats::Gauge& membership_degraded;
  stats::Counter& membership_change;
  stats::Gauge& max_host_weight;
  // Picks made while the chosen priority was in panic (balanced over all of its hosts).
  stats::Counter& lb_healthy_panic;
  // Discovery (DNS, EDS): refreshes tried, that succeeded, that failed, and that found nothing
  // to change.
  stats::Counter& update_attempt;
  stats::Counter& update_success;
  stats::Counter& update_failure;
  stats::Counter& update_no_rebuild;
  // EDS: an update that did not parse or validate, and one without the cluster's assignment.
  stats::Counter& update_rejected;
  stats::Counter& update_empty;
  // Milliseconds: connect start to connected; connection open to closed; downstream request
  // complete to upstream response complete (the router's, as Envoy).
  stats::Histogram& upstream_cx_connect_ms;
  stats::Histogram& upstream_cx_length_ms;
  stats::Histogram& upstream_rq_time;

  // Counts one upstream response: upstream_rq_<code>, upstream_rq_<N>xx, upstream_rq_completed;
  // a response that made the router retry is counted under "retry." instead (Envoy's layout).
  void chargeResponse(uint32_t code, bool triggered_retry);

 private:
  stats::Store& store_;
  std::string prefix_;
  // Per-code counters are made on first use (from any worker; creation takes the store's lock,
  // counting afterwards does not).
  std::unique_ptr<std::atomic<stats::Counter*>[]> code_counters_;
  std::atomic<bool> code_counters_ready_{false};
  std::mutex code_counters_lock_;
  stats::Counter& codeCounter(const std::function<std::string()>& name, size_t slot);
};

enum class ClusterType { Static, StrictDns, LogicalDns, Eds, OriginalDst };

// One priority level of a cluster snapshot (Envoy's HostSet): its hosts, the ones its balancer
// uses, and with locality weighted balancing its localities.
struct HostSet {
  struct Locality {
    std::string name;
    uint32_t weight = 0;
    // weight * min(1, overprovisioning factor * healthy / total): what a locality is picked by.
    double effective_weight = 0;
    HostVector healthy_hosts;
    // The same over its degraded hosts: what it is picked by for the degraded share.
    double degraded_effective_weight = 0;
    HostVector degraded_hosts;
  };
  HostVector hosts;
  HostVector healthy_hosts;
  // Usable behind the healthy ones: the share of load the healthy hosts cannot take.
  HostVector degraded_hosts;
  // What this level balances over: its healthy hosts, or all of them in panic.
  HostVector lb_hosts;
  bool panic = false;
  std::vector<Locality> localities;
};

class LoadBalancerFactory;
class OriginalDstHostMap;

// A cluster as workers see it: an immutable snapshot. A membership change (DNS, EDS) or a host
// health change (health checking, outlier detection) makes the ClusterManager build the next
// snapshot with withHosts(): same configuration and stats, new host set and balancers.
class Cluster {
 public:
  // Builds from a validated proto (config/ has already checked types and references), with the
  // proto's load_assignment as its hosts.
  Cluster(const envoy::config::cluster::v3::Cluster& proto, stats::Store& store);

  // The next snapshot: this configuration with `hosts` (Host objects kept from this snapshot
  // keep their stats and health flags), balancers rebuilt over the healthy ones.
  std::shared_ptr<const Cluster> withHosts(HostVector hosts) const;
  // The same with a new overprovisioning factor (an EDS assignment carries its own).
  std::shared_ptr<const Cluster> withHosts(HostVector hosts,
                                           uint32_t overprovisioning_factor) const;
  // Snapshots of one configuration share this number; a new configuration (a CDS update) gets
  // a new one. Workers keep their connection pools across snapshots with the same number.
  uint64_t configVersion() const { return config_version_; }

  const std::string& name() const { return name_; }
  ClusterType type() const { return type_; }
  LbPolicy lbPolicy() const { return lb_config_.policy; }
  const LbConfig& lbConfig() const { return lb_config_; }
  // Makes each worker's balancer over hostSets(); built with the cluster (a hash ring or Maglev
  // table once per snapshot, shared by all workers).
  const LoadBalancerFactory& lbFactory() const { return *lb_factory_; }
  std::chrono::milliseconds connectTimeout() const { return connect_timeout_; }
  uint32_t perConnectionBufferLimit() const { return buffer_limit_; }
  // upstream_bind_config.source_address: every connection to this cluster's hosts (requests,
  // tcp_proxy, health checks) binds to it before connecting, as Envoy. Istio's inbound clusters
  // use 127.0.0.6 so the capture rules let the proxy's calls to the application through.
  const std::optional<net::Address>& upstreamBindAddress() const { return bind_address_; }
  // From typed_extension_protocol_options' HttpProtocolOptions (0: unlimited).
  uint32_t maxRequestsPerConnection() const { return max_requests_per_connection_; }
  // Idle upstream connections close after this (default 1 h, as Envoy; absent: never).
  std::optional<std::chrono::milliseconds> idleTimeout() const { return idle_timeout_; }
  // Upstream HTTP/1 codec settings from the same HttpProtocolOptions: the response header count
  // limit (default 100) and whether trailers pass (explicit_http_config, default off).
  uint32_t maxResponseHeadersCount() const { return max_headers_count_; }
  // Connections close once this old: idle ones at once, busy ones after their response.
  std::optional<std::chrono::milliseconds> maxConnectionDuration() const {
    return max_connection_duration_;
  }
  bool enableTrailers() const { return enable_trailers_; }
  // HttpProtocolOptions' explicit_http_config (http_protocol_options: HTTP/1.1, the default;
  // http2_protocol_options: HTTP/2) or use_downstream_protocol_config (the downstream's).
  enum class UpstreamProtocol { Http1, Http2, UseDownstream };
  UpstreamProtocol upstreamProtocol() const { return upstream_protocol_; }
  // What a request arriving over `downstream` (unknown: HTTP/1.1) is sent upstream with.
  bool useHttp2(std::optional<http::Protocol> downstream) const {
    return upstream_protocol_ == UpstreamProtocol::Http2 ||
           (upstream_protocol_ == UpstreamProtocol::UseDownstream &&
            downstream == http::Protocol::Http2);
  }
  const http::http2::Http2Options& http2Options() const { return http2_options_; }
  http::http2::Http2Stats& http2Stats() const { return *http2_stats_; }
  // Every host, all priorities.
  const HostVector& hosts() const { return hosts_; }
  // What /clusters shows: hosts(), and for ORIGINAL_DST the destinations picked lately.
  HostVector adminHosts() const;
  // ORIGINAL_DST: the hosts its picks made (original_dst_hosts.h), shared by every snapshot of
  // this configuration; null for other types.
  const std::shared_ptr<OriginalDstHostMap>& originalDstHosts() const {
    return original_dst_hosts_;
  }
  // Levels 0..highest priority present (levels in between may be empty) and the share of
  // traffic each receives (priority_load.h: Envoy's overprovisioning and panic rules).
  const std::vector<HostSet>& hostSets() const { return host_sets_; }
  const std::vector<uint32_t>& priorityLoad() const { return priority_load_; }
  // The share each level's degraded hosts receive (all zero while the healthy hosts suffice).
  const std::vector<uint32_t>& degradedPriorityLoad() const { return degraded_priority_load_; }
  // ClusterLoadAssignment.policy.overprovisioning_factor (percent; 140 by default).
  uint32_t overprovisioningFactor() const { return overprovisioning_factor_; }
  // common_lb_config.healthy_panic_threshold (percent; 50 by default, 0 disables panic).
  double panicThreshold() const { return panic_threshold_; }
  // common_lb_config.locality_weighted_lb_config is set.
  bool localityWeighted() const { return locality_weighted_; }
  ClusterStats& stats() const { return *stats_; }
  // The circuit breakers for a priority, shared by every worker (and every snapshot of this
  // configuration: withHosts() copies the pointer).
  ResourceManager& resourceManager(ResourcePriority priority) const {
    return resource_managers_->get(priority);
  }
  const ClusterResourceManagersSharedPtr& resourceManagers() const { return resource_managers_; }
  // Where this cluster's stats live (for what the ClusterManager adds beside it).
  stats::Store& statsStore() const { return *store_; }
  // A worker saw an upstream answer carrying x-envoy-immediate-health-check-fail: tells the
  // cluster's active health checker, if any, on the main thread (Envoy's
  // HealthCheckHostMonitor::setUnhealthy). Thread-safe; a no-op without a health checker.
  void reportImmediateHealthCheckFail(const HostConstSharedPtr& host) const {
    if (immediate_hc_fail_->report) immediate_hc_fail_->report(host);
  }
  // Set once by the ClusterManager when it adds the cluster, before any worker sees it; every
  // snapshot of this configuration shares it.
  void setImmediateHealthCheckFailReporter(std::function<void(HostConstSharedPtr)> report) const {
    immediate_hc_fail_->report = std::move(report);
  }
  const envoy::config::cluster::v3::Cluster& proto() const { return proto_; }

 private:
  const envoy::config::cluster::v3::Cluster proto_;
  const std::string name_;
  ClusterType type_;
  LbConfig lb_config_;
  std::chrono::milliseconds connect_timeout_;
  uint32_t buffer_limit_;
  std::optional<net::Address> bind_address_;
  uint32_t max_requests_per_connection_ = 0;
  std::optional<std::chrono::milliseconds> idle_timeout_ = std::chrono::hours(1);
  uint32_t max_headers_count_ = 100;
  std::optional<std::chrono::milliseconds> max_connection_duration_;
  bool enable_trailers_ = false;
  UpstreamProtocol upstream_protocol_ = UpstreamProtocol::Http1;
  http::http2::Http2Options http2_options_;
  // Shared by every snapshot of this configuration.
  std::shared_ptr<http::http2::Http2Stats> http2_stats_;
  std::shared_ptr<ClusterStats> stats_;
  // The circuit breakers: shared by every snapshot of this configuration, so connections and
  // requests opened under one snapshot release into the same counts under the next.
  ClusterResourceManagersSharedPtr resource_managers_;
  struct ImmediateHcFailReporter {
    std::function<void(HostConstSharedPtr)> report;
  };
  std::shared_ptr<ImmediateHcFailReporter> immediate_hc_fail_ =
      std::make_shared<ImmediateHcFailReporter>();
  std::shared_ptr<OriginalDstHostMap> original_dst_hosts_;
  stats::Store* store_;
  uint64_t config_version_;
  uint32_t overprovisioning_factor_ = 140;
  double panic_threshold_ = 50.0;
  bool locality_weighted_ = false;
  HostVector hosts_;
  std::vector<HostSet> host_sets_;
  std::vector<uint32_t> priority_load_;
  std::vector<uint32_t> degraded_priority_load_;
  std::shared_ptr<const LoadBalancerFactory> lb_factory_;

  // A copy of the configuration only; setHosts() fills in the rest.
  Cluster(const Cluster& other) = default;
  void setHosts(HostVector hosts);
};
using ClusterConstSharedPtr = std::shared_ptr<const Cluster>;

}  // namespace remora::upstream
