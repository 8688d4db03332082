// Feeds the HTTP/2 server codec (ServerConnectionImpl on libnghttp2) the client preface and then
// the input's bytes, over an in-memory connection and a dispatcher whose timers and deferred
// deletions the harness runs between pieces of input, as the event loop would between reads.
//
// Input: byte 0 picks how the request decoders behave (the Knob bits below: answer early or at
// the end, with bodies and trailers, pause streams, reset some, GOAWAY, connection watermarks,
// small limits); the rest is what the client sends after "PRI * HTTP/2.0...", cut into pieces by
// a generator seeded from the input. Seeds in fuzz/corpus/http2_server_fuzz/.
//
// Beyond ASan/UBSan/LSan, it checks what the connection manager relies on: a stream's decoder
// hears headers first and nothing after its end or its reset, at most one reset, requests that
// nghttp2 passed carry no connection-specific fields; the streams_active gauge matches the
// codec's streams; what the codec writes is a sequence of frames that opens with SETTINGS, on
// stream ids a client could have opened; and once the connection closes every stream has ended
// or heard a reset.
#include <strings.h>

#include <cstring>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "http/http2/server_codec.h"
#include "stats/store.h"

using remora::fuzz::SplitRng;
namespace buffer = remora::buffer;
namespace event = remora::event;
namespace http = remora::http;
namespace net = remora::net;
namespace h2 = remora::http::http2;

namespace {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

enum Knob : uint8_t {
  kAnswerOnHeaders = 1 << 0,  // respond as soon as the request headers arrive
  kAnswerOnEnd = 1 << 1,      // respond once the request is complete
  kBigBodies = 1 << 2,        // responses larger than the default windows, with trailers
  kPauseStreams = 1 << 3,     // readDisable each new stream until the next piece of input
  kResetSome = 1 << 4,        // reset every third stream when its first data arrives
  kGoAway = 1 << 5,           // GOAWAY after the first piece
  kWatermarks = 1 << 6,       // the connection's write buffer crosses its watermarks
  kSmallLimits = 1 << 7,      // small windows, buffer limit, header and stream limits
};

// ---- an event loop that runs only when the harness says so ----

class FakeDispatcher;

class FakeTimer : public event::Timer {
 public:
  FakeTimer(FakeDispatcher& dispatcher, event::TimerCb cb);
  ~FakeTimer() override;
  void enableTimer(std::chrono::milliseconds) override { enabled_ = true; }
  void disableTimer() override { enabled_ = false; }
  bool enabled() const override { return enabled_; }
  void fire() {
    enabled_ = false;
    cb_();
  }

 private:
  FakeDispatcher& dispatcher_;
  event::TimerCb cb_;
  bool enabled_ = false;
};

class FakeDispatcher : public event::Dispatcher {
 public:
  const std::string& name() const override { return name_; }
  event::FileEventPtr createFileEvent(int, event::FileReadyCb, uint32_t) override {
    FUZZ_CHECK(false && "the codec opens no file events");
    return nullptr;
  }
  event::TimerPtr createTimer(event::TimerCb cb) override {
    return std::make_unique<FakeTimer>(*this, std::move(cb));
  }
  void deferredDelete(event::DeferredDeletablePtr object) override {
    deferred_.push_back(std::move(object));
  }
  void post(event::PostCb cb) override { posted_.push_back(std::move(cb)); }
  void run() override {}
  void exit() override {}
  event::MonotonicTime now() const override { return {}; }
  bool isThreadSafe() const override { return true; }

  // One loop iteration: due timers (all of them: the codec only arms zero-delay ones), posted
  // callbacks, then what was deferred for deletion.
  void runOnce() {
    std::vector<FakeTimer*> due;
    for (FakeTimer* t : timers_) {
      if (t->enabled()) due.push_back(t);
    }
    for (FakeTimer* t : due) {
      // An earlier callback may have destroyed or disarmed it.
      if (timers_.count(t) != 0 && t->enabled()) t->fire();
    }
    auto posted = std::move(posted_);
    posted_.clear();
    for (auto& cb : posted) cb();
    clearDeferred();
  }
  void clearDeferred() {
    while (!deferred_.empty()) {
      auto batch = std::move(deferred_);
      deferred_.clear();
      batch.clear();
    }
  }

  std::set<FakeTimer*> timers_;

