#pragma once

#include "http/codec.h"
#include "http/http2/codec_impl.h"

namespace remora::http::http2 {

// HTTP/2 downstream codec (Envoy's ServerConnectionImpl): every request stream the peer opens
// becomes a connection-manager stream once its header block is complete. The request map carries
// the pseudo-headers as received; a `host` without `:authority` becomes `:authority`, and split
// cookies are joined (RFC 9113 §8.2.3), so the rest of remora sees what HTTP/1 would give it.
// A response that completes before its request ends the exchange with RST_STREAM(NO_ERROR);
// request bytes still arriving for it are dropped.
class ServerConnectionImpl final : public ServerCodec, public ConnectionImpl {
 public:
  ServerConnectionImpl(net::Connection& connection, ServerConnectionCallbacks& callbacks,
                       const Http2Options& options, Http2Stats* stats);

  // CodecConnection
  CodecStatus dispatch(buffer::Buffer& data) override { return ConnectionImpl::dispatch(data); }
  Protocol protocol() const override { return Protocol::Http2; }
  void onUnderlyingConnectionAboveWriteBufferHighWatermark() override {
    ConnectionImpl::onUnderlyingConnectionAboveWriteBufferHighWatermark();
  }
  void onUnderlyingConnectionBelowWriteBufferLowWatermark() override {
    ConnectionImpl::onUnderlyingConnectionBelowWriteBufferLowWatermark();
  }
  void onConnectionClosed() override { ConnectionImpl::onConnectionClosed(); }
  void onPeerHalfClose() override {}
  void goAway() override { ConnectionImpl::goAway(); }
  void shutdownNotice() override { ConnectionImpl::shutdownNotice(); }

 private:
  class ServerStream;

  int onBeginHeaders(const nghttp2_frame& frame) override;
  void onHeadersComplete(StreamBase& stream, const nghttp2_frame& frame) override;

  ServerConnectionCallbacks& callbacks_;
};

}  // namespace remora::http::http2
