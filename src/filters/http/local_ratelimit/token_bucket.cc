#include "filters/http/local_ratelimit/token_bucket.h"

#include <algorithm>

namespace remora::filters::http::local_ratelimit {

TokenBucket::TokenBucket(uint32_t max_tokens, uint32_t tokens_per_fill,
                         std::chrono::milliseconds fill_interval, event::MonotonicTime start)
    : max_tokens_(max_tokens),
      tokens_per_fill_(tokens_per_fill),
      fill_interval_(fill_interval),
      start_(start),
      state_(pack(0, max_tokens)) {}

uint32_t TokenBucket::fillsAt(event::MonotonicTime now) const {
  if (fill_interval_.count() <= 0 || now <= start_) return 0;
  return static_cast<uint32_t>((now - start_) / fill_interval_);
}

uint32_t TokenBucket::tokensAfter(uint64_t state, uint32_t fills) const {
  // Workers' clocks are read at slightly different moments: a count behind the stored one
  // (a negative difference as int32) adds nothing.
  auto pending = static_cast<int32_t>(fills - fillsOf(state));
  uint64_t tokens = tokensOf(state);
  if (pending <= 0 || tokens >= max_tokens_) return static_cast<uint32_t>(tokens);
  uint64_t added =
      static_cast<uint64_t>(std::min<uint32_t>(pending, max_tokens_)) * tokens_per_fill_;
  return static_cast<uint32_t>(std::min<uint64_t>(max_tokens_, tokens + added));
}

bool TokenBucket::consume(event::MonotonicTime now) {
  const uint32_t fills = fillsAt(now);
  uint64_t current = state_.load(std::memory_order_relaxed);
  while (true) {
    uint32_t tokens = tokensAfter(current, fills);
    // Nothing to take: no need to store the fills, the next look recomputes them.
    if (tokens == 0) return false;
    uint32_t stored_fills =
        static_cast<int32_t>(fills - fillsOf(current)) > 0 ? fills : fillsOf(current);
    if (state_.compare_exchange_weak(current, pack(stored_fills, tokens - 1),
                                     std::memory_order_relaxed)) {
      return true;
    }
  }
}

uint32_t TokenBucket::remainingTokens(event::MonotonicTime now) const {
  return tokensAfter(state_.load(std::memory_order_relaxed), fillsAt(now));
}

uint64_t TokenBucket::resetSeconds(event::MonotonicTime now) const {
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  if (fill_interval_.count() <= 0) return 0;
  auto since_start = now > start_ ? now - start_ : std::chrono::nanoseconds(0);
  auto since_fill = since_start % fill_interval_;
  auto left = fill_interval_ - duration_cast<seconds>(since_fill);
  return static_cast<uint64_t>(duration_cast<seconds>(left).count());
}

}  // namespace remora::filters::http::local_ratelimit