 private:
  std::string name_ = "fuzz";
  std::vector<event::DeferredDeletablePtr> deferred_;
  std::vector<event::PostCb> posted_;
};

FakeTimer::FakeTimer(FakeDispatcher& dispatcher, event::TimerCb cb)
    : dispatcher_(dispatcher), cb_(std::move(cb)) {
  dispatcher_.timers_.insert(this);
}
FakeTimer::~FakeTimer() { dispatcher_.timers_.erase(this); }

// ---- a connection that keeps what is written and checks it is framed ----

class FakeConnection : public net::Connection {
 public:
  explicit FakeConnection(FakeDispatcher& dispatcher) : dispatcher_(dispatcher) {}

  uint64_t id() const override { return 1; }
  event::Dispatcher& dispatcher() override { return dispatcher_; }
  void addConnectionCallbacks(net::ConnectionCallbacks&) override {}
  void removeConnectionCallbacks(net::ConnectionCallbacks&) override {}
  void addReadFilter(net::ReadFilterSharedPtr) override {}
  bool initializeReadFilters() override { return false; }
  void write(buffer::Buffer& data, bool) override {
    FUZZ_CHECK(state_ == State::Open);  // nothing is written after close()
    pending_ += data.toString();
    bytes_sent_ += data.length();
    data.drain(data.length());
    checkFrames();
  }
  void close(net::ConnectionCloseType) override { state_ = State::Closed; }
  void readDisable(bool disable) override { read_disables_ += disable ? 1 : -1; }
  bool readEnabled() const override { return read_disables_ == 0; }
  void enableHalfClose(bool) override {}
  void setBufferLimits(uint32_t) override {}
  uint32_t bufferLimit() const override { return 0; }
  void setByteStats(const net::ConnectionByteStats&) override {}
  State state() const override { return state_; }
  net::ConnectionInfo& info() override { return info_; }
  const net::ConnectionInfo& info() const override { return info_; }
  bool aboveHighWatermark() const override { return false; }
  uint64_t bytesSent() const override { return bytes_sent_; }
  std::string_view nextProtocol() const override { return {}; }

  bool closed() const { return state_ != State::Open; }

 private:
  // Each complete frame: a known type on a stream id that fits it. The server pushes nothing,
  // so every stream frame is on an odd (client-opened) id.
  void checkFrames() {
    size_t at = 0;
    while (pending_.size() - at >= 9) {
      const auto* p = reinterpret_cast<const uint8_t*>(pending_.data() + at);
      const size_t length = (size_t{p[0]} << 16) | (size_t{p[1]} << 8) | p[2];
      if (pending_.size() - at < 9 + length) break;
      const uint8_t type = p[3];
      const uint32_t stream_id =
          ((uint32_t{p[5]} << 24) | (uint32_t{p[6]} << 16) | (uint32_t{p[7]} << 8) | p[8]) &
          0x7fffffffu;
      if (frames_ == 0) FUZZ_CHECK(type == NGHTTP2_SETTINGS);  // RFC 9113 §3.4
      FUZZ_CHECK(type != NGHTTP2_PUSH_PROMISE && type <= NGHTTP2_CONTINUATION);
      const bool connection_frame =
          type == NGHTTP2_SETTINGS || type == NGHTTP2_PING || type == NGHTTP2_GOAWAY;
      if (connection_frame) FUZZ_CHECK(stream_id == 0);
      if (type == NGHTTP2_DATA || type == NGHTTP2_HEADERS || type == NGHTTP2_RST_STREAM) {
        FUZZ_CHECK(stream_id % 2 == 1);
      }
      ++frames_;
      at += 9 + length;
    }
    pending_.erase(0, at);
  }

  FakeDispatcher& dispatcher_;
  net::ConnectionInfo info_;
  State state_ = State::Open;
  std::string pending_;  // written bytes not yet a whole frame
  uint64_t frames_ = 0;
  uint64_t bytes_sent_ = 0;
  int read_disables_ = 0;
};

// ---- the connection manager's side of each stream ----

class Harness;

class FuzzStream : public http::RequestDecoder, public http::StreamCallbacks {
 public:
  FuzzStream(Harness& harness, http::ResponseEncoder& encoder, size_t index);

