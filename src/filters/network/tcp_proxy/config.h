#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

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
                 stats::Store& store);

  // Picks the cluster for a new connection (weighted clusters by weight), given a random draw.
  const std::string& pickCluster(uint64_t random) const;
  std::optional<std::chrono::milliseconds> idleTimeout() const { return idle_timeout_; }
  uint32_t maxConnectAttempts() const { return max_connect_attempts_; }
  TcpProxyStats& stats() const { return stats_; }

 private:
  std::vector<WeightedCluster> clusters_;
  uint64_t total_weight_ = 0;
  std::optional<std::chrono::milliseconds> idle_timeout_;
  uint32_t max_connect_attempts_;
  mutable TcpProxyStats stats_;
};

}  // namespace remora::filters::network::tcp_proxy
