#include "http/filter_manager.h"

#include <algorithm>

#include "common/assert.h"

namespace remora::http {

// Per-filter iteration state, shared by both directions (Envoy's ActiveStreamFilterBase).
struct FilterState {
  enum class Iteration {
    Continue,
    StopSingle,        // stopped on one frame; later data and trailers still reach the filter
    StopAllBuffer,     // stopped on headers for everything: data is buffered, not delivered
    StopAllWatermark,  // ... and above the limit the peer is paused instead of failing
  };
  Iteration iteration = Iteration::Continue;
  bool headers_done = false;       // the filter has seen the headers
  bool headers_continued = false;  // ... and let them go on
  bool end_stream = false;         // the filter has seen the end of the stream
  bool trailers_done = false;      // the filter has seen the trailers
  bool stopped() const { return iteration != Iteration::Continue; }
  bool stoppedAll() const {
    return iteration == Iteration::StopAllBuffer || iteration == Iteration::StopAllWatermark;
  }
  // Records a headers status; true when iteration goes on.
  bool afterHeaders(FilterHeadersStatus status) {
    switch (status) {
      case FilterHeadersStatus::Continue:
        headers_continued = true;
        return true;
      case FilterHeadersStatus::StopIteration:
        iteration = Iteration::StopSingle;
        return false;
      case FilterHeadersStatus::StopAllIterationAndBuffer:
        iteration = Iteration::StopAllBuffer;
        return false;
      case FilterHeadersStatus::StopAllIterationAndWatermark:
        iteration = Iteration::StopAllWatermark;
        return false;
    }
    return false;
  }
};

// The callbacks object each decoder filter gets: routes calls back to the manager with the
// filter's position.
struct FilterManager::ActiveDecoderFilter final : public StreamDecoderFilterCallbacks {
  ActiveDecoderFilter(FilterManager& parent, StreamDecoderFilterSharedPtr filter, size_t index)
      : parent_(parent), filter_(std::move(filter)), index_(index) {}

  event::Dispatcher& dispatcher() override { return parent_.dispatcher_; }
  stream_info::StreamInfo& streamInfo() override { return parent_.stream_info_; }
  const router::Route* route() override { return parent_.callbacks_.route(); }
  void clearRouteCache() override { parent_.callbacks_.clearRouteCache(); }
  const net::Connection* connection() override { return parent_.callbacks_.connection(); }
  ConnectionFilterState* connectionFilterState() override {
    return parent_.callbacks_.connectionFilterState();
  }
  uint64_t streamId() const override { return parent_.callbacks_.streamId(); }
  void resetStream() override { parent_.callbacks_.resetStream(); }
  void continueDecoding() override { parent_.continueDecoding(index_); }
  const buffer::Buffer* decodingBuffer() override {
    return parent_.decode_buffer_.empty() ? nullptr : &parent_.decode_buffer_;
  }
  void addDecodedData(buffer::Buffer& data, bool streaming) override {
    if (streaming) {
      parent_.decodeDataFrom(index_ + 1, data, false);
    } else {
      parent_.decode_buffer_.move(data);
    }
  }
  RequestHeaderMap* requestHeaders() override { return parent_.request_headers_.get(); }
  void sendLocalReply(uint32_t code, std::string_view body, const ModifyHeadersCb& modify,
                      std::string_view details, std::optional<uint32_t> grpc_status) override {
    parent_.sendLocalReply(code, body, modify, details, grpc_status);
  }
  void encode1xxHeaders(ResponseHeaderMapPtr headers) override {
    parent_.encode1xxHeadersFromFilter(std::move(headers));
  }
  void encodeHeaders(ResponseHeaderMapPtr headers, bool end_stream,
                     std::string_view details) override {
    parent_.encodeHeadersFromFilter(std::move(headers), end_stream, details);
  }
  void encodeData(buffer::Buffer& data, bool end_stream) override {
    parent_.encodeDataFromFilter(data, end_stream);
  }
  void encodeTrailers(TrailerMapPtr trailers) override {
    parent_.encodeTrailersFromFilter(std::move(trailers));
  }
  void onDecoderFilterAboveWriteBufferHighWatermark() override {
    parent_.callbacks_.onDecoderFilterAboveWriteBufferHighWatermark();
  }
  void onDecoderFilterBelowWriteBufferLowWatermark() override {
    parent_.callbacks_.onDecoderFilterBelowWriteBufferLowWatermark();
  }
  void addDownstreamWatermarkCallbacks(DownstreamWatermarkCallbacks& callbacks) override {
    parent_.watermark_callbacks_.push_back(&callbacks);
    // A late subscriber must learn that the downstream is already backed up.
    if (parent_.high_watermark_count_ > 0) callbacks.onAboveWriteBufferHighWatermark();
  }
  void removeDownstreamWatermarkCallbacks(DownstreamWatermarkCallbacks& callbacks) override {
    auto& v = parent_.watermark_callbacks_;
    v.erase(std::remove(v.begin(), v.end(), &callbacks), v.end());
  }
  uint32_t decoderBufferLimit() override { return parent_.buffer_limit_; }
  void setDecoderBufferLimit(uint32_t limit) override { parent_.buffer_limit_ = limit; }

