#include "filters/network/http_connection_manager/config.h"

#include <google/protobuf/util/time_util.h>

#include <cctype>

#include "access_log/access_log_config.h"
#include "config/extension_registry.h"
#include "http/http1/chars.h"
#include "http/http2/protocol_options.h"
#include "router/rds.h"
#include "router/route_config.h"

namespace remora::filters::network::http_connection_manager {

namespace {

using google::protobuf::util::TimeUtil;

std::chrono::milliseconds toMs(const google::protobuf::Duration& d) {
  return std::chrono::milliseconds(TimeUtil::DurationToMilliseconds(d));
}

// Envoy's convention for optional timeouts: absent → the default, an explicit 0 → disabled.
void applyTimeout(bool has, const google::protobuf::Duration& d,
                  std::optional<std::chrono::milliseconds>& out) {
  if (!has) return;
  auto ms = toMs(d);
  if (ms.count() == 0) {
    out.reset();
  } else {
    out = ms;
  }
}

}  // namespace

HcmStats::HcmStats(stats::Store& s, const std::string& p)
    : downstream_cx_total(s.counter(p + "downstream_cx_total")),
      downstream_cx_active(s.gauge(p + "downstream_cx_active")),
      downstream_cx_http1_total(s.counter(p + "downstream_cx_http1_total")),
      downstream_cx_http1_active(s.gauge(p + "downstream_cx_http1_active")),
      downstream_cx_http2_total(s.counter(p + "downstream_cx_http2_total")),
      downstream_cx_http2_active(s.gauge(p + "downstream_cx_http2_active")),
      downstream_cx_destroy(s.counter(p + "downstream_cx_destroy")),
      downstream_cx_destroy_remote(s.counter(p + "downstream_cx_destroy_remote")),
      downstream_cx_destroy_local(s.counter(p + "downstream_cx_destroy_local")),
      downstream_cx_destroy_active_rq(s.counter(p + "downstream_cx_destroy_active_rq")),
      downstream_cx_destroy_remote_active_rq(
          s.counter(p + "downstream_cx_destroy_remote_active_rq")),
      downstream_cx_destroy_local_active_rq(s.counter(p + "downstream_cx_destroy_local_active_rq")),
      downstream_cx_protocol_error(s.counter(p + "downstream_cx_protocol_error")),
      downstream_cx_rx_bytes_total(s.counter(p + "downstream_cx_rx_bytes_total")),
      downstream_cx_tx_bytes_total(s.counter(p + "downstream_cx_tx_bytes_total")),
      downstream_cx_idle_timeout(s.counter(p + "downstream_cx_idle_timeout")),
      downstream_cx_max_duration_reached(s.counter(p + "downstream_cx_max_duration_reached")),
      downstream_cx_max_requests_reached(s.counter(p + "downstream_cx_max_requests_reached")),
      downstream_cx_drain_close(s.counter(p + "downstream_cx_drain_close")),
      downstream_cx_upgrades_total(s.counter(p + "downstream_cx_upgrades_total")),
      downstream_cx_upgrades_active(s.gauge(p + "downstream_cx_upgrades_active")),
      downstream_rq_total(s.counter(p + "downstream_rq_total")),
      downstream_rq_http1_total(s.counter(p + "downstream_rq_http1_total")),
      downstream_rq_http2_total(s.counter(p + "downstream_rq_http2_total")),
      downstream_rq_active(s.gauge(p + "downstream_rq_active")),
      downstream_rq_completed(s.counter(p + "downstream_rq_completed")),
      downstream_rq_xx{&s.counter(p + "downstream_rq_1xx"), &s.counter(p + "downstream_rq_2xx"),
                       &s.counter(p + "downstream_rq_3xx"), &s.counter(p + "downstream_rq_4xx"),
                       &s.counter(p + "downstream_rq_5xx")},
      downstream_rq_rx_reset(s.counter(p + "downstream_rq_rx_reset")),
      downstream_rq_tx_reset(s.counter(p + "downstream_rq_tx_reset")),
      downstream_rq_too_large(s.counter(p + "downstream_rq_too_large")),
      downstream_rq_idle_timeout(s.counter(p + "downstream_rq_idle_timeout")),
      downstream_rq_timeout(s.counter(p + "downstream_rq_timeout")),
      downstream_rq_header_timeout(s.counter(p + "downstream_rq_header_timeout")),
      downstream_rq_non_relative_path(s.counter(p + "downstream_rq_non_relative_path")),
      downstream_rq_ws_on_non_ws_route(s.counter(p + "downstream_rq_ws_on_non_ws_route")),
      downstream_flow_control_paused_reading_total(
          s.counter(p + "downstream_flow_control_paused_reading_total")),
      downstream_flow_control_resumed_reading_total(
          s.counter(p + "downstream_flow_control_resumed_reading_total")),
      downstream_cx_length_ms(s.histogram(p + "downstream_cx_length_ms")),
      downstream_rq_time(s.histogram(p + "downstream_rq_time")) {}

HcmConfig::HcmConfig(const Proto& proto, stats::Store& store)
    : proto_(proto),
      stat_prefix_("http." + proto.stat_prefix() + "."),
      stats_(store, stat_prefix_),
      http2_stats_(std::make_unique<remora::http::http2::Http2Stats>(store, "http2.")) {}

std::optional<bool> HcmConfig::upgradeEnabled(std::string_view upgrade_type) const {
  for (const auto& [name, enabled] : upgrades_) {
    if (remora::http::http1::equalsIgnoreCase(name, upgrade_type)) return enabled;
  }
  return std::nullopt;
}

StatusOr<std::shared_ptr<const HcmConfig>> HcmConfig::create(
    const Proto& proto, stats::Store& store,
    const std::set<std::string, std::less<>>& cluster_names,
    router::RouteConfigProviderManager* route_providers, init::Manager* init_manager) {
  std::shared_ptr<HcmConfig> config(new HcmConfig(proto, store));
  if (!proto.server_name().empty()) config->server_name_ = proto.server_name();
  if (proto.has_generate_request_id())
    config->generate_request_id_ = proto.generate_request_id().value();
  if (proto.has_max_request_headers_kb()) {
    config->max_request_headers_kb_ = proto.max_request_headers_kb().value();
  }
  if (proto.codec_type() == Proto::HTTP1) {
    config->codec_type_ = CodecType::Http1;
  } else if (proto.codec_type() == Proto::HTTP2) {
    config->codec_type_ = CodecType::Http2;
  }
  const auto& common = proto.common_http_protocol_options();
  if (common.has_max_headers_count())
    config->max_headers_count_ = common.max_headers_count().value();
  if (common.has_max_requests_per_connection()) {
    config->max_requests_per_connection_ = common.max_requests_per_connection().value();
  }
  auto& h2 = config->http2_options_;
  remora::http::http2::applyProtocolOptions(proto.http2_protocol_options(), h2);
  h2.max_header_list_kb = config->max_request_headers_kb_;
  h2.max_headers_count = config->max_headers_count_;
  applyTimeout(common.has_idle_timeout(), common.idle_timeout(), config->idle_timeout_);
  applyTimeout(common.has_max_connection_duration(), common.max_connection_duration(),
               config->max_connection_duration_);
  applyTimeout(proto.has_stream_idle_timeout(), proto.stream_idle_timeout(),
               config->stream_idle_timeout_);
  applyTimeout(proto.has_request_timeout(), proto.request_timeout(), config->request_timeout_);
  if (proto.has_drain_timeout()) {
    config->drain_timeout_ = toMs(proto.drain_timeout());
  }
  applyTimeout(proto.has_request_headers_timeout(), proto.request_headers_timeout(),
               config->request_headers_timeout_);
  for (int i = 0; i < proto.upgrade_configs_size(); ++i) {
    const auto& upgrade = proto.upgrade_configs(i);
    // Any upgrade token, and "CONNECT" for the CONNECT method (Envoy matches case-insensitively
    // and uses the first config naming a type). filters (a separate filter chain for upgrades)
    // is not supported: rejected at load by the supported-fields table.
    if (!config->upgradeEnabled(upgrade.upgrade_type())) {
      config->upgrades_.emplace_back(upgrade.upgrade_type(),
                                     !upgrade.has_enabled() || upgrade.enabled().value());
    }
  }

  if (proto.has_rds()) {
    if (route_providers == nullptr) return Status::error("rds: not supported by remora here");
    auto provider = route_providers->rdsProvider(proto.rds(), proto.stat_prefix(), init_manager);
    if (!provider.ok()) return provider.status();
    config->route_provider_ = std::move(provider).value();
  } else {
    auto route_config = router::RouteConfig::create(proto.route_config(), &cluster_names, &store);
    if (!route_config.ok()) return route_config.status().withPrefix("route_config");
    config->route_provider_ =
        std::make_shared<router::StaticRouteConfigProvider>(std::move(route_config).value());
  }

  filters::http::FactoryContext context{store, config->stat_prefix_, cluster_names};
  auto& registry = config::ExtensionRegistry::get();
  for (int i = 0; i < proto.http_filters_size(); ++i) {
    const auto& filter = proto.http_filters(i);
    const std::string path = "http_filters[" + std::to_string(i) + "]";
    std::string type(filter.typed_config().type_url());
    if (auto slash = type.rfind('/'); slash != std::string::npos) type = type.substr(slash + 1);
    const config::Extension* extension =
        registry.byType(config::ExtensionCategory::HttpFilter, type);
    if (extension == nullptr) {
      return Status::error(path + ": not supported by remora: http filter " + type);
    }
    const auto* descriptor =
        google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(type);
    std::unique_ptr<google::protobuf::Message> message(
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor)->New());
    if (!filter.typed_config().UnpackTo(message.get())) {
      return Status::error(path + ".typed_config: cannot unpack " + type);
    }
    const auto& factory =
        *std::static_pointer_cast<const filters::http::NamedHttpFilterConfigFactory>(
            extension->factory);
    bool last = i == proto.http_filters_size() - 1;
    if (factory.isTerminalFilter() != last) {
      return Status::error(path + ": " +
                           (last ? "the last http filter must be terminal (the router)"
                                 : "a terminal filter must be the last http filter"));
    }
    auto cb = factory.createFilterFactory(*message, context);
    if (!cb.ok()) return cb.status().withPrefix(path + ".typed_config");
    config->filter_factories_.push_back(std::move(*cb));
  }
  if (proto.http_filters_size() == 0) {
    return Status::error("http_filters: at least the router filter is required");
  }

  for (int i = 0; i < proto.access_log_size(); ++i) {
    auto log = access_log::createAccessLog(proto.access_log(i));
    if (!log.ok()) return log.status().withPrefix("access_log[" + std::to_string(i) + "]");
    config->access_logs_.push_back(*log);
  }
  return std::shared_ptr<const HcmConfig>(std::move(config));
}

}  // namespace remora::filters::network::http_connection_manager
