#pragma once

#include <memory>
#include <vector>

#include "http/filter.h"

namespace remora::http {

// The owner of a filter chain: where encoded responses go and how to reach the stream.
class FilterManagerCallbacks {
 public:
  virtual ~FilterManagerCallbacks() = default;
  // The end of the encoder chain: hand the response to the codec.
  virtual void encode1xxHeaders(ResponseHeaderMap& headers) = 0;
  virtual void encodeHeaders(ResponseHeaderMap& headers, bool end_stream) = 0;
  virtual void encodeData(buffer::Buffer& data, bool end_stream) = 0;
  virtual void encodeTrailers(TrailerMap& trailers) = 0;
  virtual const router::Route* route() = 0;
  virtual void clearRouteCache() = 0;
  virtual const net::Connection* connection() = 0;
  virtual ConnectionFilterState* connectionFilterState() { return nullptr; }
  virtual uint64_t streamId() const = 0;
  virtual void resetStream() = 0;
  // A filter buffers request data above the limit in watermark mode: stop/resume reading.
  virtual void onDecoderFilterAboveWriteBufferHighWatermark() = 0;
  virtual void onDecoderFilterBelowWriteBufferLowWatermark() = 0;
  // Builds a local reply's headers and body (the connection manager owns the format: plain
  // text, or gRPC trailers-only when the request is gRPC, with `grpc_status` if given).
  virtual ResponseHeaderMapPtr makeLocalReply(uint32_t code, std::string& body,
                                              std::optional<uint32_t> grpc_status) = 0;
  // A buffering filter's request body outgrew the buffer limit; a 413 follows (Envoy counts
  // downstream_rq_too_large here).
  virtual void onRequestDataTooLarge() {}
};

// Runs one stream's decoder filters (request, in order) and encoder filters (response, in
// reverse order), with Envoy's stop/continue semantics and buffering limits. Used for
// downstream streams by the connection manager; kept free of codec and connection details so the
// upstream side can reuse it.
class FilterManager {
 public:
  FilterManager(FilterManagerCallbacks& callbacks, event::Dispatcher& dispatcher,
                stream_info::StreamInfo& stream_info, uint32_t buffer_limit);
  ~FilterManager();

  void addDecoderFilter(StreamDecoderFilterSharedPtr filter);
  void addEncoderFilter(StreamEncoderFilterSharedPtr filter);
  void addStreamFilter(StreamFilterSharedPtr filter);

  // Request events from the codec.
  void decodeHeaders(RequestHeaderMapPtr headers, bool end_stream);
  void decodeData(buffer::Buffer& data, bool end_stream);
  void decodeTrailers(TrailerMapPtr trailers);

  // Sends a locally generated response through every encoder filter; if a response has already
  // started, the stream is reset instead.
  void sendLocalReply(uint32_t code, std::string_view body, const ModifyHeadersCb& modify,
                      std::string_view details, std::optional<uint32_t> grpc_status = std::nullopt);
  // The downstream connection's write buffer crossed its watermarks.
  void onDownstreamAboveWriteBufferHighWatermark();
  void onDownstreamBelowWriteBufferLowWatermark();
  // Calls onDestroy on every filter once; no filter is called after this.
  void destroyFilters();

  RequestHeaderMap* requestHeaders() { return request_headers_.get(); }
  ResponseHeaderMap* responseHeaders() { return response_headers_.get(); }
  bool remoteDecodeComplete() const { return remote_complete_; }
  bool responseStarted() const { return response_started_; }
  bool localEncodeComplete() const { return local_complete_; }

 private:
  struct ActiveDecoderFilter;
  struct ActiveEncoderFilter;

  // Each walks the chain from `index`, as Envoy's FilterManager: a filter stopped with StopAll*
  // holds everything behind it (data is buffered); a filter stopped otherwise still hears data
  // and trailers, and Continue from them releases what it held.
  void decodeHeadersFrom(size_t index, bool end_stream);
  void decodeDataFrom(size_t index, buffer::Buffer& data, bool end_stream);
  void decodeTrailersFrom(size_t index);
  // Resumes after the filter at `index` stopped: its held headers go to the next filter; the
  // buffered data and the trailers go to the filter itself if it had stopped everything with
  // StopAll* (it has not seen them yet), else to the next one.
  void continueDecoding(size_t index);
  void encodeHeadersFrom(size_t index, bool end_stream);
  void encodeDataFrom(size_t index, buffer::Buffer& data, bool end_stream);
  void encodeTrailersFrom(size_t index);
  void continueEncoding(size_t index);
  // Holds data a filter stopped: moved into the stream's buffer (unless it is that buffer, being
  // replayed). Over the limit: watermark mode pauses the peer; otherwise a request is answered 413
  // and false returned, a response is reset.
  bool bufferDecodedData(buffer::Buffer& data, bool watermark);
  bool bufferEncodedData(buffer::Buffer& data, bool watermark);
  // The buffered data was passed on: lift a watermark it had raised.
  void lowerDecodeWatermark();
  void lowerEncodeWatermark();
  // The downstream connection or an encoder filter is backed up / has drained: the decoder
  // filters that subscribed (the router) pause / resume the upstream. Counted, because both may
  // be backed up at once.
  void callHighWatermarkCallbacks();
  void callLowWatermarkCallbacks();
  // Called by the router path: a response produced by a decoder filter at `index`.
  void encode1xxHeadersFromFilter(ResponseHeaderMapPtr headers);
  void encodeHeadersFromFilter(ResponseHeaderMapPtr headers, bool end_stream,
                               std::string_view details);
  void encodeDataFromFilter(buffer::Buffer& data, bool end_stream);
  void encodeTrailersFromFilter(TrailerMapPtr trailers);

  FilterManagerCallbacks& callbacks_;
  event::Dispatcher& dispatcher_;
  stream_info::StreamInfo& stream_info_;
  uint32_t buffer_limit_;

  std::vector<std::unique_ptr<ActiveDecoderFilter>> decoders_;
  std::vector<std::unique_ptr<ActiveEncoderFilter>> encoders_;  // in the order they run
  std::vector<DownstreamWatermarkCallbacks*> watermark_callbacks_;

  RequestHeaderMapPtr request_headers_;
  TrailerMapPtr request_trailers_;
  buffer::Buffer decode_buffer_;  // request data held while a filter has stopped iteration
  bool remote_complete_ = false;
  bool decode_watermark_raised_ = false;

  ResponseHeaderMapPtr response_headers_;
  TrailerMapPtr response_trailers_;
  buffer::Buffer encode_buffer_;
  bool response_started_ = false;  // response headers entered the encoder chain
  bool response_end_seen_ = false;
  bool encode_watermark_raised_ = false;
  bool local_complete_ = false;
  bool destroyed_ = false;
  uint32_t high_watermark_count_ = 0;
};

}  // namespace remora::http
