#include "filters/http/health_check/health_check_config.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>

namespace remora::filters::http::health_check {

std::optional<HealthCheckCache::Answer> HealthCheckCache::get(
    std::chrono::steady_clock::time_point now) const {
  if (now.time_since_epoch().count() >= expires_ns_.load(std::memory_order_acquire))
    return std::nullopt;
  uint32_t packed = answer_.load(std::memory_order_relaxed);
  return Answer{packed >> 1, (packed & 1) != 0};
}

void HealthCheckCache::put(Answer answer, std::chrono::steady_clock::time_point now) {
  answer_.store(answer.code << 1 | (answer.degraded ? 1 : 0), std::memory_order_relaxed);
  auto expires = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      now.time_since_epoch() + ttl_);
  expires_ns_.store(expires.count(), std::memory_order_release);
}

StatusOr<std::shared_ptr<const HealthCheckConfig>> HealthCheckConfig::create(const Proto& proto) {
  auto config = std::make_shared<HealthCheckConfig>();
  config->pass_through_mode = proto.pass_through_mode().value();  // required (PGV)
  for (int i = 0; i < proto.headers_size(); ++i) {
    auto matcher =
        router::HeaderMatcher::create(proto.headers(i), "headers[" + std::to_string(i) + "]");
    if (!matcher.ok()) return matcher.status();
    config->headers.push_back(std::move(*matcher));
  }
  const int64_t cache_ms =
      google::protobuf::util::TimeUtil::DurationToMilliseconds(proto.cache_time());
  if (cache_ms > 0) {
    if (!config->pass_through_mode) {
      return Status::error("cache_time: must not be set when pass_through_mode is disabled");
    }
    config->cache = std::make_shared<HealthCheckCache>(std::chrono::milliseconds(cache_ms));
  }
  if (!config->pass_through_mode) {
    for (const auto& [cluster, percent] : proto.cluster_min_healthy_percentages()) {
      // Envoy compares whole percentages: 99.9 acts as 99.
      config->cluster_min_healthy_percentages.emplace_back(cluster,
                                                           static_cast<uint64_t>(percent.value()));
    }
    // In name order, as Envoy's std::map: the first cluster short of its minimum names the failure.
    std::sort(config->cluster_min_healthy_percentages.begin(),
              config->cluster_min_healthy_percentages.end());
  }
  return std::shared_ptr<const HealthCheckConfig>(std::move(config));
}

bool HealthCheckConfig::isHealthCheck(const remora::http::HeaderMap& request) const {
  for (const router::HeaderMatcher& matcher : headers) {
    if (!matcher.match(request)) return false;
  }
  return true;
}

}  // namespace remora::filters::http::health_check
