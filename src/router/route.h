#pragma once

#include <google/protobuf/any.pb.h>

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"
#include "envoy/config/route/v3/route_components.pb.h"
#include "http/header_map.h"
#include "router/hash_policy.h"
#include "router/header_mutations.h"
#include "router/route_action.h"
#include "router/route_match.h"
#include "stats/store.h"
#include "stream_info/stream_info.h"

namespace remora::router {

class Route;
class VirtualHost;

// One HTTP filter's typed_per_filter_config, parsed and checked when the route table is built.
// Each filter derives its own and reads it back with Route::perFilterConfigAs<T>().
class RouteSpecificFilterConfig {
 public:
  virtual ~RouteSpecificFilterConfig() = default;
};
using RouteSpecificFilterConfigConstSharedPtr = std::shared_ptr<const RouteSpecificFilterConfig>;

// typed_per_filter_config: the filter's extension name → its parsed config.
using FilterConfigMap = std::map<std::string, RouteSpecificFilterConfigConstSharedPtr, std::less<>>;

// The forwarding part of a route (envoy.config.route.v3.RouteAction): which cluster, how to
// rewrite, how long to wait, how to retry.
class RouteEntry {
 public:
  // The cluster for this request: the fixed `cluster`, the weighted pick for `random` (the same
  // random value always picks the same cluster), or the value of `cluster_header`; empty when
  // that header is missing (the router answers "no cluster").
  std::string clusterName(const http::HeaderMap& request, uint64_t random) const;
  const WeightedClusters* weightedClusters() const { return weighted_ ? &*weighted_ : nullptr; }
  // Upstream timeout for the whole request; zero means disabled (Envoy's "timeout: 0s").
  std::chrono::milliseconds timeout() const { return timeout_; }
  std::optional<std::chrono::milliseconds> idleTimeout() const { return idle_timeout_; }
  // max_grpc_timeout: when set, a gRPC request's timeout comes from its grpc-timeout header
  // capped at this (zero: no cap), instead of timeout(). grpc_timeout_offset is taken off the
  // header's value first, when smaller than it.
  std::optional<std::chrono::milliseconds> maxGrpcTimeout() const { return max_grpc_timeout_; }
  std::optional<std::chrono::milliseconds> grpcTimeoutOffset() const {
    return grpc_timeout_offset_;
  }
  // RouteAction.priority HIGH: the cluster's HIGH circuit breaker thresholds apply (and its own
  // connection pools); otherwise DEFAULT.
  bool highPriority() const { return high_priority_; }
  // nullptr when the route has no retry_policy (no retries).
  const RetryPolicy* retryPolicy() const { return retry_ ? &*retry_ : nullptr; }
  const std::vector<MirrorPolicy>& mirrorPolicies() const { return mirrors_; }
  // hash_policy, for RING_HASH and MAGLEV clusters; nullptr when the route has none.
  const HashPolicy* hashPolicy() const { return hash_policy_ ? &*hash_policy_ : nullptr; }
  // RouteAction.upgrade_configs for `upgrade_type` (case-insensitive): absent when the route
  // does not name it (the connection manager's setting applies), else enabled or not.
  std::optional<bool> upgradeEnabled(std::string_view upgrade_type) const;
  // upgrade_configs CONNECT with connect_config: the router answers a CONNECT itself and carries
  // its payload as raw TCP to the cluster (instead of proxying the CONNECT request).
  bool connectTerminate() const { return connect_terminate_; }
  // auto_host_rewrite: the router sets :authority to the chosen host's hostname.
  bool autoHostRewrite() const { return auto_host_rewrite_; }
  const std::string& hostRewriteLiteral() const { return host_rewrite_literal_; }

  // Header mutations (in the configured specificity order), then host_rewrite_literal, then the
  // path rewrite (prefix_rewrite or regex_rewrite), as Envoy's finalizeRequestHeaders. With
  // `insert_envoy_original_path`, a rewritten request carries its old :path in
  // x-envoy-original-path.
  void finalizeRequestHeaders(http::HeaderMap& headers, const stream_info::StreamInfo& info,
                              bool insert_envoy_original_path) const;
  void finalizeResponseHeaders(http::HeaderMap& headers, const stream_info::StreamInfo& info) const;
  const Route& route() const { return *route_; }

