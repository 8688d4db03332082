#include "filters/http/local_ratelimit/local_ratelimit_config.h"

#include <google/protobuf/util/time_util.h>

namespace remora::filters::http::local_ratelimit {

namespace {
constexpr std::chrono::milliseconds kMinFillInterval{50};
constexpr uint32_t kResourceExhausted = 8;
}  // namespace

LocalRateLimitStats::LocalRateLimitStats(stats::Store& s, const std::string& p)
    : enabled(s.counter(p + "enabled")),
      enforced(s.counter(p + "enforced")),
      rate_limited(s.counter(p + "rate_limited")),
      ok(s.counter(p + "ok")) {}

LocalRateLimitConfig::LocalRateLimitConfig(stats::Store& store, const std::string& stat_prefix,
                                           uint32_t max_tokens, uint32_t tokens_per_fill,
                                           std::chrono::milliseconds fill_interval,
                                           event::MonotonicTime now)
    : max_tokens_(max_tokens),
      tokens_per_fill_(tokens_per_fill),
      fill_interval_(fill_interval),
      bucket_(max_tokens, tokens_per_fill, fill_interval, now),
      state_key_(remora::http::ConnectionFilterState::newKey()),
      stats_(store, stat_prefix + ".http_local_rate_limit.") {}

StatusOr<std::shared_ptr<const LocalRateLimitConfig>> LocalRateLimitConfig::create(
    const Proto& proto, stats::Store& store, bool per_route, event::MonotonicTime now) {
  if (per_route && !proto.has_token_bucket()) {
    return Status::error("local rate limit token bucket must be set for per filter configs");
  }
  // Without a token bucket the bucket is empty and never refills, as in Envoy: an enabled filter
  // limits every request.
  const auto& tb = proto.token_bucket();
  std::chrono::milliseconds fill_interval{
      google::protobuf::util::TimeUtil::DurationToMilliseconds(tb.fill_interval())};
  if (proto.has_token_bucket() && fill_interval < kMinFillInterval) {
    return Status::error(
        "token_bucket.fill_interval: local rate limit token bucket fill timer must be >= 50ms");
  }
  uint32_t tokens_per_fill = tb.has_tokens_per_fill() ? tb.tokens_per_fill().value() : 1;
  std::shared_ptr<LocalRateLimitConfig> c(new LocalRateLimitConfig(
      store, proto.stat_prefix(), tb.max_tokens(), tokens_per_fill, fill_interval, now));
  if (proto.has_filter_enabled())
    c->enabled_ = router::FractionalPercent::create(proto.filter_enabled());
  if (proto.has_filter_enforced())
    c->enforced_ = router::FractionalPercent::create(proto.filter_enforced());
  // Envoy: a status below 400 is replaced by 429.
  if (proto.has_status() && proto.status().code() >= 400) c->status_ = proto.status().code();
  c->per_connection_ = proto.local_rate_limit_per_downstream_connection();
  c->x_ratelimit_headers_ = proto.enable_x_ratelimit_headers() ==
                            envoy::extensions::common::ratelimit::v3::DRAFT_VERSION_03;
  if (proto.rate_limited_as_resource_exhausted()) c->grpc_status_ = kResourceExhausted;
  const google::protobuf::RepeatedPtrField<std::string> no_removals;
  auto response = router::HeaderMutations::create(proto.response_headers_to_add(), no_removals,
                                                  "response_headers_to_add", "");
  if (!response.ok()) return response.status();
  c->response_headers_ = std::move(response.value());
  auto request =
      router::HeaderMutations::create(proto.request_headers_to_add_when_not_enforced(), no_removals,
                                      "request_headers_to_add_when_not_enforced", "");
  if (!request.ok()) return request.status();
  c->request_headers_ = std::move(request.value());
  return std::shared_ptr<const LocalRateLimitConfig>(std::move(c));
}

std::unique_ptr<TokenBucket> LocalRateLimitConfig::newBucket(event::MonotonicTime now) const {
  return std::make_unique<TokenBucket>(max_tokens_, tokens_per_fill_, fill_interval_, now);
}

}  // namespace remora::filters::http::local_ratelimit
