#include "filters/http/health_check/health_check_filter.h"

#include <chrono>

namespace remora::filters::http::health_check {

namespace h = remora::http::headers;
using remora::http::FilterDataStatus;
using remora::http::FilterHeadersStatus;
using remora::http::FilterTrailersStatus;

FilterHeadersStatus HealthCheckFilter::decodeHeaders(remora::http::RequestHeaderMap& headers,
                                                     bool end_stream) {
  if (config_->isHealthCheck(headers)) {
    health_check_request_ = true;
    decoder_callbacks_->streamInfo().health_check = true;
    if (config_->cache) cached_ = config_->cache->get(std::chrono::steady_clock::now());
    handling_ = !config_->pass_through_mode || serverFailing() || cached_.has_value();
  }
  if (end_stream && handling_) respond();
  return handling_ ? FilterHeadersStatus::StopIteration : FilterHeadersStatus::Continue;
}

FilterDataStatus HealthCheckFilter::decodeData(buffer::Buffer&, bool end_stream) {
  if (!handling_) return FilterDataStatus::Continue;
  if (end_stream) respond();
  return FilterDataStatus::StopIterationNoBuffer;
}

FilterTrailersStatus HealthCheckFilter::decodeTrailers(remora::http::TrailerMap&) {
  if (!handling_) return FilterTrailersStatus::Continue;
  respond();
  return FilterTrailersStatus::StopIteration;
}

void HealthCheckFilter::respond() {
  auto& info = decoder_callbacks_->streamInfo();
  Verdict verdict{200, "health_check_ok"};
  bool degraded = false;
  if (serverFailing()) {
    verdict = {503, "health_check_failed"};
  } else if (cached_) {
    verdict = {cached_->code, "health_check_cached"};
    degraded = cached_->degraded;
  } else if (!config_->cluster_min_healthy_percentages.empty()) {
    verdict = clusterVerdict();
  }
  if (verdict.code < 200 || verdict.code >= 300) {
    info.setResponseFlag(stream_info::ResponseFlag::FailedLocalHealthCheck);
  }
  decoder_callbacks_->sendLocalReply(
      verdict.code, "",
      [degraded](remora::http::ResponseHeaderMap& headers) {
        if (degraded) headers.set(h::kEnvoyDegraded, "");
      },
      verdict.details);
}

HealthCheckFilter::Verdict HealthCheckFilter::clusterVerdict() const {
  Verdict verdict{200, "health_check_ok"};
  for (const auto& [name, min_percent] : config_->cluster_min_healthy_percentages) {
    verdict.details = "health_check_ok_cluster_healthy";
    const auto* entry = worker_.clusters.get(name);
    if (entry == nullptr) return {503, "health_check_failed_no_cluster_found"};
    const uint64_t total = entry->cluster->hosts().size();
    if (total == 0) {
      if (min_percent == 0) continue;
      return {503, "health_check_failed_cluster_empty"};
    }
    // Every host counts as healthy until active health checking exists (as Envoy without a
    // health checker or EDS health status).
    const uint64_t healthy = total;
    if (100 * healthy < total * min_percent) return {503, "health_check_failed_cluster_unhealthy"};
  }
  return verdict;
}

FilterHeadersStatus HealthCheckFilter::encodeHeaders(remora::http::ResponseHeaderMap& headers,
                                                     bool) {
  if (health_check_request_) {
    // Only an upstream answer is cached: re-caching a cached answer would keep it forever.
    if (config_->cache && !handling_) {
      config_->cache->put({headers.status(), headers.has(h::kEnvoyDegraded)},
                          std::chrono::steady_clock::now());
    }
    headers.set(h::kEnvoyUpstreamHealthCheckedCluster, worker_.server.local_cluster_name);
  }
  // Envoy marks every response, health check answers included, while /healthcheck/fail is in
  // effect: a downstream proxy's active checker (and router) fails this host at once.
  if (serverFailing()) headers.set(h::kEnvoyImmediateHealthCheckFail, "true");
  return FilterHeadersStatus::Continue;
}

}  // namespace remora::filters::http::health_check
