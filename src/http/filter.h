#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "buffer/buffer.h"
#include "event/dispatcher.h"
#include "http/connection_filter_state.h"
#include "http/header_map.h"
#include "net/connection.h"
#include "stream_info/stream_info.h"

namespace remora::router {
class Route;
}

namespace remora::http {

// Envoy's HTTP filter model: decoder filters see the request in order, encoder filters see the
// response in reverse order; each call may continue the chain or stop it and resume later.

enum class FilterHeadersStatus {
  Continue,                      // pass the headers on
  StopIteration,                 // hold the headers; data keeps flowing to this filter
  StopAllIterationAndBuffer,     // hold headers and buffer data (up to the buffer limit)
  StopAllIterationAndWatermark,  // hold headers and buffer data, pausing the peer above the limit
};

enum class FilterDataStatus {
  Continue,                   // pass the data on (and any headers held back)
  StopIterationAndBuffer,     // keep the data in the filter manager's buffer (up to the limit);
                              // the filter still hears each later chunk and the trailers, and
                              // Continue from any of them passes the whole body on
  StopIterationAndWatermark,  // buffer, pausing the peer above the limit instead of failing
  StopIterationNoBuffer,      // the filter took the data itself
};

enum class FilterTrailersStatus { Continue, StopIteration };

// Lets the router pause the upstream when the downstream cannot keep up.
class DownstreamWatermarkCallbacks {
 public:
  virtual ~DownstreamWatermarkCallbacks() = default;
  virtual void onAboveWriteBufferHighWatermark() = 0;
  virtual void onBelowWriteBufferLowWatermark() = 0;
};

// Modifies a local reply's headers before it is sent.
using ModifyHeadersCb = std::function<void(ResponseHeaderMap&)>;

// What every filter may ask of its stream. The decoder and encoder callbacks below each extend it
// (plainly, not virtually): the filter manager implements them as separate objects.
class StreamFilterCallbacks {
 public:
  virtual ~StreamFilterCallbacks() = default;
  virtual event::Dispatcher& dispatcher() = 0;
  virtual stream_info::StreamInfo& streamInfo() = 0;
  // The route for the request, computed on first use; nullptr when none matches.
  virtual const router::Route* route() = 0;
  // Forgets the cached route after a filter changed what routing looks at.
  virtual void clearRouteCache() = 0;
  virtual const net::Connection* connection() = 0;
  // State kept across the downstream connection's streams; nullptr when the stream has no
  // downstream connection.
  virtual ConnectionFilterState* connectionFilterState() = 0;
  virtual uint64_t streamId() const = 0;
  // Aborts the stream: resets downstream, no response.
  virtual void resetStream() = 0;
};

class StreamDecoderFilterCallbacks : public StreamFilterCallbacks {
 public:
  // Resumes iteration after this filter stopped it.
  virtual void continueDecoding() = 0;
  // The request body buffered so far by StopIterationAndBuffer, or nullptr.
  virtual const buffer::Buffer* decodingBuffer() = 0;
  // Adds data to the buffered request body (while stopped) or passes it on (streaming).
  virtual void addDecodedData(buffer::Buffer& data, bool streaming) = 0;
  virtual RequestHeaderMap* requestHeaders() = 0;
  // Sends a response generated here (404, 429, 503, ...) through the encoder filters. To a gRPC
  // request it is a trailers-only gRPC response: `grpc_status`, or the status Envoy maps `code`
  // to when absent.
  virtual void sendLocalReply(uint32_t code, std::string_view body, const ModifyHeadersCb& modify,
                              std::string_view details,
                              std::optional<uint32_t> grpc_status = std::nullopt) = 0;
  // Sends an upstream response downstream through the encoder filters (the router's path).
  virtual void encode1xxHeaders(ResponseHeaderMapPtr headers) = 0;
  virtual void encodeHeaders(ResponseHeaderMapPtr headers, bool end_stream, std::string_view details) = 0;
  virtual void encodeData(buffer::Buffer& data, bool end_stream) = 0;
  virtual void encodeTrailers(TrailerMapPtr trailers) = 0;
  // The upstream is not keeping up with the request body: stop/resume reading downstream.
  virtual void onDecoderFilterAboveWriteBufferHighWatermark() = 0;
  virtual void onDecoderFilterBelowWriteBufferLowWatermark() = 0;
  // The downstream is not keeping up with the response: these callbacks hear about it.
  virtual void addDownstreamWatermarkCallbacks(DownstreamWatermarkCallbacks& callbacks) = 0;
  virtual void removeDownstreamWatermarkCallbacks(DownstreamWatermarkCallbacks& callbacks) = 0;
  virtual uint32_t decoderBufferLimit() = 0;
  // Changes how much this stream may buffer (both directions, as Envoy's setDecoderBufferLimit):
  // a filter that buffers a whole body sets its own limit (e.g. buffer's max_request_bytes).
  virtual void setDecoderBufferLimit(uint32_t limit) = 0;
};

class StreamEncoderFilterCallbacks : public StreamFilterCallbacks {
 public:
  virtual void continueEncoding() = 0;
  virtual const buffer::Buffer* encodingBuffer() = 0;
  virtual void addEncodedData(buffer::Buffer& data, bool streaming) = 0;
  // Passes response data this filter held back (StopIterationNoBuffer) on to the next encoder
  // filters, ending the response with it when `end_stream`.
  virtual void injectEncodedDataToFilterChain(buffer::Buffer& data, bool end_stream) = 0;
  // This filter holds more response data than it should: pause the upstream as if the
  // downstream were slow, until the matching below-watermark call.
  virtual void onEncoderFilterAboveWriteBufferHighWatermark() = 0;
  virtual void onEncoderFilterBelowWriteBufferLowWatermark() = 0;
  virtual ResponseHeaderMap* responseHeaders() = 0;
  virtual uint32_t encoderBufferLimit() = 0;
};

// No shared base between the decoder and encoder interfaces (no virtual diamond): a filter that
// is both implements one onDestroy(), which overrides both, and the filter manager calls it once.
class StreamDecoderFilter {
 public:
  virtual ~StreamDecoderFilter() = default;
  // The stream is going away (complete or reset): release timers and upstream resources.
  virtual void onDestroy() {}
  virtual FilterHeadersStatus decodeHeaders(RequestHeaderMap& headers, bool end_stream) = 0;
  virtual FilterDataStatus decodeData(buffer::Buffer& data, bool end_stream) {
    return FilterDataStatus::Continue;
  }
  virtual FilterTrailersStatus decodeTrailers(TrailerMap& trailers) {
    return FilterTrailersStatus::Continue;
  }
  virtual void setDecoderFilterCallbacks(StreamDecoderFilterCallbacks& callbacks) = 0;
};
using StreamDecoderFilterSharedPtr = std::shared_ptr<StreamDecoderFilter>;

class StreamEncoderFilter {
 public:
  virtual ~StreamEncoderFilter() = default;
  virtual void onDestroy() {}
  virtual FilterHeadersStatus encodeHeaders(ResponseHeaderMap& headers, bool end_stream) = 0;
  virtual FilterDataStatus encodeData(buffer::Buffer& data, bool end_stream) {
    return FilterDataStatus::Continue;
  }
  virtual FilterTrailersStatus encodeTrailers(TrailerMap& trailers) {
    return FilterTrailersStatus::Continue;
  }
  virtual void setEncoderFilterCallbacks(StreamEncoderFilterCallbacks& callbacks) = 0;
};
using StreamEncoderFilterSharedPtr = std::shared_ptr<StreamEncoderFilter>;

class StreamFilter : public StreamDecoderFilter, public StreamEncoderFilter {
 public:
  void onDestroy() override {}
};
using StreamFilterSharedPtr = std::shared_ptr<StreamFilter>;

// Given to a filter factory callback to install filters on a new stream.
class FilterChainFactoryCallbacks {
 public:
  virtual ~FilterChainFactoryCallbacks() = default;
  virtual void addStreamDecoderFilter(StreamDecoderFilterSharedPtr filter) = 0;
  virtual void addStreamEncoderFilter(StreamEncoderFilterSharedPtr filter) = 0;
  virtual void addStreamFilter(StreamFilterSharedPtr filter) = 0;
};

}  // namespace remora::http
