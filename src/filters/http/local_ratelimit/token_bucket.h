#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "event/dispatcher.h"
#include "http/connection_filter_state.h"

namespace remora::filters::http::local_ratelimit {

// Envoy's local rate limit token bucket (type.v3.TokenBucket): it starts full with max_tokens,
// gains tokens_per_fill (up to max_tokens) at the end of every fill_interval counted from its
// creation, and each request takes one token. Envoy refills from a main-thread timer; here the
// fills are computed when a request looks, from the time elapsed — the same tokens at the same
// moments, without a timer or a thread hop.
//
// Shared by every worker without a lock: the token count and the number of the last fill
// applied live in one 64-bit atomic, updated by compare-and-swap.
class TokenBucket : public remora::http::ConnectionFilterState::Object {
 public:
  // A zero fill_interval never refills (Envoy's behaviour for a config without a token bucket).
  TokenBucket(uint32_t max_tokens, uint32_t tokens_per_fill,
              std::chrono::milliseconds fill_interval, event::MonotonicTime start);

  // Takes a token if there is one.
  bool consume(event::MonotonicTime now);
  uint32_t maxTokens() const { return max_tokens_; }
  // Tokens left at `now` (x-ratelimit-remaining).
  uint32_t remainingTokens(event::MonotonicTime now) const;
  // Whole seconds until the next fill, as Envoy computes x-ratelimit-reset: the fill interval
  // minus the whole seconds since the last fill, truncated to seconds.
  uint64_t resetSeconds(event::MonotonicTime now) const;

 private:
  // Fills that happened by `now`, counted from start_ (modulo 2^32, as stored).
  uint32_t fillsAt(event::MonotonicTime now) const;
  // The token count of `state` after the fills up to `fills`.
  uint32_t tokensAfter(uint64_t state, uint32_t fills) const;
  static uint64_t pack(uint32_t fills, uint32_t tokens) { return uint64_t{fills} << 32 | tokens; }
  static uint32_t fillsOf(uint64_t state) { return static_cast<uint32_t>(state >> 32); }
  static uint32_t tokensOf(uint64_t state) { return static_cast<uint32_t>(state); }

  const uint32_t max_tokens_;
  const uint32_t tokens_per_fill_;
  const std::chrono::milliseconds fill_interval_;
  const event::MonotonicTime start_;
  // On a cache line of its own: every worker writes it, and the fields above (read by every
  // worker on every request) must not bounce with it.
  alignas(64) std::atomic<uint64_t> state_;
};

}  // namespace remora::filters::http::local_ratelimit
