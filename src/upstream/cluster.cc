#include "upstream/cluster.h"

#include <google/protobuf/util/time_util.h>

#include "common/assert.h"

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
      upstream_cx_connect_timeout(counter(s, "cluster." + name + ".", "upstream_cx_connect_timeout")),
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
      membership_total(gauge(s, "cluster." + name + ".", "membership_total")),
      membership_healthy(gauge(s, "cluster." + name + ".", "membership_healthy")),
      membership_change(counter(s, "cluster." + name + ".", "membership_change")),
      max_host_weight(gauge(s, "cluster." + name + ".", "max_host_weight")) {}

Cluster::Cluster(const envoy::config::cluster::v3::Cluster& proto, stats::Store& store)
    : proto_(proto), name_(proto.name()), stats_(store, proto.name()) {
  using ProtoCluster = envoy::config::cluster::v3::Cluster;
  type_ = proto.type() == ProtoCluster::ORIGINAL_DST ? ClusterType::OriginalDst : ClusterType::Static;
  lb_policy_ = proto.lb_policy() == ProtoCluster::CLUSTER_PROVIDED ? LbPolicy::ClusterProvided
                                                                    : LbPolicy::RoundRobin;
  // Envoy's default connect_timeout is 5s.
  connect_timeout_ = proto.has_connect_timeout()
                         ? std::chrono::milliseconds(
                               google::protobuf::util::TimeUtil::DurationToMilliseconds(proto.connect_timeout()))
                         : std::chrono::milliseconds(5000);
  buffer_limit_ = proto.has_per_connection_buffer_limit_bytes()
                      ? proto.per_connection_buffer_limit_bytes().value()
                      : 1024 * 1024;
  uint32_t max_weight = 0;
  uint32_t lb_priority = UINT32_MAX;
  for (const auto& locality : proto.load_assignment().endpoints()) {
    if (locality.lb_endpoints_size() > 0) lb_priority = std::min(lb_priority, locality.priority());
  }
  for (const auto& locality : proto.load_assignment().endpoints()) {
    for (const auto& lb_endpoint : locality.lb_endpoints()) {
      const auto& sa = lb_endpoint.endpoint().address().socket_address();
      auto address = net::Address::parse(sa.address(), static_cast<uint16_t>(sa.port_value()));
      RELEASE_ASSERT(address.ok(), "cluster endpoint address was validated at load");
      uint32_t weight = lb_endpoint.has_load_balancing_weight()
                            ? lb_endpoint.load_balancing_weight().value()
                            : 1;
      max_weight = std::max(max_weight, weight);
      hosts_.push_back(std::make_shared<Host>(*address, weight, lb_endpoint.endpoint().hostname()));
      if (locality.priority() == lb_priority) lb_hosts_.push_back(hosts_.back());
    }
  }
  stats_.membership_total.set(static_cast<int64_t>(hosts_.size()));
  // No health checking yet: every configured host counts as healthy.
  stats_.membership_healthy.set(static_cast<int64_t>(hosts_.size()));
  stats_.max_host_weight.set(max_weight);
}

}  // namespace remora::upstream
