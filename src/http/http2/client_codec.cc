#include "http/http2/client_codec.h"

#include "http/codec1/codec_common.h"
#include "http/http2/upgrade.h"

namespace remora::http::http2 {

class ClientConnectionImpl::ClientStream final : public StreamBase, public RequestEncoder {
 public:
  ClientStream(ClientConnectionImpl& parent, ResponseDecoder& decoder)
      : StreamBase(parent), codec_(parent), decoder_(decoder) {}

  // RequestEncoder
  void encodeHeaders(const RequestHeaderMap& headers, bool end_stream) override {
    if (reset_ || headers_sent_) return;
    wire_mark_ = codec_.connection().bytesSent();
    std::unique_ptr<ClientStream> self = codec_.takeUnsubmitted(*this);
    bool submitted;
    if (codec1::isUpgrade(headers)) {
      // An HTTP/1.1 upgrade crosses this hop as an extended CONNECT (RFC 8441).
      RequestHeaderMap connect = headers;
      upgrade_type_ = upgradeRequestToH2(connect);
      submitted = submitHeaders(connect, end_stream, true);
    } else if (isConnect(headers)) {
      // RFC 9113 §8.5: a CONNECT names its target in :authority only; whatever added a scheme
      // or a path on the way (as Envoy's codec, they go here).
      connect_request_ = true;
      RequestHeaderMap connect = headers;
      connect.remove(headers::kScheme);
      connect.remove(headers::kPath);
      submitted = submitHeaders(connect, end_stream, true);
    } else {
      submitted = submitHeaders(headers, end_stream, true);
    }
    if (!submitted) {
      // No stream id left (the connection is exhausted) or the session is going away.
      reset_ = true;
      runResetCallbacks(StreamResetReason::LocalReset, "");
      codec_.connection().dispatcher().deferredDelete(std::move(self));
      return;
    }
    codec_.addStream(std::move(self));
    parent_.sendPending();
  }
  void encodeData(buffer::Buffer& data, bool end_stream) override {
    encodeDataImpl(data, end_stream);
  }
  void encodeTrailers(const TrailerMap& trailers) override { encodeTrailersImpl(trailers); }
  Stream& getStream() override { return *this; }
  bool requestBytesSent() const override {
    return headers_sent_ && codec_.connection().bytesSent() > wire_mark_;
  }

  void decodeHeaders(HeaderMapPtr headers, bool end_stream) override {
    decoder_.decodeHeaders(std::move(headers), end_stream);
  }
  void decodeData(buffer::Buffer& data, bool end_stream) override {
    decoder_.decodeData(data, end_stream);
  }
  void decodeTrailers(TrailerMapPtr trailers) override {
    decoder_.decodeTrailers(std::move(trailers));
  }

  ClientConnectionImpl& codec_;
  ResponseDecoder& decoder_;
  bool final_headers_ = false;
  uint64_t wire_mark_ = 0;
  std::string upgrade_type_;      // sent as an extended CONNECT for this HTTP/1.1 upgrade
  bool connect_request_ = false;  // a classic CONNECT
  std::list<std::unique_ptr<ClientStream>>::iterator position_;
};

ClientConnectionImpl::ClientConnectionImpl(net::Connection& connection, const Http2Options& options,
                                           Http2Stats* stats, ClientConnectionCallbacks* callbacks)
    : ConnectionImpl(connection, options, stats), callbacks_(callbacks) {
  initialize(false);
  sendPending();  // the preface and our SETTINGS
}

ClientConnectionImpl::~ClientConnectionImpl() = default;

std::unique_ptr<ClientConnectionImpl::ClientStream> ClientConnectionImpl::takeUnsubmitted(
    ClientStream& stream) {
  std::unique_ptr<ClientStream> owned = std::move(*stream.position_);
  unsubmitted_.erase(stream.position_);
  return owned;
}

RequestEncoder& ClientConnectionImpl::newStream(ResponseDecoder& decoder) {
  auto stream = std::make_unique<ClientStream>(*this, decoder);
  ClientStream& ref = *stream;
  unsubmitted_.push_back(std::move(stream));
  ref.position_ = std::prev(unsubmitted_.end());
  return ref;
}

bool ClientConnectionImpl::reusable() const {
  return !goAwayReceived() && session_ != nullptr && nghttp2_session_want_read(session_) &&
         connection_.state() == net::Connection::State::Open;
}

uint32_t ClientConnectionImpl::peerMaxConcurrentStreams() const {
  return nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

void ClientConnectionImpl::onConnectionClosed() {
  ConnectionImpl::onConnectionClosed();
  // A stream that never got to send its headers dies with the connection too.
  while (!unsubmitted_.empty()) {
    std::unique_ptr<ClientStream> stream = std::move(unsubmitted_.front());
    unsubmitted_.pop_front();
    stream->reset_ = true;
    stream->runResetCallbacks(StreamResetReason::ConnectionTermination, "");
    connection_.dispatcher().deferredDelete(std::move(stream));
  }
}

int ClientConnectionImpl::onBeginHeaders(const nghttp2_frame& frame) {
  if (frame.hd.type != NGHTTP2_HEADERS) return 0;
  if (StreamBase* stream = getStream(frame.hd.stream_id)) {
    stream->receiving_ = std::make_unique<HeaderMap>();
  }
  return 0;
}

void ClientConnectionImpl::onHeadersComplete(StreamBase& base, const nghttp2_frame& frame) {
  auto& stream = static_cast<ClientStream&>(base);
  HeaderMapPtr headers = std::move(stream.receiving_);
  const bool end_stream = (frame.hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (stream.final_headers_) {
    stream.onHeadersBlock(std::move(headers), true, true);
    return;
  }
  const uint32_t status = headers->status();
  if (status >= 100 && status < 200 && !end_stream) {
    if (!stream.reset_) stream.decoder_.decode1xxHeaders(std::move(headers));
    return;
  }
  stream.final_headers_ = true;
  if (!end_stream) {
    // A 2xx accepts the tunnel; an extended CONNECT's 200 is, upstream of here, the 101 of the
    // HTTP/1.1 upgrade that asked for it.
    if (!stream.upgrade_type_.empty() && status == 200) {
      stream.tunnel_ = true;
      upgradeResponseFromH2(*headers, stream.upgrade_type_);
    } else if (stream.connect_request_ && status >= 200 && status < 300) {
      stream.tunnel_ = true;
    }
  }
  stream.onHeadersBlock(std::move(headers), end_stream, false);
}

bool ClientConnectionImpl::tunnelStillOpen(const Stream& stream) {
  const auto& base = static_cast<const StreamBase&>(stream);
  return base.tunnel_ && !base.closed() && !base.reset_;
}

void ClientConnectionImpl::onStreamRetired(StreamBase& stream) {
  if (callbacks_) callbacks_->onStreamClosed(stream);
}

void ClientConnectionImpl::onGoAwayReceived() {
  if (callbacks_) callbacks_->onGoAway();
}

void ClientConnectionImpl::onSettingsReceived() {
  if (callbacks_) callbacks_->onSettings(peerMaxConcurrentStreams());
}

}  // namespace remora::http::http2
