#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "event/dispatcher.h"
#include "http/codec.h"
#include "http/http2/options.h"
#include "net/connection.h"

namespace remora::http::http2 {

// The HTTP/2 connection both codecs share (Envoy's ConnectionImpl): one nghttp2 session over a
// net::Connection, a map of live streams, the write path and flow control.
//
// Writes: nghttp2 serializes frames into `out_` (DATA payloads are moved from the stream's send
// buffer without copying), which goes to the connection in one write per flush. A flush never
// runs inside nghttp2's receive callbacks: what a decoder encodes synchronously is sent once the
// whole input is processed.
//
// Flow control: WINDOW_UPDATE is manual (nghttp2's automatic updates are off). The connection
// window is returned as soon as bytes arrive, so a stalled stream never stalls its neighbours;
// a stream's window is returned only once its bytes reach the stream's decoder. A consumer that
// readDisable()s the stream therefore stops the peer after at most one window, and that is all
// the memory it can pin. Outgoing, each stream queues at most bufferLimit() before its producer
// hears onAboveWriteBufferHighWatermark; the connection's own write watermark reaches every
// stream, as with HTTP/1.
//
// Protocol errors: nghttp2 validates frames and messages (RFC 9113 §8.1.1, §8.2: pseudo-headers,
// connection-specific fields, content-length). A malformed message is a stream error
// (RST_STREAM PROTOCOL_ERROR) that touches no other stream; a bad frame on the connection is a
// connection error (GOAWAY), after which dispatch() returns !ok and the owner closes. Two rules
// are ours rather than nghttp2's (server side):
// - Stream concurrency (RFC 9113 §5.1.2): a stream beyond our SETTINGS_MAX_CONCURRENT_STREAMS is
//   a stream error, RST_STREAM(REFUSED_STREAM), so the client may retry it. nghttp2 makes it a
//   connection error once the setting is acknowledged, so nghttp2 is given a higher limit
//   (`nghttp2MaxStreams`) and the frame on the wire is rewritten to advertise the configured one.
// - Stream ids (RFC 9113 §5.1.1): a HEADERS opening a stream whose id is lower than one already
//   used and that was never used itself (the client skipped it) is a connection error
//   PROTOCOL_ERROR; nghttp2 silently ignores it. The skipped ranges are remembered (the latest
//   kMaxSkippedRanges of them, so a hostile client cannot grow the list).
//
// Not itself a CodecConnection (that would make a virtual diamond with ServerCodec/ClientCodec):
// the server and client codecs implement the interface and forward here.
class ConnectionImpl {
 public:
  virtual ~ConnectionImpl();

  // The CodecConnection operations.
  CodecStatus dispatch(buffer::Buffer& data);
  void onUnderlyingConnectionAboveWriteBufferHighWatermark();
  void onUnderlyingConnectionBelowWriteBufferLowWatermark();
  void onConnectionClosed();

  // GOAWAY: tells the peer no stream beyond those it has opened will be served; streams in
  // flight finish. Once none is left the connection closes.
  void goAway();
  // Server: the first GOAWAY of a graceful drain (RFC 9113 §6.8), naming the highest possible
  // stream id: the client opens no more streams, and those racing with it are still served. The
  // final goAway() follows.
  void shutdownNotice();
  size_t activeStreams() const { return streams_.size(); }
  // Flushes what nghttp2 has to send (deferred while dispatching or already sending); closes the
  // connection once the session wants neither to read nor to write.
  void sendPending();
  net::Connection& connection() { return connection_; }
  bool goAwayReceived() const { return goaway_received_; }

 protected:
  class StreamBase;

  ConnectionImpl(net::Connection& connection, const Http2Options& options, Http2Stats* stats);
  // Creates the nghttp2 session (server or client) and queues our SETTINGS.
  void initialize(bool server);
  StreamBase* getStream(int32_t stream_id);
  void addStream(std::unique_ptr<StreamBase> stream);
  // Streams that are open or half-closed (RFC 9113 §5.1.2): those SETTINGS_MAX_CONCURRENT_STREAMS
  // counts. A stream nghttp2 closed but whose bytes still wait for their reader does not count.
  size_t openStreams() const { return open_streams_; }
  // Server: answers a new stream with RST_STREAM(REFUSED_STREAM) and ignores it (§5.1.2).
  void refuseStream(int32_t stream_id);