  FilterManager& parent_;
  StreamDecoderFilterSharedPtr filter_;
  const size_t index_;
  FilterState state_;
};

struct FilterManager::ActiveEncoderFilter final : public StreamEncoderFilterCallbacks {
  ActiveEncoderFilter(FilterManager& parent, StreamEncoderFilterSharedPtr filter, size_t index)
      : parent_(parent), filter_(std::move(filter)), index_(index) {}

  event::Dispatcher& dispatcher() override { return parent_.dispatcher_; }
  stream_info::StreamInfo& streamInfo() override { return parent_.stream_info_; }
  const router::Route* route() override { return parent_.callbacks_.route(); }
  void clearRouteCache() override { parent_.callbacks_.clearRouteCache(); }
  const net::Connection* connection() override { return parent_.callbacks_.connection(); }
  ConnectionFilterState* connectionFilterState() override {
    return parent_.callbacks_.connectionFilterState();
  }
  uint64_t streamId() const override { return parent_.callbacks_.streamId(); }
  void resetStream() override { parent_.callbacks_.resetStream(); }
  void continueEncoding() override { parent_.continueEncoding(index_); }
  const buffer::Buffer* encodingBuffer() override {
    return parent_.encode_buffer_.empty() ? nullptr : &parent_.encode_buffer_;
  }
  void addEncodedData(buffer::Buffer& data, bool streaming) override {
    if (streaming) {
      parent_.encodeDataFrom(index_ + 1, data, false);
    } else {
      parent_.encode_buffer_.move(data);
    }
  }
  void injectEncodedDataToFilterChain(buffer::Buffer& data, bool end_stream) override {
    if (parent_.destroyed_) return;
    // Headers this filter still holds go first (Envoy's injectEncodedDataToFilterChain).
    if (!state_.headers_continued) {
      state_.headers_continued = true;
      parent_.encodeHeadersFrom(index_ + 1, false);
      if (parent_.destroyed_) return;
    }
    parent_.encodeDataFrom(index_ + 1, data, end_stream && !parent_.response_trailers_);
  }
  void onEncoderFilterAboveWriteBufferHighWatermark() override {
    parent_.callHighWatermarkCallbacks();
  }
  void onEncoderFilterBelowWriteBufferLowWatermark() override {
    parent_.callLowWatermarkCallbacks();
  }
  ResponseHeaderMap* responseHeaders() override { return parent_.response_headers_.get(); }
  uint32_t encoderBufferLimit() override { return parent_.buffer_limit_; }

