#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "http/codec1/server_codec.h"
#include "http1_codec_test_util.h"

namespace remora::http::codec1 {
namespace {

// Records what one request stream decoded.
struct TestStream : public RequestDecoder, public StreamCallbacks {
  void decodeHeaders(RequestHeaderMapPtr h, bool end_stream) override {
    headers = std::move(h);
    if (end_stream) ended = true;
  }
  void decodeData(buffer::Buffer& data, bool end_stream) override {
    body += data.toString();
    data.drain(data.length());
    ++data_calls;
    if (end_stream) ended = true;
  }
  void decodeTrailers(TrailerMapPtr t) override {
    trailers = std::move(t);
    ended = true;
  }
  void sendProtocolError(uint32_t code, std::string_view details) override {
    error_code = code;
    error_details = std::string(details);
  }
  void onResetStream(StreamResetReason reason, std::string_view) override {
    reset = true;
    reset_reason = reason;
  }
  void onAboveWriteBufferHighWatermark() override { ++above; }
  void onBelowWriteBufferLowWatermark() override { ++below; }

  ResponseEncoder* encoder = nullptr;
  RequestHeaderMapPtr headers;
  TrailerMapPtr trailers;
  std::string body;
  int data_calls = 0;
  bool ended = false;
  uint32_t error_code = 0;
  std::string error_details;
  bool reset = false;
  StreamResetReason reset_reason = StreamResetReason::LocalReset;
  int above = 0;
  int below = 0;
};

class ServerCodecTest : public ::testing::Test, public ServerConnectionCallbacks {
 protected:
  void init(ServerCodecOptions options = {}) {
    codec_ = std::make_unique<ServerCodecImpl>(*h_.connection, *this, options);
    h_.attach(*codec_);
  }
  RequestDecoder& newStream(ResponseEncoder& encoder) override {
    streams_.push_back(std::make_unique<TestStream>());
    streams_.back()->encoder = &encoder;
    encoder.getStream().addCallbacks(*streams_.back());
    return *streams_.back();
  }
  TestStream& stream(size_t i = 0) { return *streams_.at(i); }
  void respond(TestStream& s, uint32_t status, std::string_view body,
               std::vector<std::pair<std::string, std::string>> extra = {}) {
    HeaderMap headers;
    headers.add(":status", std::to_string(status));
    for (auto& [k, v] : extra) headers.add(k, v);
    s.encoder->encodeHeaders(headers, body.empty());
    if (!body.empty()) {
      buffer::Buffer data;
      data.add(body);
      s.encoder->encodeData(data, true);
    }
  }
  // Sends a hostile request and expects a protocol error with no decoded headers.
  void expectRejected(std::string_view request, uint32_t code, std::string_view details) {
    init();
    h_.peerWrite(request);
    ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().error_code != 0; }))
        << request;
    EXPECT_EQ(stream().error_code, code) << request;
    EXPECT_EQ(stream().error_details, details) << request;
    EXPECT_EQ(stream().headers, nullptr) << request;
    EXPECT_TRUE(h_.glue->failed);
    EXPECT_EQ(h_.glue->details, details);
  }

  testing::SocketPairHarness h_;
  std::unique_ptr<ServerCodecImpl> codec_;
  std::vector<std::unique_ptr<TestStream>> streams_;
};

TEST_F(ServerCodecTest, GetWithChunkedResponse) {
  init();
  h_.peerWrite("GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\nX-Y: 1\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().ended; }));
  const HeaderMap& hm = *stream().headers;
  EXPECT_EQ(hm.method(), "GET");
  EXPECT_EQ(hm.path(), "/a?b=c");
  EXPECT_EQ(hm.host(), "example.com");
  EXPECT_EQ(hm.scheme(), "http");
  EXPECT_EQ(*hm.get("user-agent"), "t");
  EXPECT_FALSE(hm.has("host"));
  EXPECT_EQ(hm.entries()[0].key, ":method");
  HeaderMap rh;
  rh.add(":status", "200");
  rh.add("x-r", "1");
  stream().encoder->encodeHeaders(rh, false);
  buffer::Buffer data;
  data.add("hello");
  stream().encoder->encodeData(data, true);
  ASSERT_TRUE(h_.runUntil([&] { return h_.received.find("0\r\n\r\n") != std::string::npos; }));
  EXPECT_EQ(h_.received,
            "HTTP/1.1 200 OK\r\nx-r: 1\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n"
            "0\r\n\r\n");
  EXPECT_FALSE(h_.peer_eof);
  EXPECT_EQ(codec_->protocol(), Protocol::Http11);
}

TEST_F(ServerCodecTest, PostWithContentLengthBody) {
  init();
  h_.peerWrite("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello");
  ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().body == "hello"; }));
  EXPECT_FALSE(stream().ended);
  EXPECT_EQ(*stream().headers->get("content-length"), "11");
  h_.peerWrite(" world");
  ASSERT_TRUE(h_.runUntil([&] { return stream().ended; }));
  EXPECT_EQ(stream().body, "hello world");
  respond(stream(), 201, "ok", {{"content-length", "2"}});
  ASSERT_TRUE(h_.runUntil([&] { return h_.received.size() >= 40; }));
  EXPECT_EQ(h_.received, "HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok");
}

