#pragma once

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "envoy/config/listener/v3/listener.pb.h"
#include "filters/listener/factory.h"
#include "filters/network/factory.h"
#include "net/transport_socket_factory.h"
#include "server/drain_decision.h"
#include "server/filter_chain_matcher.h"
#include "stats/store.h"

namespace remora::init {
class Manager;
}
namespace remora::router {
class RouteConfigProviderManager;
}

namespace remora::server {

// Envoy's listener.<address>.* stats.
struct ListenerStats {
  ListenerStats(stats::Store& store, const std::string& prefix);
  stats::Counter& downstream_cx_total;
  stats::Gauge& downstream_cx_active;
  stats::Counter& downstream_cx_destroy;
  stats::Counter& no_filter_chain_match;
  stats::Counter& downstream_listener_filter_error;
  stats::Counter& downstream_listener_filter_remote_close;
  stats::Counter& downstream_pre_cx_timeout;
  stats::Gauge& downstream_pre_cx_active;
  stats::Histogram& downstream_cx_length_ms;
};

struct FilterChainConfig {
  std::string name;
  net::TransportSocketFactoryConstSharedPtr transport_socket_factory;
  std::vector<filters::network::FilterFactoryCb> filter_factories;
};

// A listener as workers run it: built once from its proto on the main thread, then immutable.
class ListenerConfig {
 public:
  // Builds every filter factory; errors carry the field path within the listener.
  // `route_providers` (nullable) serves connection managers' rds; what the listener must wait
  // for before it serves (RDS) registers with `init_manager` (nullable).
  static StatusOr<std::shared_ptr<const ListenerConfig>> create(
      const envoy::config::listener::v3::Listener& proto, stats::Store& store,
      const std::set<std::string, std::less<>>& cluster_names,
      router::RouteConfigProviderManager* route_providers = nullptr,
      init::Manager* init_manager = nullptr);

  const std::string& name() const { return proto_.name(); }
  const net::Address& address() const { return address_; }
  bool bindToPort() const { return bind_to_port_; }
  bool useOriginalDst() const { return use_original_dst_; }
  bool inbound() const;
  uint32_t bufferLimit() const { return buffer_limit_; }
  std::chrono::milliseconds listenerFiltersTimeout() const { return listener_filters_timeout_; }
  bool continueOnListenerFiltersTimeout() const {
    return proto_.continue_on_listener_filters_timeout();
  }
  const std::vector<filters::listener::ListenerFilterFactoryCb>& listenerFilters() const {
    return listener_filters_;
  }
  // The chain for a connection: the best filter_chain_match, else default_filter_chain, else null.
  const FilterChainConfig* findFilterChain(const net::ConnectionInfo& info) const;
  ListenerStats& stats() const { return stats_; }
  // The listener's drain state; the server starts draining it, its connections read it.
  DrainDecision& drainDecision() const { return *drain_decision_; }
  const envoy::config::listener::v3::Listener& proto() const { return proto_; }

 private:
  ListenerConfig(const envoy::config::listener::v3::Listener& proto, stats::Store& store,
                 net::Address address);

  const envoy::config::listener::v3::Listener proto_;
  const net::Address address_;
  bool bind_to_port_ = true;
  bool use_original_dst_ = false;
  uint32_t buffer_limit_ = 1024 * 1024;
  std::chrono::milliseconds listener_filters_timeout_{15000};
  std::vector<filters::listener::ListenerFilterFactoryCb> listener_filters_;
  std::vector<FilterChainMatchSpec> chain_matches_;
  std::vector<FilterChainConfig> chains_;
  std::unique_ptr<FilterChainConfig> default_chain_;
  mutable ListenerStats stats_;
  std::shared_ptr<DrainDecision> drain_decision_;
};
using ListenerConfigConstSharedPtr = std::shared_ptr<const ListenerConfig>;

// Envoy's stat-name form of an address: "0.0.0.0_15001" (':' replaced by '_').
std::string statNameOf(const net::Address& address);

}  // namespace remora::server
