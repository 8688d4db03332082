#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "http/codec.h"
#include "http/codec1/codec_common.h"
#include "http/http1/response_parser.h"
#include "net/connection.h"

namespace remora::http::codec1 {

struct ClientCodecOptions {
  uint32_t max_response_headers_kb = 60;
  uint32_t max_headers_count = 100;
  // Stream::bufferLimit(): the cluster's per_connection_buffer_limit_bytes (0: no limit).
  uint32_t buffer_limit = 1024 * 1024;
  // Http1ProtocolOptions.enable_trailers: off (Envoy's default), response trailers are parsed and
  // dropped and request trailers are not written.
  bool enable_trailers = false;
};

// HTTP/1.1 upstream codec: one request at a time (no pipelining upstream, as Envoy). Request
// framing is chosen here: the map's Content-Length when present, otherwise chunked when a body
// follows; transfer-encoding in the map is never copied. Responses are framed by RFC 9112 §6.3:
// HEAD, 1xx, 204 and 304 carry no body, then chunked, Content-Length, or until the close.
//
// Upgrades: an upgrade request (Upgrade + Connection: upgrade) is sent unframed. Bytes the
// client sends before the answer are held (up to the buffer limit; RFC 6455 clients send none),
// so an upstream that refuses cannot read them as another request. A 101 switches the
// connection to raw bytes both ways (response data, then the upstream's FIN as end_stream; the
// request's end as our FIN) and it is never reused; any other answer is an ordinary response.
// A CONNECT is sent the same way, a 2xx answer opening its tunnel.
class ClientCodecImpl : public ClientCodec {
 public:
  ClientCodecImpl(net::Connection& connection, ClientCodecOptions options = {});
  ~ClientCodecImpl() override;

  // CodecConnection
  CodecStatus dispatch(buffer::Buffer& data) override;
  Protocol protocol() const override { return Protocol::Http11; }
  void onUnderlyingConnectionAboveWriteBufferHighWatermark() override;
  void onUnderlyingConnectionBelowWriteBufferLowWatermark() override;
  void onConnectionClosed() override;
  void onPeerHalfClose() override;

  // ClientCodec
  RequestEncoder& newStream(ResponseDecoder& decoder) override;
  bool reusable() const override;
  // A 101 (or a CONNECT's 2xx) switched the connection to the exchange's raw bytes for good.
  bool upgraded() const { return state_ == State::Upgraded; }

 private:
  class ActiveRequest;
  enum class State { Head, Body, Upgraded };

  CodecStatus process();
  CodecStatus onHead(const http1::ResponseHead& head);
  CodecStatus readBody();
  CodecStatus protocolError(std::string_view details);
  void onResponseComplete();
  // A 101 answered the upgrade request: switch to raw bytes.
  void onUpgraded(ResponseHeaderMapPtr headers);
  // Both directions of an upgraded exchange ended: retire the request.
  void maybeFinishUpgrade();

  net::Connection& connection_;
  const ClientCodecOptions options_;
  http1::ResponseParser parser_;
  BodyReader body_;
  State state_ = State::Head;
  std::unique_ptr<ActiveRequest> active_;
  buffer::Buffer pending_;
  std::string head_bytes_;
  bool error_ = false;
  bool closed_ = false;
  bool keep_alive_ = true;           // the last response allowed another request
  bool request_incomplete_ = false;  // the last response ended before its request was sent
  std::string error_details_;
  bool above_watermark_ = false;
};

}  // namespace remora::http::codec1
