#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "stats/store.h"
#include "upstream/host.h"

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
  stats::Gauge& membership_total;
  stats::Gauge& membership_healthy;
  stats::Counter& membership_change;
  stats::Gauge& max_host_weight;
};

enum class ClusterType { Static, OriginalDst };
enum class LbPolicy { RoundRobin, ClusterProvided };

// A cluster as workers see it: immutable once built; membership changes build a new one.
class Cluster {
 public:
  // Builds from a validated proto (config/ has already checked types and references).
  Cluster(const envoy::config::cluster::v3::Cluster& proto, stats::Store& store);

  const std::string& name() const { return name_; }
  ClusterType type() const { return type_; }
  LbPolicy lbPolicy() const { return lb_policy_; }
  std::chrono::milliseconds connectTimeout() const { return connect_timeout_; }
  uint32_t perConnectionBufferLimit() const { return buffer_limit_; }
  // Every configured host, all priorities (what /clusters shows).
  const HostVector& hosts() const { return hosts_; }
  // The hosts that take traffic: the lowest priority level that has any. Without health
  // checking every host is healthy, so Envoy's priority load puts 100% there.
  const HostVector& lbHosts() const { return lb_hosts_; }
  ClusterStats& stats() const { return stats_; }
  const envoy::config::cluster::v3::Cluster& proto() const { return proto_; }

 private:
  const envoy::config::cluster::v3::Cluster proto_;
  const std::string name_;
  ClusterType type_;
  LbPolicy lb_policy_;
  std::chrono::milliseconds connect_timeout_;
  uint32_t buffer_limit_;
  HostVector hosts_;
  HostVector lb_hosts_;
  mutable ClusterStats stats_;
};
using ClusterConstSharedPtr = std::shared_ptr<const Cluster>;

}  // namespace remora::upstream
