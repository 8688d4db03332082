#include "filters/http/fault/stream_rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace remora::filters::http::fault {

StreamRateLimiter::StreamRateLimiter(uint64_t kbps,
                                     remora::http::StreamEncoderFilterCallbacks& callbacks)
    : callbacks_(callbacks),
      bytes_per_slice_(std::max<uint64_t>(1, kbps * 1024 / kSlicesPerSecond)),
      buffer_limit_(callbacks.encoderBufferLimit()),
      timer_(callbacks.dispatcher().createTimer([this] { release(); })),
      last_refill_(callbacks.dispatcher().now()) {}

void StreamRateLimiter::writeData(buffer::Buffer& data, bool end_stream) {
  buffer_.move(data);
  saw_end_stream_ = end_stream;
  if (!above_watermark_ && buffer_limit_ > 0 && buffer_.length() > buffer_limit_) {
    above_watermark_ = true;
    callbacks_.onEncoderFilterAboveWriteBufferHighWatermark();
  }
  if (!timer_->enabled()) release();
}

bool StreamRateLimiter::onTrailers() {
  saw_end_stream_ = true;
  saw_trailers_ = true;
  return !buffer_.empty();
}

void StreamRateLimiter::destroy() {
  destroyed_ = true;
  timer_->disableTimer();
}

void StreamRateLimiter::refill() {
  auto now = callbacks_.dispatcher().now();
  double elapsed = std::chrono::duration<double>(now - last_refill_).count();
  last_refill_ = now;
  tokens_ = std::min<double>(kSlicesPerSecond, tokens_ + elapsed * kSlicesPerSecond);
}

void StreamRateLimiter::release() {
  if (destroyed_) return;
  refill();
  uint64_t wanted = (buffer_.length() + bytes_per_slice_ - 1) / bytes_per_slice_;
  auto slices = std::min<uint64_t>(wanted, static_cast<uint64_t>(tokens_));
  tokens_ -= static_cast<double>(slices);
  buffer::Buffer out;
  out.move(buffer_, std::min<uint64_t>(slices * bytes_per_slice_, buffer_.length()));
  if (!buffer_.empty()) {
    // Wake when the next whole token has accrued.
    double wait_s = (1.0 - (tokens_ - std::floor(tokens_))) / kSlicesPerSecond;
    timer_->enableTimer(std::chrono::milliseconds(static_cast<int64_t>(std::ceil(wait_s * 1000))));
  }
  if (above_watermark_ && buffer_.length() <= buffer_limit_ / 2) {
    above_watermark_ = false;
    callbacks_.onEncoderFilterBelowWriteBufferLowWatermark();
    if (destroyed_) return;
  }
  const bool done = buffer_.empty();
  if (!out.empty() || (done && saw_end_stream_ && !saw_trailers_)) {
    callbacks_.injectEncodedDataToFilterChain(out, saw_end_stream_ && done && !saw_trailers_);
    if (destroyed_) return;
  }
  if (done && saw_trailers_) callbacks_.continueEncoding();
}

}  // namespace remora::filters::http::fault
