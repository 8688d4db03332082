#pragma once

#include <re2/re2.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "envoy/config/route/v3/route_components.pb.h"
#include "http/header_map.h"
#include "router/route_match.h"

namespace remora::router {

// envoy.config.route.v3.RetryPolicy as plain data for the router's retry state.
struct RetryPolicy {
  std::vector<std::string> retry_on;  // "5xx", "connect-failure", ... as configured, in order
  uint32_t num_retries = 1;
  std::optional<std::chrono::milliseconds> per_try_timeout;
  std::chrono::milliseconds base_interval{25};
  std::chrono::milliseconds max_interval{250};  // default 10 × base_interval
  std::vector<uint32_t> retriable_status_codes;
  std::vector<std::string>
      retry_host_predicates;  // only envoy.retry_host_predicates.previous_hosts
  int64_t host_selection_retry_max_attempts = 1;

  static StatusOr<RetryPolicy> create(const envoy::config::route::v3::RetryPolicy& proto,
                                      const std::string& path);
};

// envoy.config.route.v3.RouteAction.RequestMirrorPolicy: shadow a fraction of requests.
struct MirrorPolicy {
  std::string cluster;             // the mirror cluster, or empty with cluster_header
  std::string cluster_header;      // lower-cased; its first value names the cluster
  FractionalPercent fraction;      // 100% unless runtime_fraction is set
  bool append_host_suffix = true;  // ":authority" gets "-shadow" unless disabled
  bool enabled(uint64_t random) const { return fraction.enabled(random); }
  // The cluster to mirror `request` to; empty when cluster_header names no value.
  std::string clusterFor(const http::HeaderMap& request) const;
};

// envoy.config.route.v3.RegexMatchAndSubstitute: RE2 GlobalReplace over the path (no query) or a
// whole value.
class RegexRewrite {
 public:
  static StatusOr<RegexRewrite> create(
      const envoy::type::matcher::v3::RegexMatchAndSubstitute& proto, const std::string& path);
  // Rewrites the path part of `full_path`, keeping its query.
  std::string apply(std::string_view full_path) const;
  // Replaces every match in the whole of `value` (a header value for a hash policy).
  std::string replaceAll(std::string_view value) const;

 private:
  std::shared_ptr<const re2::RE2> pattern_;
  std::string substitution_;
};

// envoy.config.route.v3.RedirectAction: builds the Location of a redirect reply.
class RedirectAction {
 public:
  static StatusOr<RedirectAction> create(const envoy::config::route::v3::RedirectAction& proto,
                                         const std::string& path);
  // The Location for `request`; `matcher` is the route's, for prefix_rewrite.
  std::string location(const http::HeaderMap& request, const RouteMatcher& matcher) const;
  uint32_t responseCode() const { return response_code_; }

 private:
  std::string scheme_;  // empty: keep the request's
  std::string host_;    // empty: keep the request's
  std::string port_;    // empty: keep; otherwise ":<port>"
  enum class PathKind { Keep, Path, Prefix, Regex } path_kind_ = PathKind::Keep;
  std::string path_;  // path_redirect or prefix_rewrite
  std::optional<RegexRewrite> regex_;
  uint32_t response_code_ = 301;
  bool strip_query_ = false;
};

// envoy.config.route.v3.DirectResponseAction: a local reply.
struct DirectResponse {
  uint32_t status = 200;
  std::string body;
};
StatusOr<DirectResponse> createDirectResponse(
    const envoy::config::route::v3::DirectResponseAction& proto, const std::string& path);

// envoy.config.route.v3.WeightedCluster: a deterministic pick given the caller's random value.
class WeightedClusters {
 public:
  struct Cluster {
    std::string name;
    uint32_t weight;
  };
  static StatusOr<WeightedClusters> create(const envoy::config::route::v3::WeightedCluster& proto,
                                           const std::string& path);
  // Envoy's walk: random % total, then the first cluster whose cumulative weight exceeds it.
  const std::string& pick(uint64_t random) const;
  const std::vector<Cluster>& clusters() const { return clusters_; }
  uint64_t totalWeight() const { return total_; }

 private:
  std::vector<Cluster> clusters_;
  uint64_t total_ = 0;
};

}  // namespace remora::router
