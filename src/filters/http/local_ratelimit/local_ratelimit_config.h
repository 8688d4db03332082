#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.pb.h"
#include "filters/http/local_ratelimit/token_bucket.h"
#include "router/header_mutations.h"
#include "router/route.h"
#include "router/route_match.h"
#include "stats/store.h"

namespace remora::filters::http::local_ratelimit {

// Envoy's stats, in <stat_prefix>.http_local_rate_limit. (not under the connection manager's).
struct LocalRateLimitStats {
  LocalRateLimitStats(stats::Store& store, const std::string& prefix);
  stats::Counter& enabled;
  stats::Counter& enforced;
  stats::Counter& rate_limited;
  stats::Counter& ok;
};

// One LocalRateLimit, translated: the filter's config, and also a route's typed_per_filter_config
// (which brings its own bucket). Shared read-only by every worker; only the bucket changes, and
// it is lock-free.
class LocalRateLimitConfig final : public router::RouteSpecificFilterConfig {
 public:
  using Proto = envoy::extensions::filters::http::local_ratelimit::v3::LocalRateLimit;
  // `per_route`: a route's config, which must have a token bucket (as Envoy requires).
  static StatusOr<std::shared_ptr<const LocalRateLimitConfig>> create(const Proto& proto,
                                                                      stats::Store& store,
                                                                      bool per_route,
                                                                      event::MonotonicTime now);

  // filter_enabled / filter_enforced: their default_value (no runtime layer); absent is 0%.
  bool enabled(uint64_t random) const { return enabled_ && enabled_->enabled(random); }
  bool enforced(uint64_t random) const { return enforced_ && enforced_->enabled(random); }
  uint32_t status() const { return status_; }
  // The bucket every worker shares (unused when per-connection).
  TokenBucket& bucket() const { return bucket_; }
  // A new bucket of this config's shape, for one connection.
  std::unique_ptr<TokenBucket> newBucket(event::MonotonicTime now) const;
  bool perConnection() const { return per_connection_; }
  // Where a connection keeps this config's bucket.
  uint64_t connectionStateKey() const { return state_key_; }
  bool xRateLimitHeaders() const { return x_ratelimit_headers_; }
  std::optional<uint32_t> grpcStatus() const { return grpc_status_; }
  const router::HeaderMutations& responseHeadersToAdd() const { return response_headers_; }
  const router::HeaderMutations& requestHeadersWhenNotEnforced() const { return request_headers_; }
  LocalRateLimitStats& stats() const { return stats_; }

 private:
  LocalRateLimitConfig(stats::Store& store, const std::string& stat_prefix, uint32_t max_tokens,
                       uint32_t tokens_per_fill, std::chrono::milliseconds fill_interval,
                       event::MonotonicTime now);

  std::optional<router::FractionalPercent> enabled_;
  std::optional<router::FractionalPercent> enforced_;
  uint32_t status_ = 429;
  const uint32_t max_tokens_;
  const uint32_t tokens_per_fill_;
  const std::chrono::milliseconds fill_interval_;
  mutable TokenBucket bucket_;
  bool per_connection_ = false;
  const uint64_t state_key_;
  bool x_ratelimit_headers_ = false;
  std::optional<uint32_t> grpc_status_;
  router::HeaderMutations response_headers_;
  router::HeaderMutations request_headers_;
  mutable LocalRateLimitStats stats_;
};
using LocalRateLimitConfigConstSharedPtr = std::shared_ptr<const LocalRateLimitConfig>;

}  // namespace remora::filters::http::local_ratelimit
