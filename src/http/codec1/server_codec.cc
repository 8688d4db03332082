#include "http/codec1/server_codec.h"

#include <algorithm>
#include <chrono>

#include "common/assert.h"
#include "http/http1/chars.h"

namespace remora::http::codec1 {

namespace {

http1::ChunkedDecoderLimits chunkedLimits(const ServerCodecOptions& options) {
  http1::ChunkedDecoderLimits limits;
  limits.max_trailer_bytes = static_cast<size_t>(options.max_request_headers_kb) * 1024;
  limits.max_trailers = options.max_headers_count;
  return limits;
}

http1::RequestParserLimits parserLimits(const ServerCodecOptions& options) {
  http1::RequestParserLimits limits;
  limits.max_head_bytes = static_cast<size_t>(options.max_request_headers_kb) * 1024;
  limits.max_headers = options.max_headers_count;
  return limits;
}

std::string toLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  return out;
}

void appendHex(uint64_t n, std::string& out) {
  char buf[17];
  int i = 16;
  buf[i] = '\0';
  do {
    buf[--i] = "0123456789abcdef"[n & 0xf];
    n >>= 4;
  } while (n != 0);
  out.append(buf + i, static_cast<size_t>(16 - i));
}

}  // namespace

// The one in-flight exchange: the response encoder handed to the connection manager, and the
// request's facts that decide how the response is framed.
class ServerCodecImpl::ActiveStream : public ResponseEncoder,
                                      public Stream,
                                      public event::DeferredDeletable {
 public:
  explicit ActiveStream(ServerCodecImpl& codec) : codec_(codec) {}

  // ResponseEncoder
  void encode1xxHeaders(const ResponseHeaderMap& headers) override {
    // RFC 9110 §15.2: no 1xx to an HTTP/1.0 client.
    if (reset_ || response_started_ || http10_) return;
    const uint32_t status = headers.status();
    std::string head = "HTTP/1.1 " + std::to_string(status) + " ";
    head.append(reasonPhrase(status));
    head.append("\r\n");
    appendHeaderLines(headers, head, headers::kContentLength);
    head.append("\r\n");
    buffer::Buffer out;
    out.add(head);
    codec_.write(out);
  }

  void encodeHeaders(const ResponseHeaderMap& headers, bool end_stream) override {
    if (reset_ || response_started_) return;
    response_started_ = true;
    const uint32_t status = headers.status();
    if (upgrade_request_ && (connect_request_ ? status >= 200 && status < 300 : status == 101)) {
      encodeUpgradeHeaders(headers, end_stream);
      return;
    }
    std::string& head = headScratch();
    // An HTTP/1.0 request is answered in its own version, as Envoy does with accept_http_10.
    head.append(http10_ ? "HTTP/1.0 " : "HTTP/1.1 ");
    head.append(std::to_string(status));
    head.push_back(' ');
    head.append(reasonPhrase(status));
    head.append("\r\n");
    // HEAD keeps its Content-Length (it describes the GET), but no status here carries a body.
    bodiless_ = head_request_ || status < 200 || status == 204 || status == 304;
    // A response that starts before its request ended leaves unread body bytes on the wire, so
    // the connection cannot carry another request.
    if (!request_keep_alive_ || !request_complete_ || codec_.error_ ||
        connectionHas(headers, "close")) {
      close_after_ = true;
    }
    // RFC 9110 §8.6: no Content-Length in a 1xx or 204 response, whatever the upstream sent.
    const bool no_length = status < 200 || status == 204;
    appendHeaderLines(headers, head, headers::kConnection,
                      no_length ? headers::kContentLength : std::string_view());
    if (!headers.has(headers::kContentLength)) {
      if (end_stream) {
        if (!bodiless_) head.append("content-length: 0\r\n");
      } else if (!bodiless_) {
        if (http10_) {
          close_after_ = true;  // HTTP/1.0 has no chunking: the body ends with the connection
        } else {
          chunked_ = true;
          head.append("transfer-encoding: chunked\r\n");
        }
      }
    }
    if (close_after_) {
      head.append("connection: close\r\n");
    } else if (http10_) {
      head.append("connection: keep-alive\r\n");
    }
    head.append("\r\n");
    buffer::Buffer out;
    out.add(head);
    codec_.write(out);
    if (end_stream) onEncodeComplete();
  }

  void encodeData(buffer::Buffer& data, bool end_stream) override {
    if (reset_ || response_complete_ || !response_started_) {
      data.drain(data.length());
      return;
    }
    if (upgraded_) {
      // The upgraded protocol's bytes, unframed; its end is our FIN (half-close).
      codec_.connection_.write(data, end_stream);
      if (end_stream) onEncodeComplete();
      return;
    }
    buffer::Buffer out;
    if (bodiless_) {
      data.drain(data.length());
    } else if (chunked_) {
      if (!data.empty()) {
        std::string size;
        appendHex(data.length(), size);
        size.append("\r\n");
        out.add(size);
        out.move(data);
        out.add("\r\n");
      }
      if (end_stream) out.add("0\r\n\r\n");
    } else {
      out.move(data);
    }
    if (!out.empty()) codec_.write(out);
    if (end_stream) onEncodeComplete();
  }

  void encodeTrailers(const TrailerMap& trailers) override {
    if (reset_ || response_complete_ || !response_started_) return;
    if (upgraded_) {
      buffer::Buffer none;
      encodeData(none, true);
      return;
    }
    if (chunked_) {
      std::string tail = "0\r\n";
      if (codec_.options_.enable_trailers) appendHeaderLines(trailers, tail);
      tail.append("\r\n");
      buffer::Buffer out;
      out.add(tail);
      codec_.write(out);
    }
    onEncodeComplete();
  }

  Stream& getStream() override { return *this; }

  // Stream
  void addCallbacks(StreamCallbacks& callbacks) override { callbacks_.push_back(&callbacks); }
  void removeCallbacks(StreamCallbacks& callbacks) override {
    callbacks_.erase(std::remove(callbacks_.begin(), callbacks_.end(), &callbacks),
                     callbacks_.end());
  }
  void resetStream(StreamResetReason reason) override {
    if (reset_) return;
    reset_ = true;
    codec_.closing_ = true;
    // HTTP/1 has no stream reset: the connection closes. As Envoy's connection manager does,
    // what is already queued (a response head, part of a body) is written out first; the
    // client sees the response cut short by the close. While the request is still arriving the
    // close is delayed, or its unread bytes would make the kernel answer with a RST that
    // destroys the queued bytes.
    codec_.connection_.close(request_complete_ ? net::ConnectionCloseType::FlushWrite
                                               : net::ConnectionCloseType::FlushWriteAndDelay);
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
    auto callbacks = callbacks_;  // a callback may remove itself
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
  // A retired stream must not leave the connection paused on its behalf.
  void undoReadDisables() {
    for (; read_disables_ > 0; --read_disables_) codec_.connection_.readDisable(false);
  }

  ServerCodecImpl& codec_;
  RequestDecoder* decoder_ = nullptr;
  bool upgrade_request_ = false;  // the codec is in upgrade mode for this request
  bool connect_request_ = false;  // ... which is a CONNECT (a 2xx opens the tunnel)
  bool upgraded_ = false;         // ... and a 101 went out: raw bytes both ways from here
  bool head_request_ = false;
  bool http10_ = false;
  bool request_keep_alive_ = true;
  bool request_complete_ = false;
  bool response_started_ = false;
  bool response_complete_ = false;
  bool chunked_ = false;
  bool bodiless_ = false;
  bool close_after_ = false;
  bool reset_ = false;
  uint32_t read_disables_ = 0;
  std::vector<StreamCallbacks*> callbacks_;

 private:
  // 101 Switching Protocols (or a CONNECT's 2xx): the response head as the upstream sent it
  // (Connection and Upgrade included), no framing (RFC 9110 §9.3.6: a 2xx to CONNECT has no
  // Content-Length); the connection never carries HTTP again.
  void encodeUpgradeHeaders(const ResponseHeaderMap& headers, bool end_stream) {
    upgraded_ = true;
    close_after_ = true;
    const uint32_t status = headers.status();
    std::string head = "HTTP/1.1 " + std::to_string(status) + " ";
    head.append(reasonPhrase(status));
    head.append("\r\n");
    appendHeaderLines(headers, head,
                      connect_request_ ? headers::kContentLength : std::string_view());
    head.append("\r\n");
    buffer::Buffer out;
    out.add(head);
    codec_.connection_.write(out, end_stream);
    if (end_stream) onEncodeComplete();
  }

  void onEncodeComplete() {
    response_complete_ = true;
    codec_.onResponseComplete();
  }
};

ServerCodecImpl::ServerCodecImpl(net::Connection& connection, ServerConnectionCallbacks& callbacks,
                                 ServerCodecOptions options)
    : connection_(connection),
      callbacks_(callbacks),
      options_(std::move(options)),
      parser_(parserLimits(options_)),
      body_(chunkedLimits(options_)) {}

ServerCodecImpl::~ServerCodecImpl() = default;

CodecStatus ServerCodecImpl::dispatch(buffer::Buffer& data) {
  if (error_) {
    data.drain(data.length());
    return {false, error_details_};
  }
  pending_.move(data);
  if (dispatching_) return {};  // re-entered from a callback: the running loop picks it up
  dispatching_ = true;
  CodecStatus status = process();
  dispatching_ = false;
  return status;
}

CodecStatus ServerCodecImpl::process() {
  while (!error_ && !closing_) {
    if (state_ == State::Idle) {
      // RFC 9112 §2.2: tolerate CRLFs between requests (some clients add one after a body); they
      // do not begin a request.
      char crlf[2];
      while (pending_.length() >= 2) {
        pending_.copyOut(0, 2, crlf);
        if (crlf[0] != '\r' || crlf[1] != '\n') break;
        pending_.drain(2);
      }
      if (pending_.empty()) break;
      if (pending_.length() == 1) {
        pending_.copyOut(0, 1, crlf);
        if (crlf[0] == '\r') break;
      }
      beginStream();
      continue;
    }
    if (state_ == State::Head) {
      const size_t limit = static_cast<size_t>(options_.max_request_headers_kb) * 1024 + 1;
      const size_t want = std::min(pending_.length(), limit);
      const size_t have = head_bytes_.size();
      if (want > have) {
        head_bytes_.resize(want);
        pending_.copyOut(have, want - have, head_bytes_.data() + have);
      }
      http1::ParseResult r = parser_.parse(head_bytes_);
      if (r.status == http1::ParseStatus::NeedMore) break;
      if (r.status == http1::ParseStatus::Error) {
        return protocolError(r.code, requestErrorDetails(r));
      }
      pending_.drain(r.consumed);
      CodecStatus s = onHead(parser_.head());
      if (!s.ok) return s;
      continue;
    }
    if (state_ == State::Body) {
      CodecStatus s = readBody();
      if (!s.ok) return s;
      if (state_ == State::Body) break;  // waiting for more body bytes
      continue;
    }
    if (state_ == State::Upgrade) {
      passUpgradeBytes();
      break;
    }
    // State::Complete: the next request waits until this response is done.
    if (active_ != nullptr && !active_->response_complete_) break;
    retireStream();
  }
  updateReadDisable();
  if (error_) return {false, error_details_};
  return {};
}

void ServerCodecImpl::beginStream() {
  active_ = std::make_unique<ActiveStream>(*this);
  state_ = State::Head;
  parser_.reset();
  head_bytes_.clear();
  active_->decoder_ = &callbacks_.newStream(*active_);
  if (above_watermark_) active_->runWatermark(true);
}

CodecStatus ServerCodecImpl::onHead(const http1::RequestHead& head) {
  protocol_ = head.version_minor == 0 ? Protocol::Http10 : Protocol::Http11;
  if (head.version_minor == 0 && !options_.accept_http_10) {
    return protocolError(426, "low_version");
  }
  if (head.target_form == http1::TargetForm::Absolute && !options_.allow_absolute_url) {
    return protocolError(400, "http1.invalid_url");
  }
  auto map = std::make_unique<HeaderMap>();
  map->add(headers::kMethod, head.method);
  std::string_view authority = head.has_host ? head.host : std::string_view();
  std::string_view path = head.target;
  std::string scheme = "http";
  std::string absolute_path;
  if (head.target_form == http1::TargetForm::Absolute) {
    // RFC 9112 §3.2.2: the URL's authority wins over Host.
    const size_t sep = head.target.find("://");
    scheme = toLower(head.target.substr(0, sep));
    std::string_view rest = head.target.substr(sep + 3);
    const size_t end = rest.find_first_of("/?");
    authority = rest.substr(0, end);
    if (end == std::string_view::npos) {
      path = "/";
    } else if (rest[end] == '?') {
      absolute_path = "/" + std::string(rest.substr(end));
      path = absolute_path;
    } else {
      path = rest.substr(end);
    }
  } else if (head.target_form == http1::TargetForm::Authority) {
    authority = head.target;
  }
  if (authority.empty() && head.version_minor == 0) authority = options_.default_host_for_http_10;
  if (!authority.empty()) map->add(headers::kAuthority, authority);
  if (head.target_form != http1::TargetForm::Authority) {
    map->add(headers::kPath, path);
    map->add(headers::kScheme, scheme);
  }
  for (const auto& f : head.headers) {
    if (f.name.size() == 4 && http1::equalsIgnoreCase(f.name, headers::kHost)) continue;
    map->add(f.name, f.value);
  }

  ActiveStream& stream = *active_;
  stream.head_request_ = head.method == "HEAD";
  stream.http10_ = head.version_minor == 0;
  stream.request_keep_alive_ = head.keep_alive;
  RequestDecoder* decoder = stream.decoder_;
  if (isUpgrade(*map)) {
    // h2c is not supported, and an upgrade request with a body would leave the upgraded bytes
    // ambiguous: both become plain requests, as Envoy does for h2c.
    const bool h2c = http1::equalsIgnoreCase(*map->get(headers::kUpgrade), "h2c");
    if (h2c || head.chunked || head.content_length.value_or(0) > 0) {
      removeUpgrade(*map);
    } else {
      body_.start(BodyReader::Mode::None);
      state_ = State::Upgrade;
      stream.upgrade_request_ = true;
      // The client's FIN must end its direction only, not the connection.
      connection_.enableHalfClose(true);
      decoder->decodeHeaders(std::move(map), false);
      return {};
    }
  }
  if (head.method == "CONNECT") {
    // A tunnel request (RFC 9110 §9.3.6), handled as an upgrade: what follows the head is the
    // tunnel's bytes, and the client's FIN ends them.
    body_.start(BodyReader::Mode::None);
    state_ = State::Upgrade;
    stream.upgrade_request_ = true;
    stream.connect_request_ = true;
    connection_.enableHalfClose(true);
    decoder->decodeHeaders(std::move(map), false);
    return {};
  }
  if (head.chunked) {
    body_.start(BodyReader::Mode::Chunked);
  } else if (head.content_length.value_or(0) > 0) {
    body_.start(BodyReader::Mode::ContentLength, *head.content_length);
  } else {
    body_.start(BodyReader::Mode::None);
  }
  const bool end_stream = body_.mode() == BodyReader::Mode::None;
  // State first: the decoder may answer (and retire the stream) before returning.
  state_ = end_stream ? State::Complete : State::Body;
  stream.request_complete_ = end_stream;
  decoder->decodeHeaders(std::move(map), end_stream);
  return {};
}

CodecStatus ServerCodecImpl::readBody() {
  buffer::Buffer data;
  http1::ParseResult r = body_.read(pending_, data);
  if (r.status == http1::ParseStatus::Error) {
    return protocolError(r.code, r.code == 431 ? "http1.headers_too_large" : "http1.codec_error");
  }
  RequestDecoder* decoder = active_->decoder_;
  if (r.status == http1::ParseStatus::NeedMore) {
    if (!data.empty()) decoder->decodeData(data, false);
    return {};
  }
  state_ = State::Complete;
  active_->request_complete_ = true;
  if (body_.trailers().empty() || !options_.enable_trailers) {
    decoder->decodeData(data, true);
    return {};
  }
  auto trailers = std::make_unique<HeaderMap>();
  addFields(body_.trailers(), *trailers);
  if (!data.empty()) decoder->decodeData(data, false);
  if (!closing_) decoder->decodeTrailers(std::move(trailers));
  return {};
}

void ServerCodecImpl::passUpgradeBytes() {
  if (pending_.empty()) return;
  if (active_ == nullptr || active_->request_complete_ || active_->reset_) {
    pending_.drain(pending_.length());
    return;
  }
  buffer::Buffer data;
  data.move(pending_);
  active_->decoder_->decodeData(data, false);
}

void ServerCodecImpl::onPeerHalfClose() {
  if (state_ != State::Upgrade || active_ == nullptr || active_->request_complete_ ||
      active_->reset_) {
    return;
  }
  passUpgradeBytes();
  if (active_ == nullptr || active_->reset_) return;
  active_->request_complete_ = true;
  buffer::Buffer none;
  active_->decoder_->decodeData(none, true);
  if (active_ != nullptr && active_->response_complete_ && !closing_) {
    closing_ = true;
    connection_.close(net::ConnectionCloseType::FlushWriteAndDelay);
  }
}

CodecStatus ServerCodecImpl::protocolError(uint32_t code, std::string_view details) {
  error_ = true;
  error_details_ = std::string(details);
  if (active_ == nullptr) beginStream();
  active_->close_after_ = true;
  if (active_->response_started_) {
    active_->resetStream(StreamResetReason::ProtocolError);
  } else {
    active_->decoder_->sendProtocolError(code, error_details_);
  }
  return {false, error_details_};
}

void ServerCodecImpl::onResponseComplete() {
  // An upgraded stream lives on until the client's direction ends too (its FIN).
  if (active_->upgraded_ && !active_->request_complete_) return;
  if (active_->close_after_) {
    closing_ = true;
    connection_.close(net::ConnectionCloseType::FlushWriteAndDelay);
    return;
  }
  if (state_ != State::Complete) return;  // the request is still arriving
  retireStream();
  if (!dispatching_ && !pending_.empty()) {
    // Decoding the next request from inside an encode call would re-enter the connection
    // manager; do it on the next loop iteration instead.
    if (resume_timer_ == nullptr) {
      resume_timer_ = connection_.dispatcher().createTimer([this] {
        if (dispatching_ || error_) return;
        dispatching_ = true;
        process();
        dispatching_ = false;
      });
    }
    resume_timer_->enableTimer(std::chrono::milliseconds(0));
  }
}

void ServerCodecImpl::retireStream() {
  if (active_ != nullptr) {
    active_->undoReadDisables();
    connection_.dispatcher().deferredDelete(std::move(active_));
  }
  state_ = State::Idle;
}

void ServerCodecImpl::updateReadDisable() {
  const bool disable =
      !closing_ && options_.buffer_limit > 0 && pending_.length() >= options_.buffer_limit;
  if (disable == pipeline_read_disabled_) return;
  pipeline_read_disabled_ = disable;
  connection_.readDisable(disable);
}

void ServerCodecImpl::write(buffer::Buffer& data) { connection_.write(data, false); }

void ServerCodecImpl::onUnderlyingConnectionAboveWriteBufferHighWatermark() {
  above_watermark_ = true;
  if (active_ != nullptr) active_->runWatermark(true);
}

void ServerCodecImpl::onUnderlyingConnectionBelowWriteBufferLowWatermark() {
  above_watermark_ = false;
  if (active_ != nullptr) active_->runWatermark(false);
}

void ServerCodecImpl::onConnectionClosed() {
  closing_ = true;
  if (active_ != nullptr && !active_->reset_ &&
      (!active_->response_complete_ || (active_->upgraded_ && !active_->request_complete_))) {
    active_->runReset(StreamResetReason::ConnectionTermination, "");
  }
}

}  // namespace remora::http::codec1
