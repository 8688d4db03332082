#pragma once

#include <cstdint>

#include "buffer/buffer.h"
#include "event/dispatcher.h"
#include "http/filter.h"

namespace remora::filters::http::fault {

// Releases one response body at a fixed rate (the fault filter's response_rate_limit), as
// Envoy's StreamRateLimiter: the rate is cut into 16 slices a second, a token bucket of 16 slices
// (one second's worth, so the first second of data leaves at once) refills at 16 slices a
// second, and each timer tick releases as many slices as there are tokens. Data waiting here
// counts against the encoder buffer limit: above it, the upstream is paused through the
// encoder watermark callbacks, so a slow fault never buffers an unbounded body.
class StreamRateLimiter {
 public:
  StreamRateLimiter(uint64_t kbps, remora::http::StreamEncoderFilterCallbacks& callbacks);

  // Takes the data (the filter returns StopIterationNoBuffer); it leaves through
  // injectEncodedDataToFilterChain at the configured rate.
  void writeData(buffer::Buffer& data, bool end_stream);
  // Trailers arrived: true when they must wait for the data still held (released later with
  // continueEncoding()).
  bool onTrailers();
  // The stream is going away: no more timer ticks.
  void destroy();

  static constexpr uint64_t kSlicesPerSecond = 16;

 private:
  void release();
  void refill();

  remora::http::StreamEncoderFilterCallbacks& callbacks_;
  const uint64_t bytes_per_slice_;
  const uint64_t buffer_limit_;
  event::TimerPtr timer_;
  buffer::Buffer buffer_;
  double tokens_ = kSlicesPerSecond;
  event::MonotonicTime last_refill_;
  bool saw_end_stream_ = false;
  bool saw_trailers_ = false;
  bool above_watermark_ = false;
  bool destroyed_ = false;
};

}  // namespace remora::filters::http::fault