  // What the server and client codecs decide differently.
  virtual int onBeginHeaders(const nghttp2_frame& frame) = 0;
  // A complete HEADERS block (request, response, 1xx or trailers) for `stream`.
  virtual void onHeadersComplete(StreamBase& stream, const nghttp2_frame& frame) = 0;
  virtual void onGoAwayReceived() {}
  virtual void onSettingsReceived() {}
  // A stream is gone for good (both directions ended or reset, everything delivered).
  virtual void onStreamRetired(StreamBase&) {}
  // connection_keepalive: arms the first PING (called once the session exists).
  void startKeepalive();

  net::Connection& connection_;
  const Http2Options options_;
  Http2Stats* const stats_;
  nghttp2_session* session_ = nullptr;
  bool above_watermark_ = false;
  bool server_ = false;

 private:
  friend class StreamBase;
  static const nghttp2_session_callbacks* callbacks();

  // nghttp2 callbacks (user_data is the ConnectionImpl).
  ssize_t onSend(const uint8_t* data, size_t length);
  int onSendData(nghttp2_frame* frame, const uint8_t* framehd, size_t length,
                 nghttp2_data_source* source);
  int onHeader(const nghttp2_frame& frame, std::string_view name, std::string_view value);
  int onFrameReceived(const nghttp2_frame& frame);
  int onDataChunk(int32_t stream_id, const uint8_t* data, size_t len);
  int onFrameSent(const nghttp2_frame& frame);
  int onStreamClosed(int32_t stream_id, uint32_t error_code);
  int onInvalidFrame(const nghttp2_frame& frame, int error_code);
  int onBeginFrame(const nghttp2_frame_hd& hd);
  // Server: the SETTINGS frame nghttp2 serialized with nghttp2MaxStreams() gets the configured
  // SETTINGS_MAX_CONCURRENT_STREAMS instead (see the class comment). Returns the bytes to send.
  std::string_view advertiseMaxStreams(const uint8_t* data, size_t length, std::string& scratch);
  uint32_t nghttp2MaxStreams() const;
  void markClosed(StreamBase& stream);

  void closeIfDone();
  // connection_keepalive: a PING ACK (or the start) schedules the next PING after the interval
  // plus jitter; a PING unanswered within the timeout closes the connection.
  void onKeepaliveResponse();
  void sendKeepalive();
  void onKeepaliveTimeout();
  // Retires a closed stream once its received bytes are delivered (or it was reset).
  void maybeDestroy(StreamBase& stream);
  void failConnection(std::string_view details);

  std::unordered_map<int32_t, std::unique_ptr<StreamBase>> streams_;
  size_t open_streams_ = 0;
  // Server: the highest stream id the client used, and the id ranges it skipped below it
  // ([first, last], odd ids), newest last.
  static constexpr size_t kMaxSkippedRanges = 16;
  int32_t highest_stream_id_ = 0;
  std::vector<std::pair<int32_t, int32_t>> skipped_ranges_;
  bool settings_rewrite_pending_ = false;
  buffer::Buffer out_;
  bool dispatching_ = false;
  bool sending_ = false;
  bool send_again_ = false;
  bool closed_ = false;
  bool goaway_sent_ = false;
  bool goaway_received_ = false;
  bool error_ = false;
  std::string error_details_;
  event::TimerPtr keepalive_send_timer_;
  event::TimerPtr keepalive_timeout_timer_;
};

// One HTTP/2 stream: what both directions share. Subclasses add the encoder and decoder side.
class ConnectionImpl::StreamBase : public Stream, public event::DeferredDeletable {
 public:
  explicit StreamBase(ConnectionImpl& parent) : parent_(parent) {}

  // Stream
  void addCallbacks(StreamCallbacks& callbacks) override;
  void removeCallbacks(StreamCallbacks& callbacks) override;
  void resetStream(StreamResetReason reason) override;
  void readDisable(bool disable) override;
  uint32_t bufferLimit() const override { return parent_.options_.buffer_limit; }

