#include "http/http2/server_codec.h"

#include "http/http2/upgrade.h"

namespace remora::http::http2 {

class ServerConnectionImpl::ServerStream final : public StreamBase, public ResponseEncoder {
 public:
  explicit ServerStream(ServerConnectionImpl& parent) : StreamBase(parent) {}

  // ResponseEncoder
  void encode1xxHeaders(const ResponseHeaderMap& headers) override {
    if (reset_ || headers_sent_) return;
    submitInformational(headers);
  }
  void encodeHeaders(const ResponseHeaderMap& headers, bool end_stream) override {
    if (reset_ || headers_sent_) return;
    const uint32_t status = headers.status();
    if ((upgrade_request_ && status == 101) ||
        (connect_request_ && status >= 200 && status < 300)) {
      // The tunnel is accepted: 200 (RFC 8441 §5, RFC 9113 §8.5), framing headers dropped.
      tunnel_ = true;
      ResponseHeaderMap accepted = headers;
      if (upgrade_request_) upgradeResponseToH2(accepted);
      accepted.remove(headers::kContentLength);
      encodeHeadersImpl(accepted, end_stream);
      return;
    }
    encodeHeadersImpl(headers, end_stream);
  }
  void encodeData(buffer::Buffer& data, bool end_stream) override {
    encodeDataImpl(data, end_stream);
  }
  void encodeTrailers(const TrailerMap& trailers) override { encodeTrailersImpl(trailers); }
  Stream& getStream() override { return *this; }

  RequestDecoder* decoder_ = nullptr;
  bool upgrade_request_ = false;  // an extended CONNECT, passed on as an HTTP/1.1 upgrade
  bool connect_request_ = false;  // a classic CONNECT

 private:
  void encodeHeadersImpl(const ResponseHeaderMap& headers, bool end_stream) {
    if (!submitHeaders(headers, end_stream, false)) {
      resetStream(StreamResetReason::LocalReset);
      return;
    }
    parent_.sendPending();
  }

  // Once the response is complete the connection manager has finished with the stream: what
  // the client still sends for it goes nowhere (a tunnel's client direction lives on).
  void decodeHeaders(HeaderMapPtr headers, bool end_stream) override {
    decoder_->decodeHeaders(std::move(headers), end_stream);
  }
  void decodeData(buffer::Buffer& data, bool end_stream) override {
    if (local_end_ && !tunnel_) {
      data.drain(data.length());
      return;
    }
    decoder_->decodeData(data, end_stream);
  }
  void decodeTrailers(TrailerMapPtr trailers) override {
    if (local_end_ && !tunnel_) return;
    decoder_->decodeTrailers(std::move(trailers));
  }
};

ServerConnectionImpl::ServerConnectionImpl(net::Connection& connection,
                                           ServerConnectionCallbacks& callbacks,
                                           const Http2Options& options, Http2Stats* stats)
    : ConnectionImpl(connection, options, stats), callbacks_(callbacks) {
  initialize(true);
  sendPending();  // our SETTINGS go out at once (RFC 9113 §3.4)
}

int ServerConnectionImpl::onBeginHeaders(const nghttp2_frame& frame) {
  if (frame.hd.type != NGHTTP2_HEADERS) return 0;
  if (frame.headers.cat == NGHTTP2_HCAT_REQUEST) {
    if (openStreams() >= options_.max_concurrent_streams) {
      refuseStream(frame.hd.stream_id);  // RFC 9113 §5.1.2: a stream error, retryable
      return 0;
    }
    auto stream = std::make_unique<ServerStream>(*this);
    stream->stream_id_ = frame.hd.stream_id;
    stream->receiving_ = std::make_unique<HeaderMap>();
    addStream(std::move(stream));
    return 0;
  }
  if (StreamBase* stream = getStream(frame.hd.stream_id)) {
    stream->receiving_ = std::make_unique<HeaderMap>();  // trailers
  }
  return 0;
}

void ServerConnectionImpl::onHeadersComplete(StreamBase& base, const nghttp2_frame& frame) {
  auto& stream = static_cast<ServerStream&>(base);
  HeaderMapPtr headers = std::move(stream.receiving_);
  const bool end_stream = (frame.hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (stream.decoder_ != nullptr) {
    // A second block is the trailers (nghttp2 insists they end the stream).
    stream.onHeadersBlock(std::move(headers), true, true);
    return;
  }
  // RFC 9113 §8.3.1: :authority wins; a request that has only Host uses it instead.
  if (!headers->has(headers::kAuthority)) {
    if (const std::string* host = headers->get(headers::kHost)) {
      std::string authority = *host;
      headers->remove(headers::kHost);
      headers->set(headers::kAuthority, authority);
    }
  } else {
    headers->remove(headers::kHost);
  }
  // nghttp2 admitted :protocol only because allow_connect advertised it (RFC 8441 §3).
  if (headers->method() == "CONNECT") {
    if (headers->has(headers::kProtocol)) {
      upgradeRequestFromH2(*headers);
      stream.upgrade_request_ = true;
    } else {
      stream.connect_request_ = true;
    }
  }
  stream.decoder_ = &callbacks_.newStream(stream);
  if (above_watermark_) stream.runWatermark(true);
  stream.onHeadersBlock(std::move(headers), end_stream, false);
}

}  // namespace remora::http::http2
