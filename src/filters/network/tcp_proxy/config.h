#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "access_log/access_log.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"
#include "stats/store.h"

namespace remora::filters::network::tcp_proxy {

// Envoy's tcp.<stat_prefix>.* stats.
struct TcpProxyStats {
  TcpProxyStats(stats::Store& store, const std::string& prefix);
  stats::Counter& downstream_cx_total;
  stats::Counter& downstream_cx_no_route;
  stats::Counter& downstream_cx_rx_bytes_total;
  stats::Counter& downstream_cx_tx_bytes_total;
  stats::Counter& downstream_flow_control_paused_reading_total;
  stats::Counter& downstream_flow_control_resumed_reading_total;
  stats::Counter& idle_timeout;
};

// The filter's immutable config, built once on the main thread.
class TcpProxyConfig {
 public:
  struct WeightedCluster {
    std::string name;
    uint64_t weight;
  };

  TcpProxyConfig(const envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy& proto,
                 stats::Store& store, std::vector<access_log::InstanceSharedPtr> access_logs = {});

  // Picks the cluster for a new connection (weighted clusters by weight), given a random draw.
  const std::string& pickCluster(uint64_t random) const;
  std::optional<std::chrono::milliseconds> idleTimeout() const { return idle_timeout_; }
  uint32_t maxConnectAttempts() const { return max_connect_attempts_; }
  TcpProxyStats& stats() const { return stats_; }
  // access_log: one line per proxied connection, written when the downstream connection closes.
  const std::vector<access_log::InstanceSharedPtr>& accessLogs() const { return access_logs_; }

 private:
  std::vector<WeightedCluster> clusters_;
  uint64_t total_weight_ = 0;
  std::optional<std::chrono::milliseconds> idle_timeout_;
  uint32_t max_connect_attempts_;
  mutable TcpProxyStats stats_;
  std::vector<access_log::InstanceSharedPtr> access_logs_;
};

}  // namespace remora::filters::network::tcp_proxy
