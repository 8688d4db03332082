#include "http/filter_manager.h"

#include <algorithm>

#include "common/assert.h"

namespace remora::http {

// Per-filter iteration state, shared by both directions.
struct FilterState {
  bool headers_done = false;   // the filter has seen the headers
  bool held_headers = false;   // it stopped on headers and has not continued them yet
  bool stop_all = false;       // ... with StopAll*: data for it is buffered, not delivered
  bool stopped_data = false;   // it stopped on data (buffering) and has not continued
  bool stopped_trailers = false;
  bool trailers_done = false;  // the filter has seen the trailers
  bool watermark = false;      // buffering pauses the peer instead of failing at the limit
  bool stopped() const { return held_headers || stopped_data || stopped_trailers; }
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
  void encodeHeaders(ResponseHeaderMapPtr headers, bool end_stream, std::string_view details) override {
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
    parent_.encodeDataFrom(index_ + 1, data, end_stream && !parent_.encode_trailers_pending_);
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
    : callbacks_(callbacks), dispatcher_(dispatcher), stream_info_(stream_info), buffer_limit_(buffer_limit) {}

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
  // A filter registered in both directions hears onDestroy once.
  std::vector<const void*> done;
  for (auto& d : decoders_) {
    d->filter_->onDestroy();
    done.push_back(dynamic_cast<const void*>(d->filter_.get()));
  }
  for (auto& e : encoders_) {
    const void* self = dynamic_cast<const void*>(e->filter_.get());
    if (std::find(done.begin(), done.end(), self) == done.end()) e->filter_->onDestroy();
  }
  watermark_callbacks_.clear();
}

bool FilterManager::endOfRequestAfterHeaders() const {
  return remote_complete_ && decode_buffer_.empty() && !trailers_pending_;
}

// ---- request path ----

void FilterManager::decodeHeaders(RequestHeaderMapPtr headers, bool end_stream) {
  request_headers_ = std::move(headers);
  remote_complete_ = end_stream;
  decodeHeadersFrom(0);
}

void FilterManager::decodeHeadersFrom(size_t index, bool data_follows) {
  const bool end_stream = !data_follows && endOfRequestAfterHeaders();
  for (size_t i = index; i < decoders_.size() && !destroyed_; ++i) {
    auto& entry = *decoders_[i];
    entry.state_.headers_done = true;
    FilterHeadersStatus status = entry.filter_->decodeHeaders(*request_headers_, end_stream);
    if (status == FilterHeadersStatus::Continue) continue;
    entry.state_.held_headers = true;
    entry.state_.stop_all = status != FilterHeadersStatus::StopIteration;
    entry.state_.watermark = status == FilterHeadersStatus::StopAllIterationAndWatermark;
    return;
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
  for (size_t i = index; i < decoders_.size() && !destroyed_; ++i) {
    auto& entry = *decoders_[i];
    auto& st = entry.state_;
    if (!st.headers_done || st.stop_all || st.stopped_trailers) {
      bufferDecodedData(data, st.watermark || !st.headers_done);
      return;
    }
    // A filter buffering the body still hears every chunk (as in Envoy): it decides when the
    // body is complete, e.g. on end_stream.
    const bool was_buffering = st.stopped_data;
    FilterDataStatus status = entry.filter_->decodeData(data, end_stream && !trailers_pending_);
    if (destroyed_) return;
    if (status == FilterDataStatus::Continue && was_buffering) {
      // The held body and this chunk go on together, behind the headers if they were held.
      decode_buffer_.move(data);
      continueDecoding(i);
      return;
    }
    if (status == FilterDataStatus::Continue) {
      if (st.held_headers) {
        st.held_headers = false;
        decodeHeadersFrom(i + 1, true);
      }
      continue;
    }
    if (status == FilterDataStatus::StopIterationNoBuffer) return;
    st.stopped_data = true;
    st.watermark = status == FilterDataStatus::StopIterationAndWatermark;
    bufferDecodedData(data, st.watermark);
    return;
  }
}

bool FilterManager::bufferDecodedData(buffer::Buffer& data, bool watermark) {
  decode_buffer_.move(data);
  if (decode_buffer_.length() <= buffer_limit_) return true;
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

void FilterManager::decodeTrailers(TrailerMapPtr trailers) {
  if (destroyed_) return;
  request_trailers_ = std::move(trailers);
  remote_complete_ = true;
  trailers_pending_ = true;
  decodeTrailersFrom(0);
}

void FilterManager::decodeTrailersFrom(size_t index) {
  for (size_t i = index; i < decoders_.size() && !destroyed_; ++i) {
    auto& entry = *decoders_[i];
    auto& st = entry.state_;
    // A filter stopped for everything (or that has not seen the headers) gets the trailers
    // after its held headers and data, when it continues.
    if (!st.headers_done || st.stop_all || st.stopped_trailers) return;
    const bool was_stopped = st.stopped();
    st.trailers_done = true;
    FilterTrailersStatus status = entry.filter_->decodeTrailers(*request_trailers_);
    if (destroyed_) return;
    if (status == FilterTrailersStatus::StopIteration || was_stopped) {
      st.stopped_trailers = true;
      // A stopped filter that continues on its trailers releases what it held, then them.
      if (status == FilterTrailersStatus::Continue) continueDecoding(i);
      return;
    }
  }
  trailers_pending_ = false;
}

void FilterManager::continueDecoding(size_t index) {
  if (destroyed_) return;
  auto& st = decoders_[index]->state_;
  bool headers_were_held = st.held_headers;
  st.held_headers = st.stop_all = st.stopped_data = st.stopped_trailers = false;
  if (headers_were_held) {
    // Headers go on with end_stream only when nothing else will follow them.
    decodeHeadersFrom(index + 1);
    if (destroyed_) return;
  }
  if (!decode_buffer_.empty()) {
    buffer::Buffer data;
    data.move(decode_buffer_);
    if (decode_watermark_raised_) {
      decode_watermark_raised_ = false;
      callbacks_.onDecoderFilterBelowWriteBufferLowWatermark();
    }
    decodeDataFrom(index + 1, data, remote_complete_ && !trailers_pending_);
    if (destroyed_) return;
  }
  if (trailers_pending_ && request_trailers_) {
    bool still_stopped = false;
    for (size_t i = 0; i <= index; ++i) still_stopped |= decoders_[i]->state_.stopped();
    // Trailers resume at the first filter that has not seen them.
    size_t next = 0;
    while (next < decoders_.size() && decoders_[next]->state_.trailers_done) ++next;
    if (!still_stopped) decodeTrailersFrom(next);
  }
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
  encodeHeadersFrom(0);
}

void FilterManager::encodeHeadersFrom(size_t index, bool data_follows) {
  const bool end = !data_follows && response_end_seen_ && encode_buffer_.empty() && !encode_trailers_pending_;
  for (size_t i = index; i < encoders_.size() && !destroyed_; ++i) {
    auto& entry = *encoders_[i];
    entry.state_.headers_done = true;
    FilterHeadersStatus status = entry.filter_->encodeHeaders(*response_headers_, end);
    if (status == FilterHeadersStatus::Continue) continue;
    entry.state_.held_headers = true;
    entry.state_.stop_all = status != FilterHeadersStatus::StopIteration;
    return;
  }
  if (destroyed_) return;
  if (end) local_complete_ = true;
  callbacks_.encodeHeaders(*response_headers_, end);
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
  for (size_t i = index; i < encoders_.size() && !destroyed_; ++i) {
    auto& entry = *encoders_[i];
    auto& st = entry.state_;
    if (!st.headers_done || st.stop_all || st.stopped_data || st.stopped_trailers) {
      bufferEncodedData(data);
      return;
    }
    FilterDataStatus status = entry.filter_->encodeData(data, end_stream && !encode_trailers_pending_);
    if (status == FilterDataStatus::Continue) {
      if (st.held_headers) {
        st.held_headers = false;
        encodeHeadersFrom(i + 1, true);
      }
      continue;
    }
    if (status == FilterDataStatus::StopIterationNoBuffer) return;
    st.stopped_data = true;
    bufferEncodedData(data);
    return;
  }
  if (destroyed_) return;
  bool end = end_stream && !encode_trailers_pending_;
  if (end) local_complete_ = true;
  stream_info_.bytes_sent += data.length();
  callbacks_.encodeData(data, end);
}

bool FilterManager::bufferEncodedData(buffer::Buffer& data) {
  encode_buffer_.move(data);
  if (encode_buffer_.length() <= buffer_limit_) return true;
  // Envoy: a response that outgrows a buffering encoder filter becomes a 500 if nothing has
  // been sent yet, else a reset.
  if (!local_complete_) {
    callbacks_.resetStream();
  }
  return false;
}

void FilterManager::encodeTrailersFromFilter(TrailerMapPtr trailers) {
  if (destroyed_) return;
  response_trailers_ = std::move(trailers);
  response_end_seen_ = true;
  encode_trailers_pending_ = true;
  for (auto& e : encoders_) {
    if (e->state_.stopped()) return;
  }
  encodeTrailersFrom(0);
}

void FilterManager::encodeTrailersFrom(size_t index) {
  for (size_t i = index; i < encoders_.size() && !destroyed_; ++i) {
    auto& entry = *encoders_[i];
    if (entry.state_.stopped()) return;
    if (entry.filter_->encodeTrailers(*response_trailers_) == FilterTrailersStatus::StopIteration) {
      entry.state_.stopped_trailers = true;
      return;
    }
  }
  if (destroyed_) return;
  encode_trailers_pending_ = false;
  local_complete_ = true;
  callbacks_.encodeTrailers(*response_trailers_);
}

void FilterManager::continueEncoding(size_t index) {
  if (destroyed_) return;
  auto& st = encoders_[index]->state_;
  bool headers_were_held = st.held_headers;
  bool trailers_were_held = st.stopped_trailers;
  st.held_headers = st.stop_all = st.stopped_data = st.stopped_trailers = false;
  if (headers_were_held) {
    encodeHeadersFrom(index + 1);
    if (destroyed_) return;
  }
  if (!encode_buffer_.empty()) {
    buffer::Buffer data;
    data.move(encode_buffer_);
    encodeDataFrom(index + 1, data, response_end_seen_ && !encode_trailers_pending_);
    if (destroyed_) return;
  }
  if (encode_trailers_pending_) {
    bool still_stopped = false;
    for (size_t i = 0; i <= index; ++i) still_stopped |= encoders_[i]->state_.stopped();
    if (!still_stopped) encodeTrailersFrom(trailers_were_held ? index + 1 : 0);
  }
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
