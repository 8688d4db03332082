#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "envoy/config/route/v3/route.pb.h"
#include "http/header_map.h"
#include "router/header_mutations.h"
#include "router/route.h"

namespace remora::router {

class RouteConfig;

// envoy.config.route.v3.VirtualHost: its routes in order (first match wins) plus the mutations
// and per-filter configs its routes inherit.
class VirtualHost {
 public:
  static StatusOr<std::unique_ptr<VirtualHost>> create(
      const envoy::config::route::v3::VirtualHost& proto, const RouteConfig& config,
      const std::string& path, const std::set<std::string, std::less<>>* known_clusters,
      stats::Store* stats);

  const std::string& name() const { return name_; }
  const RouteConfig& routeConfig() const { return *config_; }
  const Route* route(const http::HeaderMap& request, const SplitPath& split, uint64_t random) const;
  const HeaderMutations& requestMutations() const { return request_mutations_; }
  const HeaderMutations& responseMutations() const { return response_mutations_; }
  const FilterConfigMap& perFilterConfig() const { return per_filter_config_; }

 private:
  VirtualHost() = default;
  const RouteConfig* config_ = nullptr;
  std::string name_;
  std::vector<std::unique_ptr<Route>> routes_;
  HeaderMutations request_mutations_;
  HeaderMutations response_mutations_;
  FilterConfigMap per_filter_config_;
};

// The runtime form of envoy.config.route.v3.RouteConfiguration. Built once on the main thread,
// then shared read-only by every worker (no locks: nothing in it changes after create()).
class RouteConfig {
 public:
  // Validates and builds. Errors name the field path. `known_clusters` (nullable) turns on
  // Envoy's validate_clusters check unless the config sets validate_clusters: false. `stats`
  // (nullable) is where per-route filter configs (local_ratelimit) create their stats; without
  // it such configs are rejected.
  static StatusOr<std::shared_ptr<const RouteConfig>> create(
      const envoy::config::route::v3::RouteConfiguration& proto,
      const std::set<std::string, std::less<>>* known_clusters, stats::Store* stats = nullptr);

  // The route for `request` (nullptr when no virtual host or no route matches). `random` feeds
  // runtime_fraction matches; pass the same value to clusterName() for a consistent request.
  const Route* route(const http::HeaderMap& request, uint64_t random) const;
  // The virtual host for an :authority value, by Envoy's precedence: exact, then the longest
  // suffix wildcard ("*.foo.com", "*-bar.foo.com"), then the longest prefix wildcard
  // ("foo.*"), then "*". Case-insensitive; the port is part of the host unless
  // ignore_port_in_host_matching (Envoy does not retry without the port).
  const VirtualHost* findVirtualHost(std::string_view authority) const;

  const std::string& name() const { return name_; }
  bool mostSpecificHeaderMutationsWins() const { return most_specific_wins_; }
  const HeaderMutations& requestMutations() const { return request_mutations_; }
  const HeaderMutations& responseMutations() const { return response_mutations_; }
  const FilterConfigMap& perFilterConfig() const { return per_filter_config_; }

 private:
  RouteConfig() = default;
  Status addDomains(const envoy::config::route::v3::VirtualHost& proto, const VirtualHost* vhost,
                    const std::string& path);

  std::string name_;
  std::vector<std::unique_ptr<VirtualHost>> vhosts_;
  std::unordered_map<std::string, const VirtualHost*> exact_;
  // Wildcards keyed by the length of their fixed part, longest first, then by that part.
  std::map<size_t, std::unordered_map<std::string, const VirtualHost*>, std::greater<>> suffix_;
  std::map<size_t, std::unordered_map<std::string, const VirtualHost*>, std::greater<>> prefix_;
  const VirtualHost* default_ = nullptr;
  bool ignore_port_ = false;
  bool most_specific_wins_ = false;
  HeaderMutations request_mutations_;
  HeaderMutations response_mutations_;
  FilterConfigMap per_filter_config_;
};

}  // namespace remora::router