  FilterManager& parent_;
  StreamEncoderFilterSharedPtr filter_;
  size_t index_;
  FilterState state_;
};

FilterManager::FilterManager(FilterManagerCallbacks& callbacks, event::Dispatcher& dispatcher,
                             stream_info::StreamInfo& stream_info, uint32_t buffer_limit)
    : callbacks_(callbacks),
      dispatcher_(dispatcher),
      stream_info_(stream_info),
      buffer_limit_(buffer_limit) {}

FilterManager::~FilterManager() { destroyFilters(); }

void FilterManager::addDecoderFilter(StreamDecoderFilterSharedPtr filter) {
  auto active = std::make_unique<ActiveDecoderFilter>(*this, std::move(filter), decoders_.size());
  active->filter_->setDecoderFilterCallbacks(*active);
  decoders_.push_back(std::move(active));
}

void FilterManager::addEncoderFilter(StreamEncoderFilterSharedPtr filter) {
  // Encoders run in reverse order of configuration: the newest goes first.
  auto active = std::make_unique<ActiveEncoderFilter>(*this, std::move(filter), 0);
  active->filter_->setEncoderFilterCallbacks(*active);
  encoders_.insert(encoders_.begin(), std::move(active));
  for (size_t i = 0; i < encoders_.size(); ++i) encoders_[i]->index_ = i;
}

void FilterManager::addStreamFilter(StreamFilterSharedPtr filter) {
  addDecoderFilter(filter);
  addEncoderFilter(filter);
}

void FilterManager::destroyFilters() {
  if (destroyed_) return;
  destroyed_ = true;
  // A filter registered in both directions hears onDestroy once. (Without encoders, as with
  // the router alone, there is nothing to remember: no list to allocate per request.)
  std::vector<const void*> done;
  const bool has_encoders = !encoders_.empty();
  for (auto& d : decoders_) {
    d->filter_->onDestroy();
    if (has_encoders) done.push_back(dynamic_cast<const void*>(d->filter_.get()));
  }
  for (auto& e : encoders_) {
    const void* self = dynamic_cast<const void*>(e->filter_.get());
    if (std::find(done.begin(), done.end(), self) == done.end()) e->filter_->onDestroy();
  }
  watermark_callbacks_.clear();
}

// ---- request path ----

void FilterManager::decodeHeaders(RequestHeaderMapPtr headers, bool end_stream) {
  request_headers_ = std::move(headers);
  remote_complete_ = end_stream;
  decodeHeadersFrom(0, end_stream);
}

void FilterManager::decodeHeadersFrom(size_t index, bool end_stream) {
  for (size_t i = index; i < decoders_.size() && !destroyed_; ++i) {
    auto& entry = *decoders_[i];
    entry.state_.headers_done = true;
    entry.state_.end_stream = end_stream;
    FilterHeadersStatus status = entry.filter_->decodeHeaders(*request_headers_, end_stream);
    if (destroyed_ || !entry.state_.afterHeaders(status)) return;
  }
}

void FilterManager::decodeData(buffer::Buffer& data, bool end_stream) {
  if (destroyed_) {
    data.drain(data.length());
    return;
  }
  remote_complete_ = end_stream;
  stream_info_.bytes_received += data.length();
  decodeDataFrom(0, data, end_stream);
}

void FilterManager::decodeDataFrom(size_t index, buffer::Buffer& data, bool end_stream) {
  using Iteration = FilterState::Iteration;
  for (size_t i = index; i < decoders_.size() && !destroyed_; ++i) {
    auto& entry = *decoders_[i];
    auto& st = entry.state_;
    // StopAll*: the filter hears nothing until it continues; the data waits for it. (A filter
    // that has not seen the headers cannot take data either.)
    if (st.stoppedAll() || !st.headers_done) {
      bufferDecodedData(data, st.iteration != Iteration::StopAllBuffer);
      return;
    }
    // A filter that has seen the end already had this data by another path (a nested continue).
    if (st.end_stream) return;
    st.end_stream = end_stream && !request_trailers_;
    FilterDataStatus status = entry.filter_->decodeData(data, st.end_stream);
    if (destroyed_) return;
    if (status == FilterDataStatus::Continue) {
      if (st.iteration == Iteration::StopSingle) {
        // What it held (headers, earlier data) goes on now, this chunk behind it.
        bufferDecodedData(data, true);
        continueDecoding(i);
        return;
      }
      continue;
    }
    st.iteration = Iteration::StopSingle;
    if (status != FilterDataStatus::StopIterationNoBuffer) {
      bufferDecodedData(data, status == FilterDataStatus::StopIterationAndWatermark);
    }
    return;
  }
  // Past the last filter (normally the router, which takes the data itself) nothing needs it.
  if (!destroyed_) data.drain(data.length());
}

bool FilterManager::bufferDecodedData(buffer::Buffer& data, bool watermark) {
  if (&data != &decode_buffer_) decode_buffer_.move(data);
  if (buffer_limit_ == 0 || decode_buffer_.length() <= buffer_limit_) return true;
  if (watermark) {
    if (!decode_watermark_raised_) {
      decode_watermark_raised_ = true;
      callbacks_.onDecoderFilterAboveWriteBufferHighWatermark();
    }
    return true;
  }
  // Envoy answers a request that outgrows a buffering filter's limit with 413.
  callbacks_.onRequestDataTooLarge();
  sendLocalReply(413, "Payload Too Large", nullptr, "request_payload_too_large");
  return false;
}

void FilterManager::lowerDecodeWatermark() {
  if (!decode_watermark_raised_ || decode_buffer_.length() > buffer_limit_ / 2) return;
  decode_watermark_raised_ = false;
  callbacks_.onDecoderFilterBelowWriteBufferLowWatermark();
}

void FilterManager::decodeTrailers(TrailerMapPtr trailers) {
  if (destroyed_) return;
  request_trailers_ = std::move(trailers);
  remote_complete_ = true;
  decodeTrailersFrom(0);
}

void FilterManager::decodeTrailersFrom(size_t index) {
  for (size_t i = index; i < decoders_.size() && !destroyed_; ++i) {
    auto& st = decoders_[i]->state_;
    // Behind StopAll* (or headers not seen yet) they wait for continueDecoding(); a filter that
    // has them already passed them on (a nested continue).
    if (st.stoppedAll() || !st.headers_done || st.trailers_done) return;
    st.end_stream = st.trailers_done = true;
    FilterTrailersStatus status = decoders_[i]->filter_->decodeTrailers(*request_trailers_);
    if (destroyed_) return;
    if (status == FilterTrailersStatus::StopIteration) {
      if (!st.stopped()) st.iteration = FilterState::Iteration::StopSingle;
      return;
    }
    // Continue from a stopped filter releases what it held, then the trailers.
    if (st.stopped()) {
      continueDecoding(i);
      return;
    }
  }
}

void FilterManager::continueDecoding(size_t index) {
  if (destroyed_) return;
  auto& st = decoders_[index]->state_;
  if (!st.stopped()) return;  // not stopped, or continued already
  // A filter that stopped everything has not seen the data and trailers: they start with it.
  const size_t from = st.stoppedAll() ? index : index + 1;
  st.iteration = FilterState::Iteration::Continue;
  const bool has_trailers = request_trailers_ != nullptr;
  if (!st.headers_continued) {
    st.headers_continued = true;
    decodeHeadersFrom(index + 1, remote_complete_ && decode_buffer_.empty() && !has_trailers);
    if (destroyed_) return;
  }
  // The buffered body goes on in place (a later filter may stop and keep it buffered). An end of
  // stream that arrived without bytes (the filter took the last chunk) must still be passed on.
  const bool end = remote_complete_ && !has_trailers;
  const bool end_unsent = end && from < decoders_.size() && !decoders_[from]->state_.end_stream;
  if (!decode_buffer_.empty() || end_unsent) {
    decodeDataFrom(from, decode_buffer_, end);
    if (destroyed_) return;
    lowerDecodeWatermark();
  }
  if (has_trailers) decodeTrailersFrom(from);
}

// ---- response path ----

void FilterManager::encode1xxHeadersFromFilter(ResponseHeaderMapPtr headers) {
  if (destroyed_ || response_started_) return;
  callbacks_.encode1xxHeaders(*headers);
}

void FilterManager::encodeHeadersFromFilter(ResponseHeaderMapPtr headers, bool end_stream,
                                            std::string_view details) {
  if (destroyed_) return;
  RELEASE_ASSERT(!response_started_, "response headers encoded twice");
  response_started_ = true;
  response_end_seen_ = end_stream;
  response_headers_ = std::move(headers);
  stream_info_.response_code = response_headers_->status();
  if (!details.empty()) stream_info_.response_code_details = std::string(details);
  encodeHeadersFrom(0, end_stream);
}

void FilterManager::encodeHeadersFrom(size_t index, bool end_stream) {
  for (size_t i = index; i < encoders_.size() && !destroyed_; ++i) {
    auto& entry = *encoders_[i];
    entry.state_.headers_done = true;
    entry.state_.end_stream = end_stream;
    FilterHeadersStatus status = entry.filter_->encodeHeaders(*response_headers_, end_stream);
    if (destroyed_ || !entry.state_.afterHeaders(status)) return;
  }
  if (destroyed_) return;
  if (end_stream) local_complete_ = true;
  callbacks_.encodeHeaders(*response_headers_, end_stream);
}

void FilterManager::encodeDataFromFilter(buffer::Buffer& data, bool end_stream) {
  if (destroyed_) {
    data.drain(data.length());
    return;
  }
  response_end_seen_ = end_stream;
  encodeDataFrom(0, data, end_stream);
}

void FilterManager::encodeDataFrom(size_t index, buffer::Buffer& data, bool end_stream) {
  using Iteration = FilterState::Iteration;
  const bool end = end_stream && !response_trailers_;
  for (size_t i = index; i < encoders_.size() && !destroyed_; ++i) {
    auto& entry = *encoders_[i];
    auto& st = entry.state_;
    if (st.stoppedAll() || !st.headers_done) {
      bufferEncodedData(data, st.iteration != Iteration::StopAllBuffer);
      return;
    }
    if (st.end_stream) return;
    st.end_stream = end;
    FilterDataStatus status = entry.filter_->encodeData(data, end);
    if (destroyed_) return;
    if (status == FilterDataStatus::Continue) {
      if (st.iteration == Iteration::StopSingle) {
        bufferEncodedData(data, true);
        continueEncoding(i);
        return;
      }
      continue;
    }
    st.iteration = Iteration::StopSingle;
    if (status != FilterDataStatus::StopIterationNoBuffer) {
      bufferEncodedData(data, status == FilterDataStatus::StopIterationAndWatermark);
    }
    return;
  }
  if (destroyed_) return;
  if (end) local_complete_ = true;
  stream_info_.bytes_sent += data.length();
  callbacks_.encodeData(data, end);
}

bool FilterManager::bufferEncodedData(buffer::Buffer& data, bool watermark) {
  if (&data != &encode_buffer_) encode_buffer_.move(data);
  if (buffer_limit_ == 0 || encode_buffer_.length() <= buffer_limit_) return true;
  if (watermark) {
    if (!encode_watermark_raised_) {
      encode_watermark_raised_ = true;
      callHighWatermarkCallbacks();
    }
    return true;
  }
  // A response that outgrows a buffering encoder filter cannot be delivered: reset.
  if (!local_complete_) callbacks_.resetStream();
  return false;
}

void FilterManager::lowerEncodeWatermark() {
  if (!encode_watermark_raised_ || encode_buffer_.length() > buffer_limit_ / 2) return;
  encode_watermark_raised_ = false;
  callLowWatermarkCallbacks();
}

void FilterManager::encodeTrailersFromFilter(TrailerMapPtr trailers) {
  if (destroyed_) return;
  response_trailers_ = std::move(trailers);
  response_end_seen_ = true;
  encodeTrailersFrom(0);
}

void FilterManager::encodeTrailersFrom(size_t index) {
  for (size_t i = index; i < encoders_.size() && !destroyed_; ++i) {
    auto& st = encoders_[i]->state_;
    if (st.stoppedAll() || !st.headers_done || st.trailers_done) return;
    st.end_stream = st.trailers_done = true;
    FilterTrailersStatus status = encoders_[i]->filter_->encodeTrailers(*response_trailers_);
    if (destroyed_) return;
    if (status == FilterTrailersStatus::StopIteration) {
      if (!st.stopped()) st.iteration = FilterState::Iteration::StopSingle;
      return;
    }
    if (st.stopped()) {
      continueEncoding(i);
      return;
    }
  }
  if (destroyed_ || local_complete_) return;
  local_complete_ = true;
  callbacks_.encodeTrailers(*response_trailers_);
}

void FilterManager::continueEncoding(size_t index) {
  if (destroyed_) return;
  auto& st = encoders_[index]->state_;
  if (!st.stopped()) return;
  const size_t from = st.stoppedAll() ? index : index + 1;
  st.iteration = FilterState::Iteration::Continue;
  const bool has_trailers = response_trailers_ != nullptr;
  if (!st.headers_continued) {
    st.headers_continued = true;
    encodeHeadersFrom(index + 1, response_end_seen_ && encode_buffer_.empty() && !has_trailers);
    if (destroyed_) return;
  }
  const bool end = response_end_seen_ && !has_trailers;
  // Past the last filter the end goes to the codec; an end already sent there needs nothing.
  const bool end_unsent =
      end && !local_complete_ && (from >= encoders_.size() || !encoders_[from]->state_.end_stream);
  if (!encode_buffer_.empty() || end_unsent) {
    encodeDataFrom(from, encode_buffer_, end);
    if (destroyed_) return;
    lowerEncodeWatermark();
  }
  if (has_trailers) encodeTrailersFrom(from);
}

void FilterManager::sendLocalReply(uint32_t code, std::string_view body,
                                   const ModifyHeadersCb& modify, std::string_view details,
                                   std::optional<uint32_t> grpc_status) {
  if (destroyed_) return;
  stream_info_.response_code_details = std::string(details);
  if (response_started_) {
    // Too late for a different status: the client already has a response head.
    callbacks_.resetStream();
    return;
  }
  std::string text(body);
  auto headers = callbacks_.makeLocalReply(code, text, grpc_status);
  if (modify) modify(*headers);
  buffer::Buffer data;
  data.add(text);
  bool has_body = !text.empty();
  encodeHeadersFromFilter(std::move(headers), !has_body, details);
  if (has_body && !destroyed_) encodeDataFromFilter(data, true);
}

void FilterManager::onDownstreamAboveWriteBufferHighWatermark() { callHighWatermarkCallbacks(); }

void FilterManager::onDownstreamBelowWriteBufferLowWatermark() { callLowWatermarkCallbacks(); }

void FilterManager::callHighWatermarkCallbacks() {
  if (high_watermark_count_++ > 0) return;
  for (auto* cb : watermark_callbacks_) cb->onAboveWriteBufferHighWatermark();
}

void FilterManager::callLowWatermarkCallbacks() {
  if (high_watermark_count_ == 0 || --high_watermark_count_ > 0) return;
  for (auto* cb : watermark_callbacks_) cb->onBelowWriteBufferLowWatermark();
}

}  // namespace remora::http
