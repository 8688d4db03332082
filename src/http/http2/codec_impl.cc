#include "http/http2/codec_impl.h"

#include <algorithm>
#include <chrono>

#include "common/assert.h"
#include "common/random.h"
#include "stats/store.h"

namespace remora::http::http2 {

namespace {

ConnectionImpl* self(void* user_data) { return static_cast<ConnectionImpl*>(user_data); }

bool isConnectionSpecific(std::string_view key) {
  return key == headers::kConnection || key == headers::kKeepAlive ||
         key == headers::kProxyConnection || key == headers::kTransferEncoding ||
         key == headers::kUpgrade;
}

nghttp2_nv makeNv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

Http2Stats::Http2Stats(stats::Store& s, const std::string& p)
    : rx_reset(s.counter(p + "rx_reset")),
      tx_reset(s.counter(p + "tx_reset")),
      header_overflow(s.counter(p + "header_overflow")),
      rx_messaging_error(s.counter(p + "rx_messaging_error")),
      trailers(s.counter(p + "trailers")),
      goaway_sent(s.counter(p + "goaway_sent")),
      rx_protocol_error(s.counter(p + "rx_protocol_error")),
      keepalive_timeout(s.counter(p + "keepalive_timeout")),
      streams_active(s.gauge(p + "streams_active")) {}

std::vector<nghttp2_nv> toNghttp2Headers(const HeaderMap& headers) {
  std::vector<nghttp2_nv> nva;
  nva.reserve(headers.size());
  const bool has_authority = headers.has(headers::kAuthority);
  for (const auto& entry : headers) {
    const std::string_view key = entry.key;
    if (isConnectionSpecific(key)) continue;
    if (key == headers::kHost && has_authority) continue;
    if (key == headers::kTe) {
      // RFC 9113 §8.2.2: TE may only say "trailers" (gRPC needs it to cross).
      if (entry.value.find("trailers") != std::string::npos) nva.push_back(makeNv(key, "trailers"));
      continue;
    }
    nva.push_back(makeNv(key, entry.value));
  }
  return nva;
}

// ---- callbacks ----

const nghttp2_session_callbacks* ConnectionImpl::callbacks() {
  static const nghttp2_session_callbacks* kCallbacks = [] {
    nghttp2_session_callbacks* cb;
    RELEASE_ASSERT(nghttp2_session_callbacks_new(&cb) == 0, "nghttp2 callbacks");
    nghttp2_session_callbacks_set_send_callback(
        cb, [](nghttp2_session*, const uint8_t* data, size_t length, int, void* user) {
          return self(user)->onSend(data, length);
        });
    nghttp2_session_callbacks_set_send_data_callback(
        cb, [](nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd, size_t length,
               nghttp2_data_source* source,
               void* user) { return self(user)->onSendData(frame, framehd, length, source); });
    nghttp2_session_callbacks_set_on_begin_headers_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* frame, void* user) {
          return self(user)->onBeginHeaders(*frame);
        });
    nghttp2_session_callbacks_set_on_header_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
               const uint8_t* value, size_t valuelen, uint8_t, void* user) {
          return self(user)->onHeader(
              *frame, std::string_view(reinterpret_cast<const char*>(name), namelen),
              std::string_view(reinterpret_cast<const char*>(value), valuelen));
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* frame, void* user) {
          return self(user)->onFrameReceived(*frame);
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cb, [](nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
               void* user) { return self(user)->onDataChunk(stream_id, data, len); });
    nghttp2_session_callbacks_set_on_frame_send_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* frame, void* user) {
          return self(user)->onFrameSent(*frame);
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cb, [](nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user) {
          return self(user)->onStreamClosed(stream_id, error_code);
        });
    nghttp2_session_callbacks_set_on_begin_frame_callback(
        cb, [](nghttp2_session*, const nghttp2_frame_hd* hd, void* user) {
          return self(user)->onBeginFrame(*hd);
        });
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* frame, int error_code, void* user) {
          return self(user)->onInvalidFrame(*frame, error_code);
        });
    return cb;
  }();
  return kCallbacks;
}

