#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "filters/http/factory.h"
#include "http/http2/options.h"
#include "router/route_config_provider.h"
#include "stats/store.h"

namespace remora::init {
class Manager;
}

namespace remora::router {
class RouteConfig;
class RouteConfigProvider;
class RouteConfigProviderManager;
}  // namespace remora::router
namespace remora::access_log {
class Instance;
}

namespace remora::filters::network::http_connection_manager {

// Envoy's http.<stat_prefix>.* connection-manager stats.
struct HcmStats {
  HcmStats(stats::Store& store, const std::string& prefix);
  stats::Counter& downstream_cx_total;
  stats::Gauge& downstream_cx_active;
  stats::Counter& downstream_cx_http1_total;
  stats::Gauge& downstream_cx_http1_active;
  stats::Counter& downstream_cx_http2_total;
  stats::Gauge& downstream_cx_http2_active;
  stats::Counter& downstream_cx_destroy;
  stats::Counter& downstream_cx_destroy_remote;
  stats::Counter& downstream_cx_destroy_local;
  stats::Counter& downstream_cx_destroy_active_rq;
  stats::Counter& downstream_cx_destroy_remote_active_rq;
  stats::Counter& downstream_cx_destroy_local_active_rq;
  stats::Counter& downstream_cx_protocol_error;
  stats::Counter& downstream_cx_rx_bytes_total;
  stats::Counter& downstream_cx_tx_bytes_total;
  stats::Counter& downstream_cx_idle_timeout;
  stats::Counter& downstream_cx_max_duration_reached;
  stats::Counter& downstream_cx_max_requests_reached;
  stats::Counter& downstream_cx_drain_close;
  stats::Counter& downstream_cx_upgrades_total;
  stats::Gauge& downstream_cx_upgrades_active;
  stats::Counter& downstream_rq_total;
  stats::Counter& downstream_rq_http1_total;
  stats::Counter& downstream_rq_http2_total;
  stats::Gauge& downstream_rq_active;
  stats::Counter& downstream_rq_completed;
  stats::Counter* downstream_rq_xx[5];  // 1xx .. 5xx
  stats::Counter& downstream_rq_rx_reset;
  stats::Counter& downstream_rq_tx_reset;
  stats::Counter& downstream_rq_too_large;
  stats::Counter& downstream_rq_idle_timeout;
  stats::Counter& downstream_rq_timeout;
  stats::Counter& downstream_rq_header_timeout;
  stats::Counter& downstream_rq_non_relative_path;
  stats::Counter& downstream_rq_ws_on_non_ws_route;
  // A filter (the router) paused / resumed reading the request.
  stats::Counter& downstream_flow_control_paused_reading_total;
  stats::Counter& downstream_flow_control_resumed_reading_total;
  stats::Histogram& downstream_cx_length_ms;
  stats::Histogram& downstream_rq_time;  // request start to response end, ms
};

// The connection manager's config, built once on the main thread.
class HcmConfig {
 public:
  using Proto =
      envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;

  // `route_providers` (nullable: rds is then refused) serves `rds`; `init_manager` (nullable)
  // is the listener's, which warms until the routes arrive.
  static StatusOr<std::shared_ptr<const HcmConfig>> create(
      const Proto& proto, stats::Store& store,
      const std::set<std::string, std::less<>>& cluster_names,
      router::RouteConfigProviderManager* route_providers = nullptr,
      init::Manager* init_manager = nullptr);

  HcmStats& stats() const { return stats_; }
  const std::string& statPrefix() const { return stat_prefix_; }
  const std::string& serverName() const { return server_name_; }
  // The routes a new stream uses (RDS swaps them at run time; a stream keeps its snapshot).
  std::shared_ptr<const router::RouteConfig> routeConfig() const {
    return route_provider_->config();
  }
  const std::vector<filters::http::FilterFactoryCb>& filterFactories() const {
    return filter_factories_;
  }
  const std::vector<std::shared_ptr<const access_log::Instance>>& accessLogs() const {
    return access_logs_;
  }

