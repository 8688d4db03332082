#include "admin/status_render.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

#include <map>

namespace remora::admin {

namespace {

using envoy::admin::v3::HostHealthStatus;

// Envoy's circuit breaker defaults, shown when a cluster leaves a priority unset.
struct Thresholds {
  uint32_t max_connections = 1024;
  uint32_t max_pending_requests = 1024;
  uint32_t max_requests = 1024;
  uint32_t max_retries = 3;
};

Thresholds thresholdsFor(const envoy::admin::v3::ClusterStatus& cluster,
                         envoy::config::core::v3::RoutingPriority priority) {
  Thresholds t;
  for (const auto& th : cluster.circuit_breakers().thresholds()) {
    if (th.priority() != priority) continue;
    if (th.has_max_connections()) t.max_connections = th.max_connections().value();
    if (th.has_max_pending_requests()) t.max_pending_requests = th.max_pending_requests().value();
    if (th.has_max_requests()) t.max_requests = th.max_requests().value();
    if (th.has_max_retries()) t.max_retries = th.max_retries().value();
  }
  return t;
}

// Envoy's HostUtility::healthFlagsToString: "healthy", or each set flag as "/<flag>".
std::string healthFlags(const HostHealthStatus& h) {
  std::string out;
  if (h.failed_active_health_check()) out += "/failed_active_hc";
  if (h.failed_outlier_check()) out += "/failed_outlier_check";
  if (h.eds_health_status() == envoy::config::core::v3::UNHEALTHY) out += "/failed_eds_health";
  if (h.failed_active_degraded_check()) out += "/degraded_active_hc";
  if (h.eds_health_status() == envoy::config::core::v3::DEGRADED) out += "/degraded_eds_health";
  if (h.pending_dynamic_removal()) out += "/pending_dynamic_removal";
  if (h.pending_active_hc()) out += "/pending_active_hc";
  if (h.excluded_via_immediate_hc_fail()) out += "/excluded_via_immediate_hc_fail";
  if (h.active_hc_timeout()) out += "/active_hc_timeout";
  return out.empty() ? "healthy" : out;
}

}  // namespace

StatusOr<std::string> toAdminJson(const google::protobuf::Message& message,
                                  bool always_print_primitive_fields) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = always_print_primitive_fields;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) return Status::error(std::string(status.message()));
  return out;
}

std::string addressToString(const envoy::config::core::v3::Address& address) {
  if (address.has_pipe()) return address.pipe().path();
  if (address.has_envoy_internal_address()) {
    return "envoy://" + address.envoy_internal_address().server_listener_name() + "/" +
           address.envoy_internal_address().endpoint_id();
  }
  const auto& sa = address.socket_address();
  if (sa.address().find(':') != std::string::npos) {
    return fmt::format("[{}]:{}", sa.address(), sa.port_value());
  }
  return fmt::format("{}:{}", sa.address(), sa.port_value());
}

std::string renderClustersText(
    const envoy::admin::v3::Clusters& clusters,
    const std::map<std::string, server::Instance::OutlierFigures>& outlier) {
  std::string out;
  for (const auto& cluster : clusters.cluster_statuses()) {
    const std::string& name = cluster.name();
    if (auto figures = outlier.find(name); figures != outlier.end()) {
      const auto& f = figures->second;
      out += fmt::format("{}::outlier::success_rate_average::{:g}\n", name, f.success_rate_average);
      out += fmt::format("{}::outlier::success_rate_ejection_threshold::{:g}\n", name,
                         f.success_rate_ejection_threshold);
      out += fmt::format("{}::outlier::local_origin_success_rate_average::{:g}\n", name,
                         f.local_origin_success_rate_average);
      out += fmt::format("{}::outlier::local_origin_success_rate_ejection_threshold::{:g}\n", name,
                         f.local_origin_success_rate_ejection_threshold);
    }
    const std::pair<const char*, envoy::config::core::v3::RoutingPriority> priorities[] = {
        {"default", envoy::config::core::v3::DEFAULT}, {"high", envoy::config::core::v3::HIGH}};
    for (const auto& [label, priority] : priorities) {
      const Thresholds t = thresholdsFor(cluster, priority);
      out += fmt::format("{}::{}_priority::max_connections::{}\n", name, label, t.max_connections);
      out += fmt::format("{}::{}_priority::max_pending_requests::{}\n", name, label,
                         t.max_pending_requests);
      out += fmt::format("{}::{}_priority::max_requests::{}\n", name, label, t.max_requests);
      out += fmt::format("{}::{}_priority::max_retries::{}\n", name, label, t.max_retries);
    }
    out += fmt::format("{}::added_via_api::{}\n", name, cluster.added_via_api());
    for (const auto& host : cluster.host_statuses()) {
      const std::string addr = addressToString(host.address());
      std::map<std::string_view, uint64_t> stats;
      for (const auto& m : host.stats()) stats[m.name()] = m.value();
      for (const auto& [stat, value] : stats) {
        out += fmt::format("{}::{}::{}::{}\n", name, addr, stat, value);
      }
      out += fmt::format("{}::{}::hostname::{}\n", name, addr, host.hostname());
      out +=
          fmt::format("{}::{}::health_flags::{}\n", name, addr, healthFlags(host.health_status()));
      out += fmt::format("{}::{}::weight::{}\n", name, addr, host.weight());
      out += fmt::format("{}::{}::region::{}\n", name, addr, host.locality().region());
      out += fmt::format("{}::{}::zone::{}\n", name, addr, host.locality().zone());
      out += fmt::format("{}::{}::sub_zone::{}\n", name, addr, host.locality().sub_zone());
      out += fmt::format("{}::{}::canary::false\n", name, addr);
      out += fmt::format("{}::{}::priority::{}\n", name, addr, host.priority());
      // Envoy prints the detector's raw value, -1 when no success rate was computed.
      const double sr = host.has_success_rate() ? host.success_rate().value() : -1.0;
      const double lsr =
          host.has_local_origin_success_rate() ? host.local_origin_success_rate().value() : -1.0;
      out += fmt::format("{}::{}::success_rate::{}\n", name, addr, sr);
      out += fmt::format("{}::{}::local_origin_success_rate::{}\n", name, addr, lsr);
    }
  }
  return out;
}

std::string renderListenersText(const envoy::admin::v3::Listeners& listeners) {
  std::string out;
  for (const auto& l : listeners.listener_statuses()) {
    out += fmt::format("{}::{}\n", l.name(), addressToString(l.local_address()));
  }
  return out;
}

}  // namespace remora::admin
