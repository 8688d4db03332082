#include "filters/http/local_ratelimit/local_ratelimit_filter.h"

#include "common/random.h"
#include "router/route.h"

namespace remora::filters::http::local_ratelimit {

namespace hh = remora::http;

namespace {
constexpr std::string_view kFilterName = "envoy.filters.http.local_ratelimit";
constexpr std::string_view kRateLimited = "local_rate_limited";  // body and details, as Envoy
}  // namespace

TokenBucket& LocalRateLimitFilter::bucketFor(const LocalRateLimitConfig& config) {
  if (!config.perConnection()) return config.bucket();
  hh::ConnectionFilterState* state = decoder_callbacks_->connectionFilterState();
  if (state == nullptr) return config.bucket();
  if (auto* bucket = state->get<TokenBucket>(config.connectionStateKey())) return *bucket;
  return state->set(config.connectionStateKey(),
                    config.newBucket(decoder_callbacks_->dispatcher().now()));
}

hh::FilterHeadersStatus LocalRateLimitFilter::decodeHeaders(hh::RequestHeaderMap& headers, bool) {
  used_config_ = config_.get();
  if (const router::Route* route = decoder_callbacks_->route()) {
    if (const auto* per_route = route->perFilterConfigAs<LocalRateLimitConfig>(kFilterName)) {
      used_config_ = per_route;
    }
  }
  const LocalRateLimitConfig& config = *used_config_;
  if (!config.enabled(randomU64())) return hh::FilterHeadersStatus::Continue;
  config.stats().enabled.inc();
  bucket_ = &bucketFor(config);
  if (bucket_->consume(decoder_callbacks_->dispatcher().now())) {
    config.stats().ok.inc();
    return hh::FilterHeadersStatus::Continue;
  }
  config.stats().rate_limited.inc();
  if (!config.enforced(randomU64())) {
    config.requestHeadersWhenNotEnforced().apply(headers, decoder_callbacks_->streamInfo());
    return hh::FilterHeadersStatus::Continue;
  }
  config.stats().enforced.inc();
  // Set before the reply: a local reply completes the stream (and writes the access log) now.
  decoder_callbacks_->streamInfo().setResponseFlag(stream_info::RateLimited);
  decoder_callbacks_->sendLocalReply(
      config.status(), kRateLimited,
      [this, &config](hh::ResponseHeaderMap& response) {
        config.responseHeadersToAdd().apply(response, decoder_callbacks_->streamInfo());
      },
      kRateLimited, config.grpcStatus());
  return hh::FilterHeadersStatus::StopIteration;
}

hh::FilterHeadersStatus LocalRateLimitFilter::encodeHeaders(hh::ResponseHeaderMap& headers, bool) {
  // Only a request that consulted a bucket (also the 429 itself) carries the headers.
  if (bucket_ == nullptr || !used_config_->xRateLimitHeaders())
    return hh::FilterHeadersStatus::Continue;
  auto now = decoder_callbacks_->dispatcher().now();
  headers.add("x-ratelimit-limit", std::to_string(bucket_->maxTokens()));
  headers.add("x-ratelimit-remaining", std::to_string(bucket_->remainingTokens(now)));
  headers.add("x-ratelimit-reset", std::to_string(bucket_->resetSeconds(now)));
  return hh::FilterHeadersStatus::Continue;
}

}  // namespace remora::filters::http::local_ratelimit