 private:
  friend class Route;
  const Route* route_ = nullptr;
  std::string cluster_;
  std::string cluster_header_;
  std::optional<WeightedClusters> weighted_;
  std::string prefix_rewrite_;
  bool has_prefix_rewrite_ = false;
  std::optional<RegexRewrite> regex_rewrite_;
  std::string host_rewrite_literal_;
  bool auto_host_rewrite_ = false;
  std::chrono::milliseconds timeout_{15000};
  std::optional<std::chrono::milliseconds> idle_timeout_;
  std::optional<std::chrono::milliseconds> max_grpc_timeout_;
  std::optional<std::chrono::milliseconds> grpc_timeout_offset_;
  std::optional<RetryPolicy> retry_;
  std::vector<MirrorPolicy> mirrors_;
  std::optional<HashPolicy> hash_policy_;
  std::vector<std::pair<std::string, bool>> upgrades_;  // lower-cased type, enabled
  bool connect_terminate_ = false;
  bool high_priority_ = false;
};

// One envoy.config.route.v3.Route: a matcher and one action (forward, redirect or direct
// response), its header mutations and per-filter configs.
class Route {
 public:
  // Builds a route of `vhost`; `path` is e.g. "virtual_hosts[0].routes[2]". `known_clusters`
  // (nullable) enables Envoy's validate_clusters check.
  static StatusOr<std::unique_ptr<Route>> create(
      const envoy::config::route::v3::Route& proto, const VirtualHost& vhost,
      const std::string& path, const std::set<std::string, std::less<>>* known_clusters,
      stats::Store* stats);

  bool matches(const http::HeaderMap& headers, const SplitPath& split, uint64_t random) const {
    return matcher_.match(headers, split, random);
  }
  const std::string& name() const { return name_; }
  const VirtualHost& virtualHost() const { return *vhost_; }
  const std::string& virtualHostName() const;
  // Exactly one of these three is non-null.
  const RouteEntry* routeEntry() const { return entry_ ? &*entry_ : nullptr; }
  const RedirectAction* redirect() const { return redirect_ ? &*redirect_ : nullptr; }
  const DirectResponse* directResponse() const { return direct_ ? &*direct_ : nullptr; }
  // The Location header of a redirect route (empty for other routes).
  std::string redirectLocation(const http::HeaderMap& request) const;
  // The most specific typed_per_filter_config for `filter_name`: route, then virtual host, then
  // route configuration; nullptr when none sets one.
  const RouteSpecificFilterConfig* perFilterConfig(std::string_view filter_name) const;
  template <class T>
  const T* perFilterConfigAs(std::string_view filter_name) const {
    return dynamic_cast<const T*>(perFilterConfig(filter_name));
  }
  // Every level's typed_per_filter_config for `filter_name`, most specific first (route, virtual
  // host, route configuration), for filters that merge levels field by field (cors); the
  // levels that set none are skipped, and the unused tail is nullptr.
  using PerFilterConfigLevels = std::array<const RouteSpecificFilterConfig*, 3>;
  PerFilterConfigLevels perFilterConfigLevels(std::string_view filter_name) const;
  const RouteMatcher& matcher() const { return matcher_; }
  const HeaderMutations& requestMutations() const { return request_mutations_; }
  const HeaderMutations& responseMutations() const { return response_mutations_; }

  // Header mutations of route, virtual host and route configuration, in Envoy's order.
  void applyRequestHeaderMutations(http::HeaderMap& headers,
                                   const stream_info::StreamInfo& info) const;
  // Also used for redirects and direct responses, as Envoy applies response_headers_to_add there.
  void finalizeResponseHeaders(http::HeaderMap& headers, const stream_info::StreamInfo& info) const;

 private:
  Route() = default;
  Status buildAction(const envoy::config::route::v3::RouteAction& proto, const std::string& path,
                     const std::set<std::string, std::less<>>* known_clusters);

  const VirtualHost* vhost_ = nullptr;
  std::string name_;
  RouteMatcher matcher_;
  std::optional<RouteEntry> entry_;
  std::optional<RedirectAction> redirect_;
  std::optional<DirectResponse> direct_;
  HeaderMutations request_mutations_;
  HeaderMutations response_mutations_;
  FilterConfigMap per_filter_config_;
};

// Parses a typed_per_filter_config proto map through the HTTP filter registry; `path` names the
// field in errors. `stats` (nullable) is where per-route configs create their stats.
StatusOr<FilterConfigMap> toFilterConfigMap(
    const google::protobuf::Map<std::string, google::protobuf::Any>& proto, const std::string& path,
    stats::Store* stats);

}  // namespace remora::router