  void decodeHeaders(http::RequestHeaderMapPtr headers, bool end_stream) override;
  void decodeData(buffer::Buffer& data, bool end_stream) override;
  void decodeTrailers(http::TrailerMapPtr trailers) override;
  void sendProtocolError(uint32_t, std::string_view) override {
    FUZZ_CHECK(false && "the HTTP/2 codec resets streams instead");
  }
  void onResetStream(http::StreamResetReason, std::string_view) override {
    FUZZ_CHECK(!reset_);
    reset_ = true;
    encoder_ = nullptr;  // the connection manager lets go of a reset stream
  }
  void onAboveWriteBufferHighWatermark() override { ++above_; }
  void onBelowWriteBufferLowWatermark() override {
    ++below_;
    FUZZ_CHECK(below_ <= above_);
  }

  // Between pieces of input: a stream paused on arrival resumes.
  void resume();
  // The outcome the connection manager waits for: its response went out whole, or a reset.
  bool finished() const { return reset_ || response_done_; }

 private:
  void answer();
  void pause(bool disable);

  Harness& harness_;
  http::ResponseEncoder* encoder_;  // null once the response ended or the stream was reset
  const size_t index_;
  bool headers_ = false;
  bool ended_ = false;
  bool reset_ = false;
  bool response_started_ = false;
  bool response_done_ = false;
  int paused_ = 0;
  int above_ = 0;
  int below_ = 0;
};

class Harness : public http::ServerConnectionCallbacks {
 public:
  Harness(uint8_t knobs, h2::Http2Stats& stats)
      : knobs_(knobs), connection_(dispatcher_), stats_(stats) {
    h2::Http2Options options;
    options.max_headers_count = 20;
    if (knobs & kSmallLimits) {
      options.initial_stream_window_size = 1024;
      options.initial_connection_window_size = 65535;
      options.buffer_limit = 4096;
      options.max_header_list_kb = 1;
      options.max_concurrent_streams = 4;
      options.hpack_table_size = 256;
    }
    codec_ = std::make_unique<h2::ServerConnectionImpl>(connection_, *this, options, &stats_);
  }

  ~Harness() {
    codec_.reset();
    dispatcher_.clearDeferred();
  }

  http::RequestDecoder& newStream(http::ResponseEncoder& encoder) override {
    FUZZ_CHECK(!connection_.closed());
    streams_.push_back(std::make_unique<FuzzStream>(*this, encoder, streams_.size()));
    return *streams_.back();
  }

  void run(std::string_view input, SplitRng& rng) {
    const int64_t gauge_base = stats_.streams_active.value() - codec_->activeStreams();
    size_t fed = 0;
    bool above = false;
    for (size_t piece = 0; fed < input.size() && !connection_.closed(); ++piece) {
      const size_t n = rng.next(input.size() - fed);
      buffer::Buffer data;
      data.add(input.substr(fed, n));
      fed += n;
      http::CodecStatus status = codec_->dispatch(data);
      FUZZ_CHECK(data.empty());
      if (!status.ok) {
        FUZZ_CHECK(!status.details.empty());
        connection_.close(net::ConnectionCloseType::FlushWriteAndDelay);  // as the HCM does
        break;
      }
      if (piece == 0 && (knobs_ & kGoAway)) codec_->goAway();
      if (knobs_ & kWatermarks) {
        above = !above;
        if (above) {
          codec_->onUnderlyingConnectionAboveWriteBufferHighWatermark();
        } else {
          codec_->onUnderlyingConnectionBelowWriteBufferLowWatermark();
        }
      }
      for (auto& stream : streams_) stream->resume();
      dispatcher_.runOnce();
      FUZZ_CHECK(stats_.streams_active.value() ==
                 gauge_base + static_cast<int64_t>(codec_->activeStreams()));
    }
    // The connection ends (the client went away, or the codec closed it): every stream must
    // come to an outcome.
    codec_->onConnectionClosed();
    dispatcher_.runOnce();
    for (auto& stream : streams_) FUZZ_CHECK(stream->finished());
    FUZZ_CHECK(codec_->activeStreams() == 0);
    FUZZ_CHECK(stats_.streams_active.value() == gauge_base);
  }

  uint8_t knobs() const { return knobs_; }