// ---- ConnectionImpl ----

ConnectionImpl::ConnectionImpl(net::Connection& connection, const Http2Options& options,
                               Http2Stats* stats)
    : connection_(connection), options_(options), stats_(stats) {}

ConnectionImpl::~ConnectionImpl() {
  if (stats_) stats_->streams_active.sub(static_cast<int64_t>(streams_.size()));
  if (keepalive_send_timer_) keepalive_send_timer_->disableTimer();
  if (keepalive_timeout_timer_) keepalive_timeout_timer_->disableTimer();
  streams_.clear();
  if (session_) nghttp2_session_del(session_);
}

void ConnectionImpl::initialize(bool server) {
  server_ = server;
  nghttp2_option* option;
  RELEASE_ASSERT(nghttp2_option_new(&option) == 0, "nghttp2 option");
  // Window updates follow consumption (see the class comment).
  nghttp2_option_set_no_auto_window_update(option, 1);
  // nghttp2 otherwise keeps every closed stream (up to SETTINGS_MAX_CONCURRENT_STREAMS, 2^31-1
  // by default) for RFC 7540 priorities, which remora ignores: a long-lived connection would
  // grow by a few hundred bytes per request. As Envoy does; the cost is that a HEADERS on a
  // stream that closed normally is ignored instead of being a STREAM_CLOSED connection error.
  nghttp2_option_set_no_closed_streams(option, 1);
  int rv = server ? nghttp2_session_server_new2(&session_, callbacks(), this, option)
                  : nghttp2_session_client_new2(&session_, callbacks(), this, option);
  nghttp2_option_del(option);
  RELEASE_ASSERT(rv == 0, "nghttp2 session");

  std::vector<nghttp2_settings_entry> settings;
  if (options_.hpack_table_size != NGHTTP2_DEFAULT_HEADER_TABLE_SIZE) {
    settings.push_back({NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, options_.hpack_table_size});
  }
  settings.push_back({NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, nghttp2MaxStreams()});
  settings_rewrite_pending_ = nghttp2MaxStreams() != options_.max_concurrent_streams;
  settings.push_back({NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, options_.initial_stream_window_size});
  settings.push_back({NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, options_.max_header_list_kb * 1024});
  if (!server) settings.push_back({NGHTTP2_SETTINGS_ENABLE_PUSH, 0});
  // RFC 8441: only a server advertises extended CONNECT.
  if (server && options_.allow_connect) {
    settings.push_back({NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1});
  }
  rv = nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  RELEASE_ASSERT(rv == 0, "nghttp2 settings");
  if (options_.initial_connection_window_size > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE) {
    rv = nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                               options_.initial_connection_window_size);
    RELEASE_ASSERT(rv == 0, "nghttp2 connection window");
  }
  startKeepalive();
}

void ConnectionImpl::startKeepalive() {
  if (!options_.keepalive) return;
  auto& dispatcher = connection_.dispatcher();
  if (options_.keepalive_options.interval.count() > 0) {
    keepalive_send_timer_ = dispatcher.createTimer([this] { sendKeepalive(); });
  }
  keepalive_timeout_timer_ = dispatcher.createTimer([this] { onKeepaliveTimeout(); });
  onKeepaliveResponse();  // schedules the first PING
}

void ConnectionImpl::onKeepaliveResponse() {
  if (keepalive_timeout_timer_) keepalive_timeout_timer_->disableTimer();
  if (!keepalive_send_timer_) return;
  const auto& ka = options_.keepalive_options;
  const auto interval = ka.interval;
  const uint64_t jitter_range = static_cast<uint64_t>(static_cast<double>(interval.count()) *
                                                      ka.interval_jitter_percent / 100.0);
  const uint64_t jitter = jitter_range > 0 ? randomU64() % jitter_range : 0;
  keepalive_send_timer_->enableTimer(interval + std::chrono::milliseconds(jitter));
}