TEST_F(ServerCodecTest, ChunkedUploadWithTrailers) {
  init();
  h_.peerWrite("PUT /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().body == "hello"; }));
  h_.peerWrite("6;ext=1\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return stream().ended; }));
  EXPECT_EQ(stream().body, "hello world");
  ASSERT_NE(stream().trailers, nullptr);
  EXPECT_EQ(*stream().trailers->get("x-checksum"), "abc");
}

TEST_F(ServerCodecTest, PipelinedRequestsAnsweredInOrder) {
  init();
  h_.peerWrite(
      "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n"
      "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().ended; }));
  h_.runFor(5);
  ASSERT_EQ(streams_.size(), 1u);  // the second waits for the first response
  respond(stream(0), 200, "one", {{"content-length", "3"}});
  ASSERT_TRUE(h_.runUntil([&] { return streams_.size() == 2 && stream(1).ended; }));
  EXPECT_EQ(stream(1).headers->path(), "/2");
  h_.runFor(3);
  EXPECT_EQ(streams_.size(), 2u);
  respond(stream(1), 200, "two", {{"content-length", "3"}});
  ASSERT_TRUE(h_.runUntil([&] { return streams_.size() == 3 && stream(2).ended; }));
  EXPECT_EQ(stream(2).headers->path(), "/3");
  respond(stream(2), 404, "");
  ASSERT_TRUE(h_.runUntil([&] { return h_.received.find("404") != std::string::npos; }));
  const size_t one = h_.received.find("one");
  const size_t two = h_.received.find("two");
  EXPECT_NE(one, std::string::npos);
  EXPECT_LT(one, two);
  EXPECT_NE(h_.received.find("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"),
            std::string::npos);
}

TEST_F(ServerCodecTest, PipelinedBytesAboveLimitPauseReading) {
  ServerCodecOptions options;
  options.buffer_limit = 64;
  init(options);
  h_.peerWrite("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\nX-Pad: " +
               std::string(100, 'p') + "\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().ended; }));
  EXPECT_FALSE(h_.connection->readEnabled());
  respond(stream(0), 200, "");
  ASSERT_TRUE(h_.runUntil([&] { return streams_.size() == 2 && stream(1).ended; }));
  EXPECT_TRUE(h_.connection->readEnabled());
  EXPECT_EQ(stream(1).headers->path(), "/2");
}

TEST_F(ServerCodecTest, HeadResponseKeepsContentLengthWithoutBody) {
  init();
  h_.peerWrite("HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().ended; }));
  respond(stream(), 200, "0123456789", {{"content-length", "10"}});
  ASSERT_TRUE(h_.runUntil([&] { return h_.received.find("\r\n\r\n") != std::string::npos; }));
  h_.runFor(3);
  EXPECT_EQ(h_.received, "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n");
}

TEST_F(ServerCodecTest, NoContentAndNotModifiedCarryNoBody) {
  init();
  h_.peerWrite("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().ended; }));
  respond(stream(0), 204, "ignored");
  ASSERT_TRUE(h_.runUntil([&] { return streams_.size() == 2 && stream(1).ended; }));
  respond(stream(1), 304, "ignored", {{"etag", "\"x\""}});
  ASSERT_TRUE(h_.runUntil([&] { return h_.received.find("304") != std::string::npos; }));
  h_.runFor(3);
  EXPECT_EQ(h_.received,
            "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\netag: \"x\"\r\n\r\n");
}

TEST_F(ServerCodecTest, ExpectContinueIsPassedThrough) {
  init();
  h_.peerWrite("POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().headers != nullptr; }));
  EXPECT_EQ(*stream().headers->get("expect"), "100-continue");
  HeaderMap cont;
  cont.add(":status", "100");
  stream().encoder->encode1xxHeaders(cont);
  ASSERT_TRUE(h_.runUntil([&] { return !h_.received.empty(); }));
  EXPECT_EQ(h_.received, "HTTP/1.1 100 Continue\r\n\r\n");
  h_.peerWrite("data");
  ASSERT_TRUE(h_.runUntil([&] { return stream().ended; }));
  EXPECT_EQ(stream().body, "data");
}

TEST_F(ServerCodecTest, Http10RejectedWithUpgradeRequired) {
  expectRejected("GET / HTTP/1.0\r\n\r\n", 426, "low_version");
}

TEST_F(ServerCodecTest, Http10AcceptedWhenEnabled) {
  ServerCodecOptions options;
  options.accept_http_10 = true;
  options.default_host_for_http_10 = "default.local";
  init(options);
  h_.peerWrite("GET /old HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().ended; }));
  EXPECT_EQ(stream().headers->host(), "default.local");
  EXPECT_EQ(codec_->protocol(), Protocol::Http10);
  HeaderMap rh;
  rh.add(":status", "200");
  stream().encoder->encodeHeaders(rh, false);
  buffer::Buffer data;
  data.add("body");
  stream().encoder->encodeData(data, true);
  ASSERT_TRUE(h_.runUntil([&] { return h_.peer_eof; }));
  EXPECT_EQ(h_.received, "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nbody");
}

TEST_F(ServerCodecTest, AbsoluteFormTakesAuthorityFromUrl) {
  init();
  h_.peerWrite("GET http://Example.org:8080/p/q?x=1 HTTP/1.1\r\nHost: other\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().ended; }));
  EXPECT_EQ(stream().headers->host(), "Example.org:8080");
  EXPECT_EQ(stream().headers->path(), "/p/q?x=1");
}

TEST_F(ServerCodecTest, ConnectionCloseClosesAfterResponse) {
  init();
  h_.peerWrite("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().ended; }));
  respond(stream(), 200, "x", {{"content-length", "1"}});
  ASSERT_TRUE(h_.runUntil([&] { return h_.peer_eof; }));
  EXPECT_EQ(h_.received, "HTTP/1.1 200 OK\r\ncontent-length: 1\r\nconnection: close\r\n\r\nx");
  EXPECT_FALSE(stream().reset);
}

TEST_F(ServerCodecTest, HostileContentLengthAndTransferEncoding) {
  expectRejected(
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
      "http1.content_length_and_chunked_not_allowed");
}

TEST_F(ServerCodecTest, HostileTwoContentLengths) {
  expectRejected("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                 400, "http1.codec_error");
}

TEST_F(ServerCodecTest, HostileHeaderWithoutColon) {
  expectRejected("GET / HTTP/1.1\r\nHost: h\r\nNoColonHere\r\n\r\n", 400,
                 "http1.invalid_characters");
}

TEST_F(ServerCodecTest, HostileNulInHeader) {
  expectRejected(std::string_view("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", 35), 400,
                 "http1.invalid_characters");
}

TEST_F(ServerCodecTest, HostileCrInHeader) {
  expectRejected("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400, "http1.invalid_characters");
}

TEST_F(ServerCodecTest, HostileUnknownTransferCoding) {
  expectRejected("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
                 "http1.invalid_transfer_encoding");
}

TEST_F(ServerCodecTest, OversizedHeadersAre431) {
  ServerCodecOptions options;
  options.max_request_headers_kb = 1;
  codec_ = std::make_unique<ServerCodecImpl>(*h_.connection, *this, options);
  h_.attach(*codec_);
  h_.peerWrite("GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().error_code != 0; }));
  EXPECT_EQ(stream().error_code, 431u);
  EXPECT_EQ(stream().error_details, "http1.headers_too_large");
  EXPECT_EQ(stream().headers, nullptr);
}

TEST_F(ServerCodecTest, BadChunkSizeAfterHeaders) {
  init();
  h_.peerWrite("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().error_code != 0; }));
  EXPECT_NE(stream().headers, nullptr);  // the head was fine; the body is not
  EXPECT_EQ(stream().error_code, 400u);
  EXPECT_EQ(stream().error_details, "http1.codec_error");
  // The local reply the connection manager sends closes the connection.
  respond(stream(), 400, "");
  ASSERT_TRUE(h_.runUntil([&] { return h_.peer_eof; }));
  EXPECT_NE(h_.received.find("connection: close"), std::string::npos);
}

TEST_F(ServerCodecTest, NothingDecodedAfterError) {
  init();
  h_.peerWrite("GET / HTTP/1.1\r\nBad Header: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().error_code != 0; }));
  h_.runFor(5);
  EXPECT_EQ(streams_.size(), 1u);
  EXPECT_EQ(stream().headers, nullptr);
}

TEST_F(ServerCodecTest, ResetStreamClosesConnection) {
  init();
  h_.peerWrite("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().ended; }));
  stream().encoder->getStream().resetStream(StreamResetReason::LocalReset);
  EXPECT_TRUE(stream().reset);
  EXPECT_EQ(stream().reset_reason, StreamResetReason::LocalReset);
  ASSERT_TRUE(h_.runUntil([&] { return h_.peer_eof; }));
}

TEST_F(ServerCodecTest, PeerCloseMidRequestResetsWithConnectionTermination) {
  init();
  h_.peerWrite("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc");
  ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().body == "abc"; }));
  h_.peerClose();
  ASSERT_TRUE(h_.runUntil([&] { return stream().reset; }));
  EXPECT_EQ(stream().reset_reason, StreamResetReason::ConnectionTermination);
}

TEST_F(ServerCodecTest, StreamReadDisableIsCountedOnTheConnection) {
  init();
  h_.peerWrite("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\nabc");
  ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().body == "abc"; }));
  Stream& s = stream().encoder->getStream();
  s.readDisable(true);
  s.readDisable(true);
  EXPECT_FALSE(h_.connection->readEnabled());
  h_.peerWrite("def");
  h_.runFor(5);
  EXPECT_EQ(stream().body, "abc");
  s.readDisable(false);
  EXPECT_FALSE(h_.connection->readEnabled());
  s.readDisable(false);
  ASSERT_TRUE(h_.runUntil([&] { return stream().ended; }));
  EXPECT_EQ(stream().body, "abcdef");
}

TEST_F(ServerCodecTest, WriteWatermarksReachTheStream) {
  init();
  h_.peerWrite("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().ended; }));
  codec_->onUnderlyingConnectionAboveWriteBufferHighWatermark();
  codec_->onUnderlyingConnectionBelowWriteBufferLowWatermark();
  EXPECT_EQ(stream().above, 1);
  EXPECT_EQ(stream().below, 1);
}

// Upgrades (WebSocket): after an upgrade head every byte is request data until the client's FIN;
// a 101 goes out as is and is followed by raw bytes; the connection never parses HTTP again.
TEST_F(ServerCodecTest, UpgradePassesBytesThroughWithHalfClose) {
  init();
  h_.peerWrite(
      "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nEARLY");
  ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().body == "EARLY"; }));
  EXPECT_FALSE(stream().ended);
  EXPECT_EQ(*stream().headers->get("upgrade"), "websocket");
  EXPECT_EQ(*stream().headers->get("connection"), "Upgrade");
  HeaderMap switching;
  switching.add(":status", "101");
  switching.add("connection", "Upgrade");
  switching.add("upgrade", "websocket");
  stream().encoder->encodeHeaders(switching, false);
  buffer::Buffer out;
  out.add("from-server");
  stream().encoder->encodeData(out, false);
  ASSERT_TRUE(h_.runUntil([&] { return h_.received.ends_with("from-server"); }));
  EXPECT_EQ(h_.received,
            "HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n"
            "from-server");
  // An HTTP request now is just bytes of the upgraded protocol.
  h_.peerWrite("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return stream().body.size() > 5; }));
  EXPECT_EQ(stream().body, "EARLYGET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(streams_.size(), 1u);
  // The client's FIN ends its direction only: the server can still send.
  h_.peerShutdownWrite();
  ASSERT_TRUE(h_.runUntil([&] { return stream().ended; }));
  EXPECT_FALSE(stream().reset);
  EXPECT_FALSE(h_.peer_eof);
  buffer::Buffer last;
  last.add("bye");
  stream().encoder->encodeData(last, true);
  ASSERT_TRUE(h_.runUntil([&] { return h_.peer_eof; }));
  EXPECT_TRUE(h_.received.ends_with("from-serverbye"));
  EXPECT_FALSE(stream().reset);
}

TEST_F(ServerCodecTest, RefusedUpgradeClosesAfterTheResponse) {
  init();
  h_.peerWrite("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().headers != nullptr; }));
  respond(stream(), 403, "");
  ASSERT_TRUE(h_.runUntil([&] { return h_.peer_eof; }));
  EXPECT_EQ(h_.received,
            "HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
  EXPECT_EQ(streams_.size(), 1u);
}

TEST_F(ServerCodecTest, H2cAndUpgradeWithBodyArePlainRequests) {
  init();
  h_.peerWrite(
      "GET /a HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
      "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return !streams_.empty() && stream().ended; }));
  EXPECT_FALSE(stream().headers->has("upgrade"));
  EXPECT_FALSE(stream().headers->has("http2-settings"));
  EXPECT_FALSE(stream().headers->has("connection"));
  respond(stream(), 200, "ok");
  h_.peerWrite(
      "POST /b HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, upgrade\r\nUpgrade: websocket\r\n"
      "Content-Length: 3\r\n\r\nabc");
  ASSERT_TRUE(h_.runUntil([&] { return streams_.size() == 2 && stream(1).ended; }));
  EXPECT_EQ(stream(1).body, "abc");
  EXPECT_FALSE(stream(1).headers->has("upgrade"));
  EXPECT_EQ(*stream(1).headers->get("connection"), "keep-alive");
}

}  // namespace
}  // namespace remora::http::codec1
