#include "http/codec1/client_codec.h"

#include <algorithm>

#include "common/assert.h"
#include "http/http1/chars.h"

namespace remora::http::codec1 {

namespace {

http1::ChunkedDecoderLimits chunkedLimits(const ClientCodecOptions& options) {
  http1::ChunkedDecoderLimits limits;
  limits.max_trailer_bytes = static_cast<size_t>(options.max_response_headers_kb) * 1024;
  limits.max_trailers = options.max_headers_count;
  return limits;
}

http1::ResponseParserLimits parserLimits(const ClientCodecOptions& options) {
  http1::ResponseParserLimits limits;
  limits.max_head_bytes = static_cast<size_t>(options.max_response_headers_kb) * 1024;
  limits.max_headers = options.max_headers_count;
  return limits;
}

// Methods whose empty body is still worth a "content-length: 0" (servers may insist on framing).
bool expectsBody(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH";
}

void appendChunk(buffer::Buffer& out, buffer::Buffer& data) {
  char size[20];
  int n = std::snprintf(size, sizeof(size), "%zx\r\n", data.length());
  out.add(size, static_cast<size_t>(n));
  out.move(data);
  out.add("\r\n");
}

}  // namespace

// The request being sent and the decoder its response goes to.
class ClientCodecImpl::ActiveRequest : public RequestEncoder,
                                       public Stream,
                                       public event::DeferredDeletable {
 public:
  ActiveRequest(ClientCodecImpl& codec, ResponseDecoder& decoder)
      : codec_(codec), decoder_(decoder) {}

  // RequestEncoder
  void encodeHeaders(const RequestHeaderMap& headers, bool end_stream) override {
    if (reset_ || headers_sent_) return;
    headers_sent_ = true;
    // Whatever the socket accepted before this point belongs to earlier requests.
    wire_mark_ = codec_.connection_.bytesSent();
    const std::string_view method = headers.method();
    head_request_ = method == "HEAD";
    std::string& head = headScratch();
    head.append(method);
    head.push_back(' ');
    const std::string_view host = headers.host();
    head.append(method == "CONNECT" ? host : headers.path());
    head.append(" HTTP/1.1\r\n");
    if (!host.empty()) {
      head.append("host: ");
      head.append(host);
      head.append("\r\n");
    }
    appendHeaderLines(headers, head, headers::kHost);
    // A CONNECT is sent like an upgrade: a 2xx answer turns the connection into its tunnel.
    connect_ = method == "CONNECT";
    upgrade_ = connect_ || isUpgrade(headers);
    if (upgrade_) {
      // Unframed: what follows the head is the upgraded protocol's, once the upstream agrees.
    } else if (!headers.has(headers::kContentLength)) {
      if (!end_stream) {
        chunked_ = true;
        head.append("transfer-encoding: chunked\r\n");
      } else if (expectsBody(method)) {
        head.append("content-length: 0\r\n");
      }
    }
    head.append("\r\n");
    buffer::Buffer out;
    out.add(head);
    codec_.connection_.write(out, false);
    if (end_stream) request_complete_ = true;
  }

  void encodeData(buffer::Buffer& data, bool end_stream) override {
    if (reset_ || request_complete_ || !headers_sent_) {
      data.drain(data.length());
      return;
    }
    if (upgrade_) {
      encodeUpgradeData(data, end_stream);
      return;
    }
    buffer::Buffer out;
    if (chunked_) {
      if (!data.empty()) appendChunk(out, data);
      if (end_stream) out.add("0\r\n\r\n");
    } else {
      out.move(data);
    }
    if (!out.empty()) codec_.connection_.write(out, false);
    if (end_stream) request_complete_ = true;
  }

  void encodeTrailers(const TrailerMap& trailers) override {
    if (reset_ || request_complete_ || !headers_sent_) return;
    if (upgrade_) {
      buffer::Buffer none;
      encodeUpgradeData(none, true);
      return;
    }
    if (chunked_) {
      std::string tail = "0\r\n";
      if (codec_.options_.enable_trailers) appendHeaderLines(trailers, tail);
      tail.append("\r\n");
      buffer::Buffer out;
      out.add(tail);
      codec_.connection_.write(out, false);
    }
    request_complete_ = true;
  }

  Stream& getStream() override { return *this; }
  bool requestBytesSent() const override {
    return headers_sent_ && codec_.connection_.bytesSent() > wire_mark_;
  }

  // Stream
  void addCallbacks(StreamCallbacks& callbacks) override { callbacks_.push_back(&callbacks); }
  void removeCallbacks(StreamCallbacks& callbacks) override {
    callbacks_.erase(std::remove(callbacks_.begin(), callbacks_.end(), &callbacks),
                     callbacks_.end());
  }
  void resetStream(StreamResetReason reason) override {
    if (reset_) return;
    reset_ = true;
    codec_.error_ = true;  // the connection is gone with it
    codec_.connection_.close(net::ConnectionCloseType::NoFlush);
    runReset(reason, "");
  }
  void readDisable(bool disable) override {
    if (disable) {
      ++read_disables_;
    } else {
      if (read_disables_ == 0) return;
      --read_disables_;
    }
    codec_.connection_.readDisable(disable);
  }
  uint32_t bufferLimit() const override { return codec_.options_.buffer_limit; }

  void runReset(StreamResetReason reason, std::string_view details) {
    reset_ = true;
    auto callbacks = callbacks_;
    for (StreamCallbacks* cb : callbacks) cb->onResetStream(reason, details);
  }
  void runWatermark(bool above) {
    auto callbacks = callbacks_;
    for (StreamCallbacks* cb : callbacks) {
      if (above) {
        cb->onAboveWriteBufferHighWatermark();
      } else {
        cb->onBelowWriteBufferLowWatermark();
      }
    }
  }
  void undoReadDisables() {
    for (; read_disables_ > 0; --read_disables_) codec_.connection_.readDisable(false);
  }

  // Request bytes of an upgrade: held until the 101, then written raw; the end is our FIN.
  void encodeUpgradeData(buffer::Buffer& data, bool end_stream) {
    if (!upgraded_) {
      held_.move(data);
      held_end_ = end_stream;
      const uint32_t limit = codec_.options_.buffer_limit;
      if (limit > 0 && held_.length() > limit) {
        // A client that streams before the handshake completes is not a WebSocket client.
        resetStream(StreamResetReason::LocalReset);
      }
      return;
    }
    codec_.connection_.write(data, end_stream);
    if (end_stream) {
      request_complete_ = true;
      codec_.maybeFinishUpgrade();
    }
  }

  // The 101 arrived: what the client sent meanwhile goes out now.
  void flushHeld() {
    if (held_.empty() && !held_end_) return;
    const bool end = held_end_;
    held_end_ = false;
    codec_.connection_.write(held_, end);
    if (end) request_complete_ = true;
  }

  ClientCodecImpl& codec_;
  ResponseDecoder& decoder_;
  bool upgrade_ = false;         // an upgrade request (or a CONNECT)
  bool connect_ = false;         // a CONNECT request
  bool upgraded_ = false;        // ... answered with 101
  bool response_ended_ = false;  // the upstream's FIN after the 101
  buffer::Buffer held_;
  bool held_end_ = false;
  bool head_request_ = false;
  bool headers_sent_ = false;
  bool request_complete_ = false;
  bool chunked_ = false;
  bool reset_ = false;
  uint64_t wire_mark_ = 0;  // the connection's bytesSent() when this request began
  uint32_t read_disables_ = 0;
  std::vector<StreamCallbacks*> callbacks_;
};

ClientCodecImpl::ClientCodecImpl(net::Connection& connection, ClientCodecOptions options)
    : connection_(connection),
      options_(options),
      parser_(parserLimits(options_)),
      body_(chunkedLimits(options_)) {}

ClientCodecImpl::~ClientCodecImpl() = default;

RequestEncoder& ClientCodecImpl::newStream(ResponseDecoder& decoder) {
  RELEASE_ASSERT(active_ == nullptr, "HTTP/1 carries one request at a time");
  active_ = std::make_unique<ActiveRequest>(*this, decoder);
  state_ = State::Head;
  parser_.reset();
  head_bytes_.clear();
  if (above_watermark_) active_->runWatermark(true);
  return *active_;
}

bool ClientCodecImpl::reusable() const {
  return active_ == nullptr && !error_ && !closed_ && keep_alive_ && !request_incomplete_ &&
         pending_.empty() && connection_.state() == net::Connection::State::Open;
}

CodecStatus ClientCodecImpl::dispatch(buffer::Buffer& data) {
  if (error_) {
    data.drain(data.length());
    return {false, error_details_};
  }
  pending_.move(data);
  return process();
}

CodecStatus ClientCodecImpl::process() {
  while (!error_ && !pending_.empty()) {
    // Nothing asked for these bytes: the upstream is confused (or smuggling); never let them
    // become the answer to the next request.
    if (active_ == nullptr) return protocolError("http1.unexpected_response_data");
    if (state_ == State::Head) {
      const size_t limit = static_cast<size_t>(options_.max_response_headers_kb) * 1024 + 1;
      const size_t want = std::min(pending_.length(), limit);
      const size_t have = head_bytes_.size();
      if (want > have) {
        head_bytes_.resize(want);
        pending_.copyOut(have, want - have, head_bytes_.data() + have);
      }
      http1::ParseResult r = parser_.parse(head_bytes_);
      if (r.status == http1::ParseStatus::NeedMore) break;
      if (r.status == http1::ParseStatus::Error) return protocolError("http1.codec_error");
      pending_.drain(r.consumed);
      CodecStatus s = onHead(parser_.head());
      if (!s.ok) return s;
      continue;
    }
    if (state_ == State::Upgraded) {
      buffer::Buffer data;
      data.move(pending_);
      if (!active_->response_ended_) active_->decoder_.decodeData(data, false);
      break;
    }
    CodecStatus s = readBody();
    if (!s.ok) return s;
    if (active_ != nullptr && state_ == State::Body) break;
  }
  if (error_) return {false, error_details_};
  return {};
}

CodecStatus ClientCodecImpl::onHead(const http1::ResponseHead& head) {
  auto map = std::make_unique<HeaderMap>();
  map->add(headers::kStatus, std::to_string(head.status));
  addFields(head.headers, *map);
  if (head.status == 101) {
    // Only an upgrade request may be switched; otherwise the bytes after it are not HTTP/1.
    if (!active_->upgrade_ || active_->connect_) return protocolError("http1.codec_error");
    onUpgraded(std::move(map));
    return {};
  }
  if (active_->connect_ && head.status >= 200 && head.status < 300) {
    onUpgraded(std::move(map));  // RFC 9110 §9.3.6: the tunnel starts after the head
    return {};
  }
  ActiveRequest& request = *active_;
  if (head.informational()) {
    parser_.reset();
    head_bytes_.clear();
    request.decoder_.decode1xxHeaders(std::move(map));
    return {};
  }
  keep_alive_ = head.keep_alive;
  if (request.head_request_ || head.status == 204 || head.status == 304) {
    body_.start(BodyReader::Mode::None);
  } else if (head.chunked) {
    body_.start(BodyReader::Mode::Chunked);
  } else if (head.content_length.has_value()) {
    body_.start(
        head.content_length == 0u ? BodyReader::Mode::None : BodyReader::Mode::ContentLength,
        *head.content_length);
  } else {
    keep_alive_ = false;  // the body ends with the connection
    body_.start(BodyReader::Mode::CloseDelimited);
  }
  ResponseDecoder& decoder = request.decoder_;
  if (body_.mode() == BodyReader::Mode::None) {
    onResponseComplete();
    decoder.decodeHeaders(std::move(map), true);
    return {};
  }
  state_ = State::Body;
  decoder.decodeHeaders(std::move(map), false);
  return {};
}

CodecStatus ClientCodecImpl::readBody() {
  buffer::Buffer data;
  http1::ParseResult r = body_.read(pending_, data);
  if (r.status == http1::ParseStatus::Error) return protocolError("http1.codec_error");
  ResponseDecoder& decoder = active_->decoder_;
  if (r.status == http1::ParseStatus::NeedMore) {
    if (!data.empty()) decoder.decodeData(data, false);
    return {};
  }
  const bool has_trailers = !body_.trailers().empty() && options_.enable_trailers;
  TrailerMapPtr trailers;
  if (has_trailers) {
    trailers = std::make_unique<HeaderMap>();
    addFields(body_.trailers(), *trailers);
  }
  // Retire first: a decoder that starts the next request from its callback must find the
  // codec ready for it.
  onResponseComplete();
  if (has_trailers) {
    if (!data.empty()) decoder.decodeData(data, false);
    decoder.decodeTrailers(std::move(trailers));
  } else {
    decoder.decodeData(data, true);
  }
  return {};
}

void ClientCodecImpl::onResponseComplete() {
  request_incomplete_ = !active_->request_complete_;
  active_->reset_ = true;  // done: late encodes and resets from the router are ignored
  active_->undoReadDisables();
  connection_.dispatcher().deferredDelete(std::move(active_));
  state_ = State::Head;
}

void ClientCodecImpl::onUpgraded(ResponseHeaderMapPtr headers) {
  state_ = State::Upgraded;
  keep_alive_ = false;  // the connection belongs to this exchange for good
  ActiveRequest& request = *active_;
  request.upgraded_ = true;
  // The upstream's FIN must end its direction only, not the connection.
  connection_.enableHalfClose(true);
  request.flushHeld();
  request.decoder_.decodeHeaders(std::move(headers), false);
}

void ClientCodecImpl::onPeerHalfClose() {
  if (state_ != State::Upgraded || active_ == nullptr || active_->reset_ ||
      active_->response_ended_) {
    return;
  }
  active_->response_ended_ = true;
  buffer::Buffer none;
  active_->decoder_.decodeData(none, true);
  maybeFinishUpgrade();
}

void ClientCodecImpl::maybeFinishUpgrade() {
  if (active_ == nullptr || !active_->response_ended_ || !active_->request_complete_) return;
  // Both directions are done; the connection closes itself once our FIN is out (half-close).
  active_->reset_ = true;  // late encodes and resets from the router are ignored
  active_->undoReadDisables();
  connection_.dispatcher().deferredDelete(std::move(active_));
}

CodecStatus ClientCodecImpl::protocolError(std::string_view details) {
  error_ = true;
  error_details_ = std::string(details);
  if (active_ != nullptr && !active_->reset_) {
    active_->reset_ = true;
    connection_.close(net::ConnectionCloseType::NoFlush);
    // A reset's details are a transport failure reason (the router prints them as Envoy's
    // "transport failure reason"); a malformed response is not one.
    active_->runReset(StreamResetReason::ProtocolError, "");
  } else {
    connection_.close(net::ConnectionCloseType::NoFlush);
  }
  return {false, error_details_};
}

void ClientCodecImpl::onUnderlyingConnectionAboveWriteBufferHighWatermark() {
  above_watermark_ = true;
  if (active_ != nullptr) active_->runWatermark(true);
}

void ClientCodecImpl::onUnderlyingConnectionBelowWriteBufferLowWatermark() {
  above_watermark_ = false;
  if (active_ != nullptr) active_->runWatermark(false);
}

void ClientCodecImpl::onConnectionClosed() {
  closed_ = true;
  if (active_ == nullptr || active_->reset_) return;
  if (state_ == State::Upgraded) {
    active_->runReset(StreamResetReason::ConnectionTermination, "");
    return;
  }
  if (state_ == State::Body && body_.mode() == BodyReader::Mode::CloseDelimited && !error_) {
    // The close is this response's end.
    buffer::Buffer data;
    data.move(pending_);
    ResponseDecoder& decoder = active_->decoder_;
    onResponseComplete();
    decoder.decodeData(data, true);
    return;
  }
  active_->runReset(StreamResetReason::ConnectionTermination, "");
}

}  // namespace remora::http::codec1