void ConnectionImpl::sendKeepalive() {
  if (closed_ || session_ == nullptr) return;
  // The payload is the time it was sent (as Envoy's), which helps reading a capture.
  const uint64_t now_ms =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  uint8_t opaque[8];
  for (int i = 0; i < 8; ++i) opaque[i] = static_cast<uint8_t>(now_ms >> (56 - 8 * i));
  nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, opaque);
  keepalive_timeout_timer_->enableTimer(options_.keepalive_options.timeout);
  sendPending();
}

void ConnectionImpl::onKeepaliveTimeout() {
  if (closed_) return;
  if (stats_) stats_->keepalive_timeout.inc();
  if (keepalive_send_timer_) keepalive_send_timer_->disableTimer();
  // The peer is gone (or wedged): nothing more can be written to it usefully. The owner's close
  // handling resets the streams in flight (ConnectionTermination).
  connection_.close(net::ConnectionCloseType::NoFlush);
}

CodecStatus ConnectionImpl::dispatch(buffer::Buffer& data) {
  if (error_ || closed_) {
    data.drain(data.length());
    return {!error_, error_details_};
  }
  dispatching_ = true;
  data.forEachSlice([this](std::string_view slice) {
    if (error_ || closed_) return;
    ssize_t rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(slice.data()),
                                          slice.size());
    if (rv < 0 && !error_) {
      // A bad client preface, a flood, or a callback that gave up: the connection is over.
      failConnection(rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC ? "http2.invalid_preface"
                                                        : "http2.codec_error");
    }
  });
  data.drain(data.length());
  dispatching_ = false;
  sendPending();
  if (error_) return {false, error_details_};
  return {};
}

void ConnectionImpl::failConnection(std::string_view details) {
  error_ = true;
  error_details_ = std::string(details);
  if (stats_) stats_->rx_protocol_error.inc();
  nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
}

void ConnectionImpl::sendPending() {
  if (dispatching_ || closed_ || session_ == nullptr) return;
  if (sending_) {
    send_again_ = true;
    return;
  }
  sending_ = true;
  do {
    send_again_ = false;
    if (nghttp2_session_send(session_) != 0) {
      error_ = true;
      error_details_ = "http2.codec_error";
      break;
    }
  } while (send_again_);
  sending_ = false;
  if (!out_.empty()) connection_.write(out_, false);
  closeIfDone();
}

void ConnectionImpl::closeIfDone() {
  if (closed_) return;
  if (error_ || (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_))) {
    // After GOAWAY with no stream left, or a connection error: what is queued (the GOAWAY)
    // still goes out.
    closed_ = true;
    connection_.close(net::ConnectionCloseType::FlushWriteAndDelay);
  }
}

void ConnectionImpl::shutdownNotice() {
  if (goaway_sent_ || closed_ || session_ == nullptr || !server_) return;
  nghttp2_submit_shutdown_notice(session_);
  sendPending();
}

void ConnectionImpl::goAway() {
  if (goaway_sent_ || closed_ || session_ == nullptr) return;
  goaway_sent_ = true;
  if (stats_) stats_->goaway_sent.inc();
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  sendPending();
}

void ConnectionImpl::refuseStream(int32_t stream_id) {
  // Counted in tx_reset when it goes out. No stream object: the header block is still decoded
  // (HPACK state), then dropped.
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_REFUSED_STREAM);
}

void ConnectionImpl::markClosed(StreamBase& stream) {
  if (stream.closed_) return;
  stream.closed_ = true;
  --open_streams_;
}

ConnectionImpl::StreamBase* ConnectionImpl::getStream(int32_t stream_id) {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second.get();
}

void ConnectionImpl::addStream(std::unique_ptr<StreamBase> stream) {
  if (stats_) stats_->streams_active.inc();
  ++open_streams_;
  if (above_watermark_) stream->runWatermark(true);
  const int32_t id = stream->stream_id_;
  streams_.emplace(id, std::move(stream));
}

