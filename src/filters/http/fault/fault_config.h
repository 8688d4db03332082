#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "envoy/extensions/filters/http/fault/v3/fault.pb.h"
#include "http/header_map.h"
#include "router/matchers.h"
#include "router/route.h"
#include "router/route_match.h"
#include "stats/store.h"

namespace remora::filters::http::fault {

// The request headers a caller may use to steer faults, honoured only when the config asks for
// them (header_abort, header_delay, header_limit).
namespace fault_headers {
inline constexpr std::string_view kAbortRequest = "x-envoy-fault-abort-request";
inline constexpr std::string_view kAbortRequestPercentage =
    "x-envoy-fault-abort-request-percentage";
inline constexpr std::string_view kAbortGrpcRequest = "x-envoy-fault-abort-grpc-request";
inline constexpr std::string_view kDelayRequest = "x-envoy-fault-delay-request";
inline constexpr std::string_view kDelayRequestPercentage =
    "x-envoy-fault-delay-request-percentage";
inline constexpr std::string_view kThroughputResponse = "x-envoy-fault-throughput-response";
inline constexpr std::string_view kThroughputResponsePercentage =
    "x-envoy-fault-throughput-response-percentage";
inline constexpr std::string_view kDownstreamServiceNode = "x-envoy-downstream-service-node";
inline constexpr std::string_view kDownstreamServiceCluster = "x-envoy-downstream-service-cluster";
}  // namespace fault_headers

// The fraction of requests a fault applies to; with `header_percentage` named, a request header
// may lower the numerator (never raise it), as Envoy's HeaderPercentageProvider.
struct FaultPercentage {
  router::FractionalPercent configured;
  std::string_view header_percentage;  // empty: fixed

  router::FractionalPercent forRequest(const remora::http::HeaderMap& headers) const;
};

// FaultAbort: a fixed HTTP or gRPC status, or one read from the request (header_abort).
struct AbortFault {
  std::optional<uint32_t> http_status;
  std::optional<uint32_t> grpc_status;
  bool from_headers = false;
  FaultPercentage percentage;

  // What to answer with for this request: the HTTP status (200 for a gRPC abort) and the gRPC
  // status, or nothing (header_abort without a valid header).
  struct Status {
    uint32_t http_status;
    std::optional<uint32_t> grpc_status;
  };
  std::optional<Status> statusFor(const remora::http::HeaderMap& headers) const;
};

// FaultDelay: a fixed delay, or one read from the request (header_delay).
struct DelayFault {
  std::optional<std::chrono::milliseconds> fixed;
  FaultPercentage percentage;

  // nullopt when there is nothing to wait for (no or bad header, zero).
  std::optional<std::chrono::milliseconds> durationFor(
      const remora::http::HeaderMap& headers) const;
};

// FaultRateLimit: the response body throttled to a fixed rate or one read from the request.
struct ResponseRateLimitFault {
  std::optional<uint64_t> fixed_kbps;
  FaultPercentage percentage;

  // KiB/s for this request; nullopt when the header is absent, malformed or zero.
  std::optional<uint64_t> kbpsFor(const remora::http::HeaderMap& headers) const;
};

// One HTTPFault, translated: the filter's config, and also what a route's typed_per_filter_config
// replaces it with.
class FaultSettings final : public router::RouteSpecificFilterConfig {
 public:
  using Proto = envoy::extensions::filters::http::fault::v3::HTTPFault;
  static StatusOr<std::shared_ptr<const FaultSettings>> create(const Proto& proto);

  const std::optional<AbortFault>& abort() const { return abort_; }
  const std::optional<DelayFault>& delay() const { return delay_; }
  const std::optional<ResponseRateLimitFault>& responseRateLimit() const { return rate_limit_; }
  const std::string& upstreamCluster() const { return upstream_cluster_; }
  // Whether the request's x-envoy-downstream-service-node (if nodes are configured) and the
  // header matchers select it.
  bool matchesDownstreamNode(const remora::http::HeaderMap& headers) const;
  bool matchesHeaders(const remora::http::HeaderMap& headers) const;
  std::optional<uint64_t> maxActiveFaults() const { return max_active_faults_; }
  bool downstreamClusterStats() const { return downstream_cluster_stats_; }

 private:
  FaultSettings() = default;
  std::optional<AbortFault> abort_;
  std::optional<DelayFault> delay_;
  std::optional<ResponseRateLimitFault> rate_limit_;
  std::string upstream_cluster_;
  std::set<std::string, std::less<>> downstream_nodes_;
  std::vector<router::HeaderMatcher> headers_;
  std::optional<uint64_t> max_active_faults_;
  bool downstream_cluster_stats_ = true;
};
using FaultSettingsConstSharedPtr = std::shared_ptr<const FaultSettings>;

// Envoy's fault stats, in http.<stat_prefix>.fault.
struct FaultStats {
  FaultStats(stats::Store& store, const std::string& prefix);
  stats::Counter& delays_injected;
  stats::Counter& aborts_injected;
  stats::Counter& response_rl_injected;
  stats::Counter& faults_overflow;
  stats::Gauge& active_faults;
};

// The filter's config: its own settings and the stats every stream of the connection manager
// shares, whichever settings (its own or a route's) the stream uses.
class FaultFilterConfig {
 public:
  FaultFilterConfig(FaultSettingsConstSharedPtr settings, stats::Store& store,
                    const std::string& stats_prefix);

  const FaultSettingsConstSharedPtr& settings() const { return settings_; }
  FaultStats& stats() const { return stats_; }
  // http.<stat_prefix>.fault.<downstream_cluster>.<name>. Created on first use, so this takes
  // the store's lock: only faulted requests that name their downstream cluster come here.
  void incDownstreamClusterCounter(std::string_view downstream_cluster,
                                   std::string_view name) const;

 private:
  const FaultSettingsConstSharedPtr settings_;
  stats::Store& store_;
  const std::string prefix_;  // http.<stat_prefix>.fault.
  mutable FaultStats stats_;
};
using FaultFilterConfigSharedPtr = std::shared_ptr<const FaultFilterConfig>;

}  // namespace remora::filters::http::fault
