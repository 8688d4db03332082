#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "envoy/extensions/filters/http/health_check/v3/health_check.pb.h"
#include "router/matchers.h"

namespace remora::filters::http::health_check {

// The last upstream answer to a health check in pass-through mode, served locally for cache_time
// after it arrived. One per filter config, shared by every worker: plain atomics, no lock.
class HealthCheckCache {
 public:
  struct Answer {
    uint32_t code;
    bool degraded;  // the upstream answered with x-envoy-degraded
  };
  explicit HealthCheckCache(std::chrono::milliseconds ttl) : ttl_(ttl) {}

  // The cached answer if one arrived within cache_time of `now`.
  std::optional<Answer> get(std::chrono::steady_clock::time_point now) const;
  void put(Answer answer, std::chrono::steady_clock::time_point now);

 private:
  const std::chrono::milliseconds ttl_;
  // code << 1 | degraded, then the expiry: a reader that sees the new expiry sees the new answer.
  std::atomic<uint32_t> answer_{0};
  std::atomic<int64_t> expires_ns_{INT64_MIN};
};

// envoy.extensions.filters.http.health_check.v3.HealthCheck, built once on the main thread.
struct HealthCheckConfig {
  using Proto = envoy::extensions::filters::http::health_check::v3::HealthCheck;
  static StatusOr<std::shared_ptr<const HealthCheckConfig>> create(const Proto& proto);

  // All `headers` matchers hold (an empty list makes every request a health check).
  bool isHealthCheck(const remora::http::HeaderMap& request) const;

  bool pass_through_mode = false;
  std::vector<router::HeaderMatcher> headers;
  // Pass-through mode with a non-zero cache_time only.
  std::shared_ptr<HealthCheckCache> cache;
  // Non-pass-through mode only (Envoy ignores them when passing through): cluster name → the
  // whole percentage of its hosts that must be healthy for a 200.
  std::vector<std::pair<std::string, uint64_t>> cluster_min_healthy_percentages;
};

}  // namespace remora::filters::http::health_check
