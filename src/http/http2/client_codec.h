#pragma once

#include <list>

#include "http/codec.h"
#include "http/http2/codec_impl.h"

namespace remora::http::http2 {

// Told about the peer's connection-level decisions (the pool listens).
class ClientConnectionCallbacks {
 public:
  virtual ~ClientConnectionCallbacks() = default;
  // GOAWAY arrived: no new stream may start here; those in flight finish or are refused.
  virtual void onGoAway() = 0;
  // The peer's SETTINGS arrived (SETTINGS_MAX_CONCURRENT_STREAMS may have changed).
  virtual void onSettings(uint32_t max_concurrent_streams) = 0;
  // A stream is gone for good. What a tunnel's owner waits for: its response may end long
  // before its request does.
  virtual void onStreamClosed(Stream&) {}
};

// HTTP/2 upstream codec (Envoy's ClientConnectionImpl): many requests at once on one connection.
// Request maps are sent with their pseudo-headers (`host` folded into :authority) and without
// connection-specific fields; `te` only as "trailers". A response that completes before its
// request ends the exchange with RST_STREAM(NO_ERROR). A stream refused by the peer
// (REFUSED_STREAM, or beyond a GOAWAY) is reset with RemoteRefusedStreamReset: it was never
// processed, so it may be retried anywhere.
class ClientConnectionImpl final : public ClientCodec, public ConnectionImpl {
 public:
  ClientConnectionImpl(net::Connection& connection, const Http2Options& options, Http2Stats* stats,
                       ClientConnectionCallbacks* callbacks = nullptr);
  ~ClientConnectionImpl() override;

  // CodecConnection
  CodecStatus dispatch(buffer::Buffer& data) override { return ConnectionImpl::dispatch(data); }
  Protocol protocol() const override { return Protocol::Http2; }
  void onUnderlyingConnectionAboveWriteBufferHighWatermark() override {
    ConnectionImpl::onUnderlyingConnectionAboveWriteBufferHighWatermark();
  }
  void onUnderlyingConnectionBelowWriteBufferLowWatermark() override {
    ConnectionImpl::onUnderlyingConnectionBelowWriteBufferLowWatermark();
  }
  void onConnectionClosed() override;
  void onPeerHalfClose() override {}
  void goAway() override { ConnectionImpl::goAway(); }

  // ClientCodec
  RequestEncoder& newStream(ResponseDecoder& decoder) override;
  // True while new streams may start: no GOAWAY either way, the connection open.
  bool reusable() const override;
  // The peer's SETTINGS_MAX_CONCURRENT_STREAMS (nghttp2 assumes unlimited until it arrives).
  uint32_t peerMaxConcurrentStreams() const;
  // True for an accepted upgrade or CONNECT stream of this codec whose request direction is
  // still open: its response has ended, the stream has not (onStreamClosed follows).
  static bool tunnelStillOpen(const Stream& stream);

 private:
  class ClientStream;

  int onBeginHeaders(const nghttp2_frame& frame) override;
  void onHeadersComplete(StreamBase& stream, const nghttp2_frame& frame) override;
  void onGoAwayReceived() override;
  void onSettingsReceived() override;
  void onStreamRetired(StreamBase& stream) override;
  std::unique_ptr<ClientStream> takeUnsubmitted(ClientStream& stream);

  ClientConnectionCallbacks* const callbacks_;
  // Streams whose request headers have not been submitted yet (no stream id).
  std::list<std::unique_ptr<ClientStream>> unsubmitted_;
};

}  // namespace remora::http::http2
