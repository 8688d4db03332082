#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "buffer/buffer.h"
#include "http/header_map.h"

namespace remora::http {

enum class Protocol { Http10, Http11, Http2 };
std::string_view protocolString(Protocol protocol);  // "HTTP/1.0", "HTTP/1.1", "HTTP/2"

enum class StreamResetReason {
  LocalReset,               // we reset it (e.g. a timeout)
  RemoteReset,              // the peer reset it (RST_STREAM; for HTTP/1: the connection closed)
  LocalConnectionFailure,   // we could not start the connection
  RemoteConnectionFailure,  // the connect failed (refused, unreachable)
  ConnectionTimeout,        // the connect did not complete within connect_timeout
  ConnectionTermination,    // the connection closed before the stream finished
  Overflow,                 // a limit (circuit breaker, pending queue) refused it
  ProtocolError,            // the peer violated the protocol
  // HTTP/2: the peer refused the stream (REFUSED_STREAM, or beyond its GOAWAY): it never
  // processed it, so any request may go again (retry_on refused-stream).
  RemoteRefusedStreamReset,
};
std::string_view resetReasonString(StreamResetReason reason);

// Notifications for one stream.
class StreamCallbacks {
 public:
  virtual ~StreamCallbacks() = default;
  virtual void onResetStream(StreamResetReason reason, std::string_view details) = 0;
  // The stream's outgoing data is buffered above its limit: stop producing.
  virtual void onAboveWriteBufferHighWatermark() = 0;
  virtual void onBelowWriteBufferLowWatermark() = 0;
};

// One request/response exchange on a codec connection.
class Stream {
 public:
  virtual ~Stream() = default;
  virtual void addCallbacks(StreamCallbacks& callbacks) = 0;
  virtual void removeCallbacks(StreamCallbacks& callbacks) = 0;
  // Resets the stream (HTTP/1: closes the connection); callbacks hear onResetStream.
  virtual void resetStream(StreamResetReason reason) = 0;
  // Counted: stop/resume delivering this stream's incoming data (flow control).
  virtual void readDisable(bool disable) = 0;
  virtual uint32_t bufferLimit() const = 0;
};

// Sends a request (client side of a codec).
class RequestEncoder {
 public:
  virtual ~RequestEncoder() = default;
  virtual void encodeHeaders(const RequestHeaderMap& headers, bool end_stream) = 0;
  virtual void encodeData(buffer::Buffer& data, bool end_stream) = 0;
  virtual void encodeTrailers(const TrailerMap& trailers) = 0;
  virtual Stream& getStream() = 0;
  // True once any byte of this request has reached the network (the socket accepted it). When a
  // reused connection turns out closed with nothing sent, any request may go again elsewhere.
  virtual bool requestBytesSent() const = 0;
};

// Sends a response (server side of a codec).
class ResponseEncoder {
 public:
  virtual ~ResponseEncoder() = default;
  // A 1xx informational response (100-continue).
  virtual void encode1xxHeaders(const ResponseHeaderMap& headers) = 0;
  virtual void encodeHeaders(const ResponseHeaderMap& headers, bool end_stream) = 0;
  virtual void encodeData(buffer::Buffer& data, bool end_stream) = 0;
  virtual void encodeTrailers(const TrailerMap& trailers) = 0;
  virtual Stream& getStream() = 0;
};

// Receives a request (server side).
class RequestDecoder {
 public:
  virtual ~RequestDecoder() = default;
  virtual void decodeHeaders(RequestHeaderMapPtr headers, bool end_stream) = 0;
  virtual void decodeData(buffer::Buffer& data, bool end_stream) = 0;
  virtual void decodeTrailers(TrailerMapPtr trailers) = 0;
  // The request cannot be decoded (malformed, too large, ...): answer with `code` (400, 413,
  // 431, 501, 505) and close. `details` is Envoy's response code detail (e.g.
  // "http1.codec_error"). Called on the stream the codec opened when the request began.
  virtual void sendProtocolError(uint32_t code, std::string_view details) = 0;
};

// Receives a response (client side).
class ResponseDecoder {
 public:
  virtual ~ResponseDecoder() = default;
  virtual void decode1xxHeaders(ResponseHeaderMapPtr headers) = 0;
  virtual void decodeHeaders(ResponseHeaderMapPtr headers, bool end_stream) = 0;
  virtual void decodeData(buffer::Buffer& data, bool end_stream) = 0;
  virtual void decodeTrailers(TrailerMapPtr trailers) = 0;
};

// Server codec callbacks: a request has begun.
class ServerConnectionCallbacks {
 public:
  virtual ~ServerConnectionCallbacks() = default;
  // Returns the decoder for the new stream; `encoder` sends its response.
  virtual RequestDecoder& newStream(ResponseEncoder& encoder) = 0;
};

// Result of feeding bytes to a codec.
struct CodecStatus {
  bool ok = true;
  std::string details;  // why not, e.g. "http1.invalid_characters"
};

// A protocol codec bound to one network connection (it writes there itself).
class CodecConnection {
 public:
  virtual ~CodecConnection() = default;
  // Decodes `data` (drained as consumed). A protocol error returns !ok; the server codec has
  // already told the stream (sendProtocolError), the client codec resets its stream.
  virtual CodecStatus dispatch(buffer::Buffer& data) = 0;
  virtual Protocol protocol() const = 0;
  // The network connection's write buffer crossed its watermarks: pass it on to streams.
  virtual void onUnderlyingConnectionAboveWriteBufferHighWatermark() = 0;
  virtual void onUnderlyingConnectionBelowWriteBufferLowWatermark() = 0;
  // The network connection closed: reset what is in flight with ConnectionTermination.
  virtual void onConnectionClosed() = 0;
  // The peer sent FIN on a half-close connection. Codecs enable half-close only once a stream is
  // upgraded (WebSocket): its incoming direction ends here (end_stream), the other stays open.
  virtual void onPeerHalfClose() = 0;
  // HTTP/2: sends GOAWAY; streams in flight finish, then the codec closes the connection.
  // HTTP/1 has nothing to send (the connection manager closes after the response instead).
  virtual void goAway() {}
  // HTTP/2 server: the first GOAWAY of a graceful drain (last stream id 2^31-1): no new streams
  // please, but those already racing with it are served. goAway() follows. HTTP/1: nothing.
  virtual void shutdownNotice() {}
};

class ServerCodec : public CodecConnection {};

class ClientCodec : public CodecConnection {
 public:
  // Starts a request; the response arrives at `decoder`. HTTP/1 allows one at a time.
  virtual RequestEncoder& newStream(ResponseDecoder& decoder) = 0;
  // True when a response has completed and the connection may carry another request.
  virtual bool reusable() const = 0;
};

}  // namespace remora::http