  int32_t stream_id_ = -1;
  ConnectionImpl& parent_;
  HeaderMapPtr receiving_;  // the header block being received

  // Used by the server and client codecs.
  // To the stream's decoder (request decoder or response decoder).
  virtual void decodeHeaders(HeaderMapPtr headers, bool end_stream) = 0;
  virtual void decodeData(buffer::Buffer& data, bool end_stream) = 0;
  virtual void decodeTrailers(TrailerMapPtr trailers) = 0;

  // Queues headers (and, unless end_stream, a data provider for what follows). `request`: the
  // client's request, which opens the stream and assigns stream_id_. False when nghttp2 refused.
  bool submitHeaders(const HeaderMap& headers, bool end_stream, bool request);
  void submitInformational(const HeaderMap& headers);
  void encodeDataImpl(buffer::Buffer& data, bool end_stream);
  void encodeTrailersImpl(const TrailerMap& trailers);
  void runResetCallbacks(StreamResetReason reason, std::string_view details);
  void runWatermark(bool above);
  // A header block arrived: trailers wait behind data held while reading is disabled.
  void onHeadersBlock(HeaderMapPtr headers, bool end_stream, bool trailers);

  // nghttp2 closed the stream (both directions ended, or a reset).
  bool closed() const { return closed_; }

  bool reset_ = false;
  bool headers_sent_ = false;
  bool local_end_ = false;       // our END_STREAM is queued (data or trailers)
  bool local_end_sent_ = false;  // ... and serialized
  bool remote_end_ = false;      // the peer's END_STREAM arrived
  bool remote_end_delivered_ = false;
  // An upgraded or CONNECT stream once its answer accepted it (RFC 8441, RFC 9113 §8.5): a
  // tunnel whose directions end on their own, so a finished response does not end the exchange
  // (no RST_STREAM(NO_ERROR)) and the client's bytes keep flowing until its END_STREAM.
  bool tunnel_ = false;

 private:
  friend class ConnectionImpl;
  static ssize_t readCallback(nghttp2_session* session, int32_t stream_id, uint8_t* buf,
                              size_t length, uint32_t* data_flags, nghttp2_data_source* source,
                              void* user_data);
  ssize_t onReadData(size_t length, uint32_t* data_flags);
  void onDataFrame(bool end_stream);
  // Delivers what was held while reading was disabled (data, then trailers or the end).
  void deliverReceived();
  void onSendBufferChanged();
  // The exchange is over in both directions, by END_STREAM or by our RST after completion.
  bool complete() const { return done_early_ || (local_end_sent_ && remote_end_); }
  // All received bytes reached the decoder: a closed stream may go.
  bool drained() const { return recv_buffer_.empty() && pending_trailers_in_ == nullptr; }

  std::vector<StreamCallbacks*> callbacks_;
  buffer::Buffer send_buffer_;  // queued outgoing DATA payload
  buffer::Buffer recv_buffer_;  // received, not yet delivered
  TrailerMapPtr pending_trailers_out_;
  TrailerMapPtr pending_trailers_in_;  // received while data was held
  bool data_deferred_ = false;         // the data provider returned DEFERRED
  bool send_above_ = false;            // send_buffer_ above the limit (producer paused)
  bool closed_ = false;                // nghttp2 closed the stream
  bool done_early_ = false;            // our RST_STREAM(NO_ERROR) ended a finished exchange
  bool rst_received_ = false;
  bool messaging_error_ = false;  // nghttp2 found the message malformed (it sent RST_STREAM)
  uint32_t read_disables_ = 0;
  size_t unconsumed_ = 0;  // received bytes whose stream window is not yet returned
  event::TimerPtr deliver_timer_;
};

// Converts a header map to nghttp2 name/value pairs for sending. Pseudo-headers first, as the map
// keeps them; connection-specific fields (RFC 9113 §8.2.2) and `host` (folded into :authority)
// are dropped; `te` only as "trailers". The pairs point into `headers`.
std::vector<nghttp2_nv> toNghttp2Headers(const HeaderMap& headers);

}  // namespace remora::http::http2
