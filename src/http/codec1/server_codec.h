#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "event/dispatcher.h"
#include "http/codec.h"
#include "http/codec1/codec_common.h"
#include "http/http1/request_parser.h"
#include "net/connection.h"

namespace remora::http::codec1 {

// HttpProtocolOptions / Http1ProtocolOptions settings the downstream codec honours.
struct ServerCodecOptions {
  uint32_t max_request_headers_kb = 60;
  uint32_t max_headers_count = 100;
  bool accept_http_10 = false;
  std::string default_host_for_http_10;  // :authority for a 1.0 request without Host
  bool allow_absolute_url = true;
  // Http1ProtocolOptions.enable_trailers: off (Envoy's default), request trailers are parsed and
  // dropped and response trailers are not written (the body still ends properly).
  bool enable_trailers = false;
  // Stream::bufferLimit(), and how many bytes of pipelined requests may wait behind the current
  // one before the connection stops reading: the listener's per_connection_buffer_limit_bytes
  // (0: no limit).
  uint32_t buffer_limit = 1024 * 1024;
};

// HTTP/1.1 downstream codec. One stream at a time: pipelined requests wait (undecoded, in the
// codec's buffer) until the current response is complete, as HTTP/1 ordering demands.
//
// Upgrades (RFC 9110 §7.8, WebSocket): a bodiless request with Upgrade and Connection: upgrade
// puts the codec in upgrade mode, as Envoy's codec does: the request never ends by framing; the
// bytes after its head are request data, and the client's FIN (half-close) ends it. A 101
// answer is written as is (Connection and Upgrade kept) and followed by raw response bytes; any
// other answer is an ordinary response after which the connection closes. h2c upgrades, and
// upgrade requests that carry a body, lose their upgrade headers and are served as plain
// requests. A CONNECT is handled the same way, its 2xx answer opening the tunnel.
//
// Header policy: the request map carries :method, :path, :authority (absolute-form URL, else
// Host), :scheme and every other header as received, Host excluded. Connection-specific headers
// (connection, keep-alive, proxy-connection, transfer-encoding, upgrade) are left in the map for
// the connection manager to strip, as Envoy's HCM does; the codec acts on them itself for framing
// and persistence, and never copies a response's transfer-encoding to the wire.
class ServerCodecImpl : public ServerCodec {
 public:
  ServerCodecImpl(net::Connection& connection, ServerConnectionCallbacks& callbacks,
                  ServerCodecOptions options = {});
  ~ServerCodecImpl() override;

  // CodecConnection
  CodecStatus dispatch(buffer::Buffer& data) override;
  Protocol protocol() const override { return protocol_; }
  void onUnderlyingConnectionAboveWriteBufferHighWatermark() override;
  void onUnderlyingConnectionBelowWriteBufferLowWatermark() override;
  void onConnectionClosed() override;
  void onPeerHalfClose() override;

 private:
  class ActiveStream;
  // Upgrade: the head was an upgrade request; everything after it is the upgraded protocol's
  // bytes, passed on as request data until the client's FIN, and never parsed as HTTP again.
  enum class State { Idle, Head, Body, Complete, Upgrade };

  CodecStatus process();
  void beginStream();
  CodecStatus onHead(const http1::RequestHead& head);
  CodecStatus readBody();
  void passUpgradeBytes();
  CodecStatus protocolError(uint32_t code, std::string_view details);
  // The response ended (called by the stream); the stream may be retired.
  void onResponseComplete();
  void retireStream();
  void updateReadDisable();
  void write(buffer::Buffer& data);

  net::Connection& connection_;
  ServerConnectionCallbacks& callbacks_;
  const ServerCodecOptions options_;
  http1::RequestParser parser_;
  BodyReader body_;
  State state_ = State::Idle;
  Protocol protocol_ = Protocol::Http11;
  std::unique_ptr<ActiveStream> active_;
  buffer::Buffer pending_;  // received, not yet decoded
  std::string head_bytes_;  // the head being parsed, copied contiguous for the parser
  bool dispatching_ = false;
  bool closing_ = false;  // the connection is closing (or closed): decode nothing more
  bool error_ = false;
  std::string error_details_;
  bool pipeline_read_disabled_ = false;
  bool above_watermark_ = false;
  event::TimerPtr resume_timer_;  // decodes a waiting pipelined request outside encode calls
};

}  // namespace remora::http::codec1
