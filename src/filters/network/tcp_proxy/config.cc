#include "filters/network/tcp_proxy/config.h"

#include <google/protobuf/util/time_util.h>

#include "access_log/access_log_config.h"
#include "config/extension_registry.h"
#include "filters/network/factory.h"
#include "filters/network/tcp_proxy/tcp_proxy.h"

namespace remora::filters::network::tcp_proxy {

using ProtoTcpProxy = envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy;

TcpProxyStats::TcpProxyStats(stats::Store& s, const std::string& prefix)
    : downstream_cx_total(s.counter(prefix + "downstream_cx_total")),
      downstream_cx_no_route(s.counter(prefix + "downstream_cx_no_route")),
      downstream_cx_rx_bytes_total(s.counter(prefix + "downstream_cx_rx_bytes_total")),
      downstream_cx_tx_bytes_total(s.counter(prefix + "downstream_cx_tx_bytes_total")),
      downstream_flow_control_paused_reading_total(
          s.counter(prefix + "downstream_flow_control_paused_reading_total")),
      downstream_flow_control_resumed_reading_total(
          s.counter(prefix + "downstream_flow_control_resumed_reading_total")),
      idle_timeout(s.counter(prefix + "idle_timeout")) {}

TcpProxyConfig::TcpProxyConfig(const ProtoTcpProxy& proto, stats::Store& store,
                               std::vector<access_log::InstanceSharedPtr> access_logs)
    : stats_(store, "tcp." + proto.stat_prefix() + "."), access_logs_(std::move(access_logs)) {
  if (proto.has_weighted_clusters()) {
    for (const auto& c : proto.weighted_clusters().clusters()) {
      clusters_.push_back({c.name(), c.weight()});
      total_weight_ += c.weight();
    }
  } else {
    clusters_.push_back({proto.cluster(), 1});
    total_weight_ = 1;
  }
  // Envoy: idle_timeout defaults to 1 hour; an explicit 0s disables it.
  if (!proto.has_idle_timeout()) {
    idle_timeout_ = std::chrono::hours(1);
  } else {
    auto ms = google::protobuf::util::TimeUtil::DurationToMilliseconds(proto.idle_timeout());
    if (ms > 0) idle_timeout_ = std::chrono::milliseconds(ms);
  }
  max_connect_attempts_ =
      proto.has_max_connect_attempts() ? proto.max_connect_attempts().value() : 1;
}

const std::string& TcpProxyConfig::pickCluster(uint64_t random) const {
  if (clusters_.size() == 1 || total_weight_ == 0) return clusters_.front().name;
  uint64_t point = random % total_weight_;
  for (const auto& c : clusters_) {
    if (point < c.weight) return c.name;
    point -= c.weight;
  }
  return clusters_.back().name;
}

namespace {

class TcpProxyFactory final : public NamedNetworkFilterConfigFactory {
 public:
  StatusOr<FilterFactoryCb> createFilterFactory(const google::protobuf::Message& message,
                                                FactoryContext& context) const override {
    const auto& proto = static_cast<const ProtoTcpProxy&>(message);
    auto check = [&](const std::string& name, const std::string& path) -> Status {
      if (context.cluster_names.count(name) == 0) {
        return Status::error(path + ": unknown cluster '" + name + "'");
      }
      return {};
    };
    if (proto.has_weighted_clusters()) {
      for (int i = 0; i < proto.weighted_clusters().clusters_size(); ++i) {
        RETURN_IF_ERROR(check(proto.weighted_clusters().clusters(i).name(),
                              "weighted_clusters.clusters[" + std::to_string(i) + "].name"));
      }
    } else {
      RETURN_IF_ERROR(check(proto.cluster(), "cluster"));
    }
    std::vector<access_log::InstanceSharedPtr> logs;
    for (int i = 0; i < proto.access_log_size(); ++i) {
      auto log = access_log::createAccessLog(proto.access_log(i));
      if (!log.ok()) return log.status().withPrefix("access_log[" + std::to_string(i) + "]");
      logs.push_back(std::move(*log));
    }
    auto config = std::make_shared<const TcpProxyConfig>(proto, context.stats, std::move(logs));
    return FilterFactoryCb([config](net::Connection& connection, server::WorkerContext& worker) {
      connection.addReadFilter(std::make_shared<TcpProxyFilter>(config, worker));
    });
  }
};

const config::RegisterExtension kRegistration{
    config::ExtensionCategory::NetworkFilter, "envoy.filters.network.tcp_proxy",
    ProtoTcpProxy::descriptor()->full_name(),
    std::shared_ptr<const NamedNetworkFilterConfigFactory>(std::make_shared<TcpProxyFactory>())};

}  // namespace
}  // namespace remora::filters::network::tcp_proxy