void ConnectionImpl::maybeDestroy(StreamBase& stream) {
  if (!stream.closed_ || (!stream.reset_ && !stream.drained())) return;
  auto it = streams_.find(stream.stream_id_);
  if (it == streams_.end()) return;
  if (stats_) stats_->streams_active.dec();
  if (stream.deliver_timer_) stream.deliver_timer_->disableTimer();
  std::unique_ptr<StreamBase> owned = std::move(it->second);
  streams_.erase(it);
  connection_.dispatcher().deferredDelete(std::move(owned));
  // Last: the owner may close the connection from here (the stream lives until the loop's
  // deferred delete).
  onStreamRetired(stream);
}

uint32_t ConnectionImpl::nghttp2MaxStreams() const {
  // Only a server enforces the limit itself (a client's peer opens no streams). The headroom
  // above the configured limit covers refused streams whose RST_STREAM is not yet sent (nghttp2
  // counts them until then); a client racing that far past the limit in one burst meets
  // nghttp2's connection error, as RFC 9113 §5.4.1 allows.
  const uint64_t limit = options_.max_concurrent_streams;
  if (!server_ || limit >= NGHTTP2_INITIAL_MAX_CONCURRENT_STREAMS) return limit;
  return static_cast<uint32_t>(
      std::min<uint64_t>(limit + std::max<uint64_t>(limit, 100), 0x7fffffff));
}

std::string_view ConnectionImpl::advertiseMaxStreams(const uint8_t* data, size_t length,
                                                     std::string& scratch) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), length);
  // nghttp2 hands over one frame per call; the server's first is its SETTINGS (§3.4).
  if (length < 9 || data[3] != NGHTTP2_SETTINGS || (data[4] & NGHTTP2_FLAG_ACK) != 0) {
    return bytes;
  }
  settings_rewrite_pending_ = false;
  scratch.assign(bytes);
  const uint32_t limit = options_.max_concurrent_streams;
  for (size_t at = 9; at + 6 <= length; at += 6) {
    const uint16_t id = static_cast<uint16_t>((data[at] << 8) | data[at + 1]);
    if (id != NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) continue;
    for (int i = 0; i < 4; ++i) scratch[at + 2 + i] = static_cast<char>(limit >> (24 - 8 * i));
  }
  return scratch;
}

ssize_t ConnectionImpl::onSend(const uint8_t* data, size_t length) {
  if (settings_rewrite_pending_) {
    std::string scratch;
    const std::string_view bytes = advertiseMaxStreams(data, length, scratch);
    out_.add(bytes.data(), bytes.size());
    return static_cast<ssize_t>(length);
  }
  out_.add(data, length);
  return static_cast<ssize_t>(length);
}