  bool useRemoteAddress() const { return proto_.use_remote_address().value(); }
  uint32_t xffNumTrustedHops() const { return proto_.xff_num_trusted_hops(); }
  bool generateRequestId() const { return generate_request_id_; }
  bool normalizePath() const { return proto_.normalize_path().value(); }
  bool mergeSlashes() const { return proto_.merge_slashes(); }
  bool acceptHttp10() const { return proto_.http_protocol_options().accept_http_10(); }
  const std::string& defaultHostForHttp10() const {
    return proto_.http_protocol_options().default_host_for_http_10();
  }
  bool enableTrailers() const { return proto_.http_protocol_options().enable_trailers(); }
  // codec_type: AUTO picks HTTP/2 when the connection starts with its preface.
  enum class CodecType { Auto, Http1, Http2 };
  CodecType codecType() const { return codec_type_; }
  // http2_protocol_options with max_request_headers_kb and max_headers_count folded in.
  const remora::http::http2::Http2Options& http2Options() const { return http2_options_; }
  // Envoy's downstream http2.* codec stats.
  remora::http::http2::Http2Stats& http2Stats() const { return *http2_stats_; }
  uint32_t maxRequestHeadersKb() const { return max_request_headers_kb_; }
  uint32_t maxHeadersCount() const { return max_headers_count_; }
  // Requests served on one downstream connection before it is closed; 0 means unlimited.
  uint32_t maxRequestsPerConnection() const { return max_requests_per_connection_; }
  // Absent means disabled.
  std::optional<std::chrono::milliseconds> idleTimeout() const { return idle_timeout_; }
  std::optional<std::chrono::milliseconds> maxConnectionDuration() const {
    return max_connection_duration_;
  }
  std::optional<std::chrono::milliseconds> streamIdleTimeout() const {
    return stream_idle_timeout_;
  }
  std::optional<std::chrono::milliseconds> requestTimeout() const { return request_timeout_; }
  std::optional<std::chrono::milliseconds> requestHeadersTimeout() const {
    return request_headers_timeout_;
  }
  // upgrade_configs for `upgrade_type` (the Upgrade header, or "CONNECT" for the CONNECT method;
  // case-insensitive): absent when none names it, else whether it is enabled.
  std::optional<bool> upgradeEnabled(std::string_view upgrade_type) const;
  // drain_timeout: between the first (shutdown notice) and the final GOAWAY of an HTTP/2 drain,
  // and how long a draining HTTP/1 connection may stay idle. Envoy's default is 5 s.
  std::chrono::milliseconds drainTimeout() const { return drain_timeout_; }

 private:
  HcmConfig(const Proto& proto, stats::Store& store);

  const Proto proto_;
  const std::string stat_prefix_;
  mutable HcmStats stats_;
  std::string server_name_ = "envoy";
  bool generate_request_id_ = true;
  uint32_t max_request_headers_kb_ = 60;
  uint32_t max_headers_count_ = 100;
  uint32_t max_requests_per_connection_ = 0;
  CodecType codec_type_ = CodecType::Auto;
  remora::http::http2::Http2Options http2_options_;
  std::unique_ptr<remora::http::http2::Http2Stats> http2_stats_;
  std::vector<std::pair<std::string, bool>> upgrades_;  // type as configured, enabled
  std::chrono::milliseconds drain_timeout_{5000};
  std::optional<std::chrono::milliseconds> idle_timeout_ = std::chrono::hours(1);
  std::optional<std::chrono::milliseconds> max_connection_duration_;
  std::optional<std::chrono::milliseconds> stream_idle_timeout_ = std::chrono::minutes(5);
  std::optional<std::chrono::milliseconds> request_timeout_;
  std::optional<std::chrono::milliseconds> request_headers_timeout_;
  std::shared_ptr<router::RouteConfigProvider> route_provider_;
  std::vector<filters::http::FilterFactoryCb> filter_factories_;
  std::vector<std::shared_ptr<const access_log::Instance>> access_logs_;
};

}  // namespace remora::filters::network::http_connection_manager