 private:
  const uint8_t knobs_;
  FakeDispatcher dispatcher_;
  FakeConnection connection_;
  h2::Http2Stats& stats_;
  std::deque<std::unique_ptr<FuzzStream>> streams_;  // outlive the codec's streams
  std::unique_ptr<h2::ServerConnectionImpl> codec_;
};

FuzzStream::FuzzStream(Harness& harness, http::ResponseEncoder& encoder, size_t index)
    : harness_(harness), encoder_(&encoder), index_(index) {
  encoder.getStream().addCallbacks(*this);
}

void FuzzStream::decodeHeaders(http::RequestHeaderMapPtr headers, bool end_stream) {
  FUZZ_CHECK(!headers_ && !ended_ && !reset_);
  headers_ = true;
  ended_ = end_stream;
  // nghttp2 has validated the request (RFC 9113 §8.2, §8.3): what reaches the connection
  // manager is a well-formed HTTP/2 request.
  FUZZ_CHECK(headers != nullptr && headers->has(http::headers::kMethod));
  FUZZ_CHECK(!headers->has(http::headers::kHost));  // folded into :authority
  for (const auto& entry : *headers) {
    FUZZ_CHECK(!entry.key.empty());
    FUZZ_CHECK(entry.key != "connection" && entry.key != "transfer-encoding" &&
               entry.key != "keep-alive" && entry.key != "upgrade");
    if (entry.key == "te") FUZZ_CHECK(strcasecmp(entry.value.c_str(), "trailers") == 0);
  }
  const uint8_t knobs = harness_.knobs();
  if (knobs & kPauseStreams) pause(true);
  if ((knobs & kAnswerOnHeaders) || (end_stream && (knobs & kAnswerOnEnd))) answer();
}

void FuzzStream::decodeData(buffer::Buffer& data, bool end_stream) {
  FUZZ_CHECK(headers_ && !ended_ && !reset_);
  ended_ = end_stream;
  data.drain(data.length());
  if ((harness_.knobs() & kResetSome) && index_ % 3 == 2 && encoder_ != nullptr) {
    encoder_->getStream().resetStream(http::StreamResetReason::LocalReset);  // → onResetStream
    return;
  }
  if (end_stream && (harness_.knobs() & kAnswerOnEnd)) answer();
}

void FuzzStream::decodeTrailers(http::TrailerMapPtr trailers) {
  FUZZ_CHECK(headers_ && !ended_ && !reset_ && trailers != nullptr);
  ended_ = true;
  for (const auto& entry : *trailers) FUZZ_CHECK(entry.key.empty() || entry.key[0] != ':');
  if (harness_.knobs() & kAnswerOnEnd) answer();
}

void FuzzStream::pause(bool disable) {
  if (encoder_ == nullptr) return;
  paused_ += disable ? 1 : -1;
  encoder_->getStream().readDisable(disable);
}

void FuzzStream::resume() {
  while (paused_ > 0 && encoder_ != nullptr) pause(false);
}

void FuzzStream::answer() {
  if (encoder_ == nullptr || response_started_) return;
  response_started_ = true;
  // The response encoder may reset the stream synchronously (nghttp2 refused the headers), so
  // check encoder_ after each call.
  http::ResponseHeaderMap head;
  head.add(http::headers::kStatus, "200");
  head.add("content-type", "text/plain");
  const bool big = harness_.knobs() & kBigBodies;
  encoder_->encodeHeaders(head, false);
  if (encoder_ == nullptr) return;
  buffer::Buffer body;
  body.add(std::string(big ? 100000 + index_ * 1000 : 13 + index_, 'x'));
  encoder_->encodeData(body, !big);
  if (encoder_ == nullptr) return;
  if (big) {
    http::TrailerMap trailers;
    trailers.add("grpc-status", "0");
    encoder_->encodeTrailers(trailers);
    if (encoder_ == nullptr) return;
  }
  // The connection manager is done with the stream: a paused one resumes first, so nothing it
  // held is left pinned.
  resume();
  response_done_ = true;
  encoder_ = nullptr;
}

h2::Http2Stats& sharedStats() {
  static remora::stats::Store* store = [] {
    auto* s = new remora::stats::Store(1);
    s->bindThread(0);
    return s;
  }();
  static h2::Http2Stats* stats = new h2::Http2Stats(*store, "http2.");
  return *stats;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t knobs = data[0];
  // The preface always arrives first, so the fuzzer spends its time on frames.
  std::string input(kPreface);
  input.append(reinterpret_cast<const char*>(data + 1), size - 1);
  SplitRng rng(data, size);
  Harness harness(knobs, sharedStats());
  harness.run(input, rng);
  return 0;
}