int ConnectionImpl::onBeginFrame(const nghttp2_frame_hd& hd) {
  if (!server_ || hd.type != NGHTTP2_HEADERS || (hd.stream_id & 1) == 0) return 0;
  const int32_t id = hd.stream_id;
  if (id > highest_stream_id_) {
    // RFC 9113 §5.1.1: opening `id` closes the idle streams below it for good.
    if (id > highest_stream_id_ + 2) {
      if (skipped_ranges_.size() == kMaxSkippedRanges)
        skipped_ranges_.erase(skipped_ranges_.begin());
      skipped_ranges_.emplace_back(highest_stream_id_ + 2, id - 2);
    }
    highest_stream_id_ = id;
    return 0;
  }
  // A lower id: trailers (or a late frame) on a stream once opened is nghttp2's to judge; one
  // that was never opened is an unexpected stream identifier.
  for (const auto& [first, last] : skipped_ranges_) {
    if (id >= first && id <= last) {
      failConnection("http2.invalid_stream_id");
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
  }
  return 0;
}

int ConnectionImpl::onSendData(nghttp2_frame* frame, const uint8_t* framehd, size_t length,
                               nghttp2_data_source* source) {
  auto* stream = static_cast<StreamBase*>(source->ptr);
  out_.add(framehd, 9);
  // The payload moves slice by slice from the stream's queue: no copy.
  out_.move(stream->send_buffer_, length);
  stream->onSendBufferChanged();
  return 0;
}

int ConnectionImpl::onHeader(const nghttp2_frame& frame, std::string_view name,
                             std::string_view value) {
  StreamBase* stream = getStream(frame.hd.stream_id);
  if (stream == nullptr || stream->receiving_ == nullptr) return 0;
  HeaderMap& map = *stream->receiving_;
  // Envoy counts name and value bytes against max_request_headers_kb; over it, or over the
  // count, the stream is reset (nghttp2 answers a temporal failure with RST_STREAM).
  if (map.byteSize() + name.size() + value.size() > options_.max_header_list_kb * 1024 ||
      map.size() >= options_.max_headers_count) {
    if (stats_) stats_->header_overflow.inc();
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  if (name == "cookie") {
    // RFC 9113 §8.2.3: crumbs are joined with "; " before reaching an HTTP/1 hop.
    if (const std::string* existing = map.get(name)) {
      std::string joined = *existing + "; ";
      joined.append(value);
      map.set(name, joined);
      return 0;
    }
  }
  map.add(name, value);
  return 0;
}

int ConnectionImpl::onFrameReceived(const nghttp2_frame& frame) {
  const bool end_stream = (frame.hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (end_stream && !server_) {
    // The response is complete: a request still being sent is not wanted any more; the
    // exchange ends here (the router lets go of the stream on the response's end).
    StreamBase* stream = getStream(frame.hd.stream_id);
    if (stream != nullptr && !stream->local_end_ && !stream->reset_ && !stream->tunnel_) {
      stream->done_early_ = true;
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, frame.hd.stream_id, NGHTTP2_NO_ERROR);
    }
  }
  switch (frame.hd.type) {
    case NGHTTP2_HEADERS: {
      StreamBase* stream = getStream(frame.hd.stream_id);
      if (stream == nullptr || stream->receiving_ == nullptr) return 0;
      if (end_stream) stream->remote_end_ = true;
      onHeadersComplete(*stream, frame);
      break;
    }
    case NGHTTP2_DATA: {
      StreamBase* stream = getStream(frame.hd.stream_id);
      if (stream == nullptr) return 0;
      if (end_stream) stream->remote_end_ = true;
      stream->onDataFrame(end_stream);
      break;
    }
    case NGHTTP2_RST_STREAM: {
      if (stats_) stats_->rx_reset.inc();
      if (StreamBase* stream = getStream(frame.hd.stream_id)) stream->rst_received_ = true;
      break;
    }
    case NGHTTP2_GOAWAY:
      goaway_received_ = true;
      onGoAwayReceived();
      break;
    case NGHTTP2_SETTINGS:
      if ((frame.hd.flags & NGHTTP2_FLAG_ACK) == 0) onSettingsReceived();
      break;
    case NGHTTP2_PING:
      if ((frame.hd.flags & NGHTTP2_FLAG_ACK) != 0 && keepalive_timeout_timer_) {
        onKeepaliveResponse();
      }
      break;
    default:
      break;
  }
  return 0;
}

int ConnectionImpl::onDataChunk(int32_t stream_id, const uint8_t* data, size_t len) {
  // The connection window comes back at once: only the stream's window holds a slow consumer.
  nghttp2_session_consume_connection(session_, len);
  StreamBase* stream = getStream(stream_id);
  if (stream == nullptr) return 0;
  if (stream->reset_) return 0;
  stream->recv_buffer_.add(data, len);
  if (stream->read_disables_ == 0) {
    nghttp2_session_consume_stream(session_, stream_id, len);
  } else {
    stream->unconsumed_ += len;
  }
  return 0;
}

int ConnectionImpl::onFrameSent(const nghttp2_frame& frame) {
  if (frame.hd.type == NGHTTP2_RST_STREAM) {
    if (stats_) stats_->tx_reset.inc();
    return 0;
  }
  if (frame.hd.type == NGHTTP2_GOAWAY && frame.goaway.error_code != NGHTTP2_NO_ERROR) {
    // nghttp2 found a connection error in what the peer sent.
    if (!error_) {
      error_ = true;
      error_details_ = "http2.codec_error";
      if (stats_) stats_->rx_protocol_error.inc();
    }
    return 0;
  }
  if ((frame.hd.type == NGHTTP2_HEADERS || frame.hd.type == NGHTTP2_DATA) &&
      (frame.hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
    StreamBase* stream = getStream(frame.hd.stream_id);
    if (stream == nullptr) return 0;
    stream->local_end_sent_ = true;
    if (server_ && !stream->remote_end_ && !stream->reset_ && !stream->tunnel_) {
      // RFC 9113 §8.1: a complete response ends the exchange; the rest of the request is not
      // wanted.
      stream->done_early_ = true;
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, frame.hd.stream_id, NGHTTP2_NO_ERROR);
      send_again_ = true;
    }
  }
  return 0;
}

int ConnectionImpl::onInvalidFrame(const nghttp2_frame& frame, int) {
  if (stats_) stats_->rx_messaging_error.inc();
  if (StreamBase* stream = getStream(frame.hd.stream_id)) stream->messaging_error_ = true;
  return 0;
}

int ConnectionImpl::onStreamClosed(int32_t stream_id, uint32_t error_code) {
  StreamBase* stream = getStream(stream_id);
  if (stream == nullptr) return 0;
  markClosed(*stream);
  if (!stream->reset_ && !stream->complete()) {
    StreamResetReason reason = StreamResetReason::LocalReset;
    if (stream->rst_received_) {
      reason = error_code == NGHTTP2_REFUSED_STREAM ? StreamResetReason::RemoteRefusedStreamReset
                                                    : StreamResetReason::RemoteReset;
    } else if (error_code == NGHTTP2_REFUSED_STREAM) {
      // Beyond a GOAWAY's last stream: the peer never processed it.
      reason = StreamResetReason::RemoteRefusedStreamReset;
    } else if (stream->messaging_error_ || error_code == NGHTTP2_PROTOCOL_ERROR) {
      reason = StreamResetReason::ProtocolError;
    } else if (error_ && !server_) {
      reason = StreamResetReason::ProtocolError;  // as onConnectionClosed() says
    } else if (error_ || goaway_received_) {
      reason = StreamResetReason::ConnectionTermination;
    }
    stream->reset_ = true;
    stream->recv_buffer_.drain(stream->recv_buffer_.length());
    stream->pending_trailers_in_.reset();
    stream->runResetCallbacks(reason,
                              stream->messaging_error_ ? "http2.violation_of_messaging_rule" : "");
  }
  maybeDestroy(*stream);
  return 0;
}

void ConnectionImpl::onConnectionClosed() {
  if (keepalive_send_timer_) keepalive_send_timer_->disableTimer();
  if (keepalive_timeout_timer_) keepalive_timeout_timer_->disableTimer();
  if (closed_ && streams_.empty()) return;
  closed_ = true;
  // Upstream, a connection that ended on the peer's protocol error fails its streams with that
  // reason (Envoy's codec client: "reset reason: protocol error"); downstream the connection
  // manager counts the error itself and its streams end by connection termination.
  const StreamResetReason reason = error_ && !server_ ? StreamResetReason::ProtocolError
                                                      : StreamResetReason::ConnectionTermination;
  std::vector<StreamBase*> live;
  for (auto& [id, stream] : streams_) live.push_back(stream.get());
  for (StreamBase* stream : live) {
    markClosed(*stream);
    if (!stream->reset_ && !stream->complete()) {
      stream->reset_ = true;
      stream->runResetCallbacks(reason, "");
    }
    stream->reset_ = true;  // nothing more is delivered
    maybeDestroy(*stream);
  }
}

void ConnectionImpl::onUnderlyingConnectionAboveWriteBufferHighWatermark() {
  above_watermark_ = true;
  std::vector<StreamBase*> live;
  for (auto& [id, stream] : streams_) live.push_back(stream.get());
  for (StreamBase* stream : live) stream->runWatermark(true);
}

void ConnectionImpl::onUnderlyingConnectionBelowWriteBufferLowWatermark() {
  above_watermark_ = false;
  std::vector<StreamBase*> live;
  for (auto& [id, stream] : streams_) live.push_back(stream.get());
  for (StreamBase* stream : live) stream->runWatermark(false);
}

// ---- StreamBase ----

void ConnectionImpl::StreamBase::addCallbacks(StreamCallbacks& callbacks) {
  callbacks_.push_back(&callbacks);
}

void ConnectionImpl::StreamBase::removeCallbacks(StreamCallbacks& callbacks) {
  callbacks_.erase(std::remove(callbacks_.begin(), callbacks_.end(), &callbacks), callbacks_.end());
}

void ConnectionImpl::StreamBase::resetStream(StreamResetReason reason) {
  if (reset_) return;
  reset_ = true;
  recv_buffer_.drain(recv_buffer_.length());
  pending_trailers_in_.reset();
  send_buffer_.drain(send_buffer_.length());
  if (!closed_ && stream_id_ > 0 && !parent_.closed_) {
    // Envoy resets with NO_ERROR, or REFUSED_STREAM when the stream was never served.
    nghttp2_submit_rst_stream(
        parent_.session_, NGHTTP2_FLAG_NONE, stream_id_,
        reason == StreamResetReason::Overflow ? NGHTTP2_REFUSED_STREAM : NGHTTP2_NO_ERROR);
  }
  runResetCallbacks(reason, "");
  ConnectionImpl& parent = parent_;
  parent.maybeDestroy(*this);  // may delete this (deferred)
  parent.sendPending();
}

void ConnectionImpl::StreamBase::readDisable(bool disable) {
  if (disable) {
    ++read_disables_;
    return;
  }
  if (read_disables_ == 0) return;
  if (--read_disables_ > 0 || reset_) return;
  // Reading resumes: the window the held bytes occupied goes back to the peer, and what was
  // held is delivered on the next loop iteration (not from inside the consumer's call).
  if (unconsumed_ > 0 && !closed_ && !parent_.closed_) {
    nghttp2_session_consume_stream(parent_.session_, stream_id_, unconsumed_);
    unconsumed_ = 0;
    parent_.sendPending();
  }
  if (!drained() || (remote_end_ && !remote_end_delivered_)) {
    if (!deliver_timer_) {
      deliver_timer_ = parent_.connection_.dispatcher().createTimer([this] { deliverReceived(); });
    }
    deliver_timer_->enableTimer(std::chrono::milliseconds(0));
  }
}

void ConnectionImpl::StreamBase::onDataFrame(bool end_stream) {
  if (reset_ || read_disables_ > 0) return;  // held: deliverReceived() passes it on later
  if (recv_buffer_.empty() && !end_stream) return;
  if (end_stream) remote_end_delivered_ = true;
  buffer::Buffer data;
  data.move(recv_buffer_);
  decodeData(data, end_stream);
  if (closed_) parent_.maybeDestroy(*this);
}

void ConnectionImpl::StreamBase::onHeadersBlock(HeaderMapPtr headers, bool end_stream,
                                                bool trailers) {
  if (reset_) return;
  if (!trailers) {
    if (end_stream) remote_end_delivered_ = true;
    decodeHeaders(std::move(headers), end_stream);
    return;
  }
  if (parent_.stats_) parent_.stats_->trailers.inc();
  if (read_disables_ > 0 || !recv_buffer_.empty()) {
    pending_trailers_in_ = std::move(headers);
    return;
  }
  remote_end_delivered_ = true;
  decodeTrailers(std::move(headers));
}

void ConnectionImpl::StreamBase::deliverReceived() {
  if (reset_ || read_disables_ > 0) return;
  const bool trailers = pending_trailers_in_ != nullptr;
  const bool end = remote_end_ && !remote_end_delivered_ && !trailers;
  if (!recv_buffer_.empty() || end) {
    if (end) remote_end_delivered_ = true;
    buffer::Buffer data;
    data.move(recv_buffer_);
    decodeData(data, end);
  }
  if (!reset_ && read_disables_ == 0 && pending_trailers_in_ != nullptr) {
    remote_end_delivered_ = true;
    decodeTrailers(std::move(pending_trailers_in_));
  }
  if (closed_) parent_.maybeDestroy(*this);
}

bool ConnectionImpl::StreamBase::submitHeaders(const HeaderMap& headers, bool end_stream,
                                               bool request) {
  std::vector<nghttp2_nv> nva = toNghttp2Headers(headers);
  nghttp2_data_provider provider;
  provider.source.ptr = this;
  provider.read_callback = &StreamBase::readCallback;
  nghttp2_data_provider* data = end_stream ? nullptr : &provider;
  headers_sent_ = true;
  if (end_stream) local_end_ = true;
  if (request) {
    int32_t id =
        nghttp2_submit_request(parent_.session_, nullptr, nva.data(), nva.size(), data, this);
    if (id < 0) return false;
    stream_id_ = id;
  } else {
    if (nghttp2_submit_response(parent_.session_, stream_id_, nva.data(), nva.size(), data) != 0) {
      return false;
    }
  }
  return true;
}

void ConnectionImpl::StreamBase::submitInformational(const HeaderMap& headers) {
  std::vector<nghttp2_nv> nva = toNghttp2Headers(headers);
  nghttp2_submit_headers(parent_.session_, NGHTTP2_FLAG_NONE, stream_id_, nullptr, nva.data(),
                         nva.size(), nullptr);
  parent_.sendPending();
}

void ConnectionImpl::StreamBase::encodeDataImpl(buffer::Buffer& data, bool end_stream) {
  if (reset_ || local_end_ || !headers_sent_ || closed_) {
    data.drain(data.length());
    return;
  }
  send_buffer_.move(data);
  if (end_stream) local_end_ = true;
  if (data_deferred_) {
    data_deferred_ = false;
    nghttp2_session_resume_data(parent_.session_, stream_id_);
  }
  onSendBufferChanged();
  parent_.sendPending();
}

void ConnectionImpl::StreamBase::encodeTrailersImpl(const TrailerMap& trailers) {
  if (reset_ || local_end_ || !headers_sent_ || closed_) return;
  if (!trailers.empty()) pending_trailers_out_ = std::make_unique<TrailerMap>(trailers);
  buffer::Buffer none;
  encodeDataImpl(none, true);
}

ssize_t ConnectionImpl::StreamBase::readCallback(nghttp2_session*, int32_t, uint8_t*, size_t length,
                                                 uint32_t* data_flags, nghttp2_data_source* source,
                                                 void*) {
  return static_cast<StreamBase*>(source->ptr)->onReadData(length, data_flags);
}

ssize_t ConnectionImpl::StreamBase::onReadData(size_t length, uint32_t* data_flags) {
  const size_t n = std::min(length, send_buffer_.length());
  if (n == send_buffer_.length() && local_end_) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    if (pending_trailers_out_ != nullptr) {
      // The trailers carry END_STREAM instead of this DATA frame.
      *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      std::vector<nghttp2_nv> nva = toNghttp2Headers(*pending_trailers_out_);
      nghttp2_submit_trailer(parent_.session_, stream_id_, nva.data(), nva.size());
      pending_trailers_out_.reset();
    }
  } else if (n == 0) {
    data_deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  return static_cast<ssize_t>(n);
}

void ConnectionImpl::StreamBase::onSendBufferChanged() {
  const size_t queued = send_buffer_.length();
  const size_t limit = parent_.options_.buffer_limit;
  if (limit == 0) return;  // no per_connection_buffer_limit_bytes: never pause the producer
  if (!send_above_ && queued > limit) {
    send_above_ = true;
    runWatermark(true);
  } else if (send_above_ && queued <= limit / 2) {
    send_above_ = false;
    runWatermark(false);
  }
}

void ConnectionImpl::StreamBase::runResetCallbacks(StreamResetReason reason,
                                                   std::string_view details) {
  auto callbacks = callbacks_;  // a callback may remove itself
  for (StreamCallbacks* cb : callbacks) cb->onResetStream(reason, details);
}

void ConnectionImpl::StreamBase::runWatermark(bool above) {
  auto callbacks = callbacks_;
  for (StreamCallbacks* cb : callbacks) {
    if (above) {
      cb->onAboveWriteBufferHighWatermark();
    } else {
      cb->onBelowWriteBufferLowWatermark();
    }
  }
}

}  // namespace remora::http::http2
