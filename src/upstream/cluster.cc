#include "upstream/cluster.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>

#include "common/assert.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb.h"
#include "http/http2/protocol_options.h"
#include "upstream/load_assignment.h"
#include "upstream/load_balancer.h"
#include "upstream/original_dst_hosts.h"
#include "upstream/priority_load.h"

namespace remora::upstream {

namespace {
stats::Counter& counter(stats::Store& s, const std::string& prefix, const char* name) {
  return s.counter(prefix + name);
}
stats::Gauge& gauge(stats::Store& s, const std::string& prefix, const char* name) {
  return s.gauge(prefix + name);
}
}  // namespace

ClusterStats::ClusterStats(stats::Store& s, const std::string& name)
    : upstream_cx_total(counter(s, "cluster." + name + ".", "upstream_cx_total")),
      upstream_cx_active(gauge(s, "cluster." + name + ".", "upstream_cx_active")),
      upstream_cx_connect_fail(counter(s, "cluster." + name + ".", "upstream_cx_connect_fail")),
      upstream_cx_connect_timeout(
          counter(s, "cluster." + name + ".", "upstream_cx_connect_timeout")),
      upstream_cx_connect_attempts_exceeded(
          counter(s, "cluster." + name + ".", "upstream_cx_connect_attempts_exceeded")),
      upstream_cx_none_healthy(counter(s, "cluster." + name + ".", "upstream_cx_none_healthy")),
      upstream_cx_destroy(counter(s, "cluster." + name + ".", "upstream_cx_destroy")),
      upstream_cx_destroy_local(counter(s, "cluster." + name + ".", "upstream_cx_destroy_local")),
      upstream_cx_destroy_remote(counter(s, "cluster." + name + ".", "upstream_cx_destroy_remote")),
      upstream_cx_rx_bytes_total(counter(s, "cluster." + name + ".", "upstream_cx_rx_bytes_total")),
      upstream_cx_tx_bytes_total(counter(s, "cluster." + name + ".", "upstream_cx_tx_bytes_total")),
      upstream_flow_control_paused_reading_total(
          counter(s, "cluster." + name + ".", "upstream_flow_control_paused_reading_total")),
      upstream_flow_control_resumed_reading_total(
          counter(s, "cluster." + name + ".", "upstream_flow_control_resumed_reading_total")),
      upstream_flow_control_backed_up_total(
          counter(s, "cluster." + name + ".", "upstream_flow_control_backed_up_total")),
      upstream_flow_control_drained_total(
          counter(s, "cluster." + name + ".", "upstream_flow_control_drained_total")),
      upstream_cx_http1_total(counter(s, "cluster." + name + ".", "upstream_cx_http1_total")),
      upstream_cx_http2_total(counter(s, "cluster." + name + ".", "upstream_cx_http2_total")),
      upstream_cx_max_requests(counter(s, "cluster." + name + ".", "upstream_cx_max_requests")),
      upstream_cx_idle_timeout(counter(s, "cluster." + name + ".", "upstream_cx_idle_timeout")),
      upstream_cx_max_duration_reached(
          counter(s, "cluster." + name + ".", "upstream_cx_max_duration_reached")),
      upstream_cx_destroy_with_active_rq(
          counter(s, "cluster." + name + ".", "upstream_cx_destroy_with_active_rq")),
      upstream_rq_total(counter(s, "cluster." + name + ".", "upstream_rq_total")),
      upstream_rq_active(gauge(s, "cluster." + name + ".", "upstream_rq_active")),
      upstream_rq_pending_total(counter(s, "cluster." + name + ".", "upstream_rq_pending_total")),
      upstream_rq_pending_active(gauge(s, "cluster." + name + ".", "upstream_rq_pending_active")),
      upstream_rq_pending_failure_eject(
          counter(s, "cluster." + name + ".", "upstream_rq_pending_failure_eject")),
      upstream_rq_cancelled(counter(s, "cluster." + name + ".", "upstream_rq_cancelled")),
      upstream_rq_timeout(counter(s, "cluster." + name + ".", "upstream_rq_timeout")),
      upstream_rq_per_try_timeout(
          counter(s, "cluster." + name + ".", "upstream_rq_per_try_timeout")),
      upstream_rq_rx_reset(counter(s, "cluster." + name + ".", "upstream_rq_rx_reset")),
      upstream_rq_tx_reset(counter(s, "cluster." + name + ".", "upstream_rq_tx_reset")),
      upstream_rq_retry(counter(s, "cluster." + name + ".", "upstream_rq_retry")),
      upstream_rq_retry_success(counter(s, "cluster." + name + ".", "upstream_rq_retry_success")),
      upstream_rq_retry_limit_exceeded(
          counter(s, "cluster." + name + ".", "upstream_rq_retry_limit_exceeded")),
      upstream_cx_overflow(counter(s, "cluster." + name + ".", "upstream_cx_overflow")),
      upstream_rq_pending_overflow(
          counter(s, "cluster." + name + ".", "upstream_rq_pending_overflow")),
      upstream_rq_retry_overflow(counter(s, "cluster." + name + ".", "upstream_rq_retry_overflow")),
      membership_total(gauge(s, "cluster." + name + ".", "membership_total")),
      membership_healthy(gauge(s, "cluster." + name + ".", "membership_healthy")),
      membership_degraded(gauge(s, "cluster." + name + ".", "membership_degraded")),
      membership_change(counter(s, "cluster." + name + ".", "membership_change")),
      max_host_weight(gauge(s, "cluster." + name + ".", "max_host_weight")),
      lb_healthy_panic(counter(s, "cluster." + name + ".", "lb_healthy_panic")),
      update_attempt(counter(s, "cluster." + name + ".", "update_attempt")),
      update_success(counter(s, "cluster." + name + ".", "update_success")),
      update_failure(counter(s, "cluster." + name + ".", "update_failure")),
      update_no_rebuild(counter(s, "cluster." + name + ".", "update_no_rebuild")),
      update_rejected(counter(s, "cluster." + name + ".", "update_rejected")),
      update_empty(counter(s, "cluster." + name + ".", "update_empty")),
      upstream_cx_connect_ms(s.histogram("cluster." + name + ".upstream_cx_connect_ms")),
      upstream_cx_length_ms(s.histogram("cluster." + name + ".upstream_cx_length_ms")),
      upstream_rq_time(s.histogram("cluster." + name + ".upstream_rq_time")),
      store_(s),
      prefix_("cluster." + name + ".") {}

namespace {
// Slots: 0..599 codes, 600..604 classes, 605 completed; the same again (+606) under "retry.".
constexpr size_t kCodeSlots = 606;
}  // namespace

stats::Counter& ClusterStats::codeCounter(const std::function<std::string()>& name, size_t slot) {
  if (!code_counters_ready_.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> guard(code_counters_lock_);
    if (!code_counters_) {
      code_counters_ = std::make_unique<std::atomic<stats::Counter*>[]>(2 * kCodeSlots);
      for (size_t i = 0; i < 2 * kCodeSlots; ++i)
        code_counters_[i].store(nullptr, std::memory_order_relaxed);
      code_counters_ready_.store(true, std::memory_order_release);
    }
  }
  stats::Counter* counter = code_counters_[slot].load(std::memory_order_acquire);
  if (counter == nullptr) {
    counter = &store_.counter(prefix_ + name());
    code_counters_[slot].store(counter, std::memory_order_release);
  }
  return *counter;
}

void ClusterStats::chargeResponse(uint32_t code, bool triggered_retry) {
  if (code < 100 || code >= 600) return;
  // Envoy charges a response that makes the router retry under "retry." only, and the response
  // the client gets (the last attempt's) under the plain names only. Names are built only the
  // first time a slot is used: this runs on every response.
  const std::string_view scope = triggered_retry ? "retry." : "";
  const size_t base = triggered_retry ? kCodeSlots : 0;
  codeCounter([&] { return std::string(scope) + "upstream_rq_" + std::to_string(code); },
              base + code)
      .inc();
  codeCounter(
      [&] { return std::string(scope) + "upstream_rq_" + std::to_string(code / 100) + "xx"; },
      base + 600 + code / 100 - 1)
      .inc();
  codeCounter([&] { return std::string(scope) + "upstream_rq_completed"; }, base + 605).inc();
}

namespace {
std::atomic<uint64_t> next_config_version{1};

// Hosts by priority level and, for locality weighted balancing, by locality (in the order the
// localities first appear) with each locality's effective weights (Envoy: weight times its
// availability, min(1, overprovisioning factor * healthy / total), and the same with its degraded
// hosts for the degraded share of the load).
std::vector<HostSet> buildHostSets(const HostVector& hosts, uint32_t levels,
                                   uint32_t overprovisioning_factor, bool locality_weighted) {
  std::vector<HostSet> sets(levels);
  std::vector<std::vector<uint32_t>> locality_totals(levels);
  for (const auto& host : hosts) {
    HostSet& set = sets[host->priority];
    set.hosts.push_back(host);
    if (host->healthy()) set.healthy_hosts.push_back(host);
    if (host->degraded()) set.degraded_hosts.push_back(host);
    if (!locality_weighted) continue;
    auto it = std::find_if(set.localities.begin(), set.localities.end(),
                           [&](const HostSet::Locality& l) { return l.name == host->locality; });
    if (it == set.localities.end()) {
      set.localities.push_back({host->locality, host->locality_weight});
      locality_totals[host->priority].push_back(0);
      it = set.localities.end() - 1;
    }
    ++locality_totals[host->priority][static_cast<size_t>(it - set.localities.begin())];
    if (host->healthy()) it->healthy_hosts.push_back(host);
    if (host->degraded()) it->degraded_hosts.push_back(host);
  }
  for (uint32_t p = 0; p < levels; ++p) {
    for (size_t i = 0; i < sets[p].localities.size(); ++i) {
      auto& locality = sets[p].localities[i];
      const auto effective = [&](size_t usable) {
        const double ratio = static_cast<double>(usable) / locality_totals[p][i];
        return locality.weight * std::min(1.0, overprovisioning_factor / 100.0 * ratio);
      };
      locality.effective_weight = effective(locality.healthy_hosts.size());
      locality.degraded_effective_weight = effective(locality.degraded_hosts.size());
    }
  }
  return sets;
}
}  // namespace

HostVector Cluster::adminHosts() const {
  if (!original_dst_hosts_) return hosts_;
  HostVector out = hosts_;
  const HostVector picked = original_dst_hosts_->hosts();
  out.insert(out.end(), picked.begin(), picked.end());
  return out;
}

Cluster::Cluster(const envoy::config::cluster::v3::Cluster& proto, stats::Store& store)
    : proto_(proto),
      name_(proto.name()),
      http2_stats_(
          std::make_shared<http::http2::Http2Stats>(store, "cluster." + proto.name() + ".http2.")),
      stats_(std::make_shared<ClusterStats>(store, proto.name())),
      resource_managers_(
          std::make_shared<ClusterResourceManagers>(proto.circuit_breakers(), store, proto.name())),
      store_(&store),
      config_version_(next_config_version.fetch_add(1, std::memory_order_relaxed)) {
  using ProtoCluster = envoy::config::cluster::v3::Cluster;
  switch (proto.type()) {
    case ProtoCluster::STRICT_DNS:
      type_ = ClusterType::StrictDns;
      break;
    case ProtoCluster::LOGICAL_DNS:
      type_ = ClusterType::LogicalDns;
      break;
    case ProtoCluster::EDS:
      type_ = ClusterType::Eds;
      break;
    case ProtoCluster::ORIGINAL_DST:
      type_ = ClusterType::OriginalDst;
      original_dst_hosts_ = std::make_shared<OriginalDstHostMap>();
      break;
    default:
      type_ = ClusterType::Static;
      break;
  }
  if (proto.common_lb_config().has_healthy_panic_threshold()) {
    panic_threshold_ = proto.common_lb_config().healthy_panic_threshold().value();
  }
  locality_weighted_ = proto.common_lb_config().has_locality_weighted_lb_config();
  overprovisioning_factor_ = upstream::overprovisioningFactor(proto.load_assignment());
  auto lb_config = LbConfig::create(proto, "cluster " + name_);
  RELEASE_ASSERT(lb_config.ok(), "cluster load balancing config was validated at load");
  lb_config_ = std::move(lb_config.value());
  // Envoy's default connect_timeout is 5s.
  connect_timeout_ =
      proto.has_connect_timeout()
          ? std::chrono::milliseconds(
                google::protobuf::util::TimeUtil::DurationToMilliseconds(proto.connect_timeout()))
          : std::chrono::milliseconds(5000);
  auto options = proto.typed_extension_protocol_options().find(
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions");
  if (options != proto.typed_extension_protocol_options().end()) {
    envoy::extensions::upstreams::http::v3::HttpProtocolOptions http_options;
    if (options->second.UnpackTo(&http_options)) {
      const auto& common = http_options.common_http_protocol_options();
      if (common.has_max_requests_per_connection()) {
        max_requests_per_connection_ = common.max_requests_per_connection().value();
      }
      if (common.has_idle_timeout()) {
        auto ms = google::protobuf::util::TimeUtil::DurationToMilliseconds(common.idle_timeout());
        idle_timeout_ = ms > 0 ? std::optional(std::chrono::milliseconds(ms)) : std::nullopt;
      }
      if (common.has_max_headers_count()) max_headers_count_ = common.max_headers_count().value();
      if (common.has_max_connection_duration()) {
        auto ms = google::protobuf::util::TimeUtil::DurationToMilliseconds(
            common.max_connection_duration());
        if (ms > 0) max_connection_duration_ = std::chrono::milliseconds(ms);
      }
      const envoy::config::core::v3::Http1ProtocolOptions* h1 = nullptr;
      const envoy::config::core::v3::Http2ProtocolOptions* h2 = nullptr;
      if (http_options.has_use_downstream_protocol_config()) {
        upstream_protocol_ = UpstreamProtocol::UseDownstream;
        h1 = &http_options.use_downstream_protocol_config().http_protocol_options();
        h2 = &http_options.use_downstream_protocol_config().http2_protocol_options();
      } else if (http_options.explicit_http_config().has_http2_protocol_options()) {
        upstream_protocol_ = UpstreamProtocol::Http2;
        h2 = &http_options.explicit_http_config().http2_protocol_options();
      } else {
        h1 = &http_options.explicit_http_config().http_protocol_options();
      }
      if (h1 != nullptr) enable_trailers_ = h1->enable_trailers();
      if (h2 != nullptr) http::http2::applyProtocolOptions(*h2, http2_options_);
    }
  }
  buffer_limit_ = proto.has_per_connection_buffer_limit_bytes()
                      ? proto.per_connection_buffer_limit_bytes().value()
                      : 1024 * 1024;
  if (proto.has_upstream_bind_config()) {
    const auto& source = proto.upstream_bind_config().source_address();
    auto address =
        net::Address::parse(source.address(), static_cast<uint16_t>(source.port_value()));
    RELEASE_ASSERT(address.ok(), "upstream_bind_config.source_address was validated at load");
    bind_address_ = *address;
  }
  http2_options_.max_headers_count = max_headers_count_;
  http2_options_.buffer_limit = buffer_limit_;
  // DNS clusters' endpoints are names: their hosts come from the resolver; EDS from its
  // subscription. Until then they have none.
  HostVector hosts;
  if (type_ == ClusterType::Static) {
    auto static_hosts = hostsFromLoadAssignment(proto.load_assignment());
    RELEASE_ASSERT(static_hosts.ok(), "cluster endpoint address was validated at load");
    hosts = std::move(static_hosts.value());
  }
  setHosts(std::move(hosts));
}

std::shared_ptr<const Cluster> Cluster::withHosts(HostVector hosts) const {
  std::shared_ptr<Cluster> next(new Cluster(*this));
  next->setHosts(std::move(hosts));
  return next;
}

std::shared_ptr<const Cluster> Cluster::withHosts(HostVector hosts,
                                                  uint32_t overprovisioning_factor) const {
  std::shared_ptr<Cluster> next(new Cluster(*this));
  next->overprovisioning_factor_ = overprovisioning_factor;
  next->setHosts(std::move(hosts));
  return next;
}

void Cluster::setHosts(HostVector hosts) {
  hosts_ = std::move(hosts);
  uint32_t max_weight = 0;
  uint32_t levels = 1;
  int64_t healthy = 0;
  int64_t degraded = 0;
  for (const auto& host : hosts_) {
    max_weight = std::max(max_weight, host->weight);
    levels = std::max(levels, host->priority + 1);
    if (host->healthy()) ++healthy;
    if (host->degraded()) ++degraded;
  }
  host_sets_ = buildHostSets(hosts_, levels, overprovisioning_factor_, locality_weighted_);
  std::vector<PriorityCounts> counts;
  for (const auto& set : host_sets_) {
    counts.push_back({static_cast<uint32_t>(set.hosts.size()),
                      static_cast<uint32_t>(set.healthy_hosts.size()),
                      static_cast<uint32_t>(set.degraded_hosts.size())});
  }
  const PriorityLoad load = computePriorityLoad(counts, overprovisioning_factor_, panic_threshold_);
  priority_load_ = load.load;
  degraded_priority_load_ = load.degraded_load;
  for (size_t i = 0; i < host_sets_.size(); ++i) {
    host_sets_[i].panic = load.panic[i];
    host_sets_[i].lb_hosts = load.panic[i] ? host_sets_[i].hosts : host_sets_[i].healthy_hosts;
  }
  stats_->membership_total.set(static_cast<int64_t>(hosts_.size()));
  stats_->membership_healthy.set(healthy);
  stats_->membership_degraded.set(degraded);
  stats_->max_host_weight.set(max_weight);
  lb_factory_ = createLoadBalancerFactory(*this, *store_);
}

}  // namespace remora::upstream
