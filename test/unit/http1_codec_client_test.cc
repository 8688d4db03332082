#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "http/codec1/client_codec.h"
#include "http1_codec_test_util.h"

namespace remora::http::codec1 {
namespace {

// Records one response.
struct TestResponse : public ResponseDecoder, public StreamCallbacks {
  void decode1xxHeaders(ResponseHeaderMapPtr h) override { informational.push_back(std::move(h)); }
  void decodeHeaders(ResponseHeaderMapPtr h, bool end_stream) override {
    headers = std::move(h);
    if (end_stream) ended = true;
  }
  void decodeData(buffer::Buffer& data, bool end_stream) override {
    body += data.toString();
    data.drain(data.length());
    if (end_stream) ended = true;
  }
  void decodeTrailers(TrailerMapPtr t) override {
    trailers = std::move(t);
    ended = true;
  }
  void onResetStream(StreamResetReason r, std::string_view) override {
    reset = true;
    reason = r;
  }
  void onAboveWriteBufferHighWatermark() override {}
  void onBelowWriteBufferLowWatermark() override {}

  std::vector<ResponseHeaderMapPtr> informational;
  ResponseHeaderMapPtr headers;
  TrailerMapPtr trailers;
  std::string body;
  bool ended = false;
  bool reset = false;
  StreamResetReason reason = StreamResetReason::LocalReset;
};

class ClientCodecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    codec_ = std::make_unique<ClientCodecImpl>(*h_.connection);
    h_.attach(*codec_);
  }
  // Sends a request; returns its encoder.
  RequestEncoder& send(TestResponse& response, std::string_view method, bool end_stream = true,
                       std::vector<std::pair<std::string, std::string>> extra = {}) {
    RequestEncoder& encoder = codec_->newStream(response);
    encoder.getStream().addCallbacks(response);
    HeaderMap headers;
    headers.add(":method", method);
    headers.add(":path", "/x");
    headers.add(":authority", "svc.local");
    headers.add(":scheme", "http");
    for (auto& [k, v] : extra) headers.add(k, v);
    encoder.encodeHeaders(headers, end_stream);
    return encoder;
  }
  bool waitRequest(std::string_view until) {
    return h_.runUntil([&] { return h_.received.find(until) != std::string::npos; });
  }

  testing::SocketPairHarness h_;
  std::unique_ptr<ClientCodecImpl> codec_;
};

TEST_F(ClientCodecTest, GetWithContentLengthResponse) {
  TestResponse r;
  send(r, "GET", true, {{"accept", "*/*"}});
  ASSERT_TRUE(waitRequest("\r\n\r\n"));
  EXPECT_EQ(h_.received, "GET /x HTTP/1.1\r\nhost: svc.local\r\naccept: */*\r\n\r\n");
  EXPECT_FALSE(codec_->reusable());  // in flight
  h_.peerWrite("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhel");
  ASSERT_TRUE(h_.runUntil([&] { return r.body == "hel"; }));
  EXPECT_EQ(r.headers->status(), 200u);
  EXPECT_EQ(*r.headers->get("x-a"), "b");
  EXPECT_FALSE(r.ended);
  h_.peerWrite("lo");
  ASSERT_TRUE(h_.runUntil([&] { return r.ended; }));
  EXPECT_EQ(r.body, "hello");
  EXPECT_TRUE(codec_->reusable());
  EXPECT_FALSE(h_.glue->failed);
}

TEST_F(ClientCodecTest, ChunkedRequestAndChunkedResponseWithTrailers) {
  TestResponse r;
  RequestEncoder& encoder = send(r, "POST", false);
  buffer::Buffer body;
  body.add("abc");
  encoder.encodeData(body, false);
  HeaderMap trailers;
  trailers.add("x-t", "1");
  encoder.encodeTrailers(trailers);
  ASSERT_TRUE(waitRequest("x-t: 1\r\n\r\n"));
  EXPECT_EQ(h_.received,
            "POST /x HTTP/1.1\r\nhost: svc.local\r\ntransfer-encoding: chunked\r\n\r\n"
            "3\r\nabc\r\n0\r\nx-t: 1\r\n\r\n");
  h_.peerWrite(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n0\r\nGrpc-Status: 0\r\n"
      "\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return r.ended; }));
  EXPECT_EQ(r.body, "wxyz");
  ASSERT_NE(r.trailers, nullptr);
  EXPECT_EQ(*r.trailers->get("grpc-status"), "0");
  EXPECT_TRUE(codec_->reusable());
}

TEST_F(ClientCodecTest, PostWithoutBodyGetsContentLengthZero) {
  TestResponse r;
  send(r, "POST", true);
  ASSERT_TRUE(waitRequest("\r\n\r\n"));
  EXPECT_EQ(h_.received, "POST /x HTTP/1.1\r\nhost: svc.local\r\ncontent-length: 0\r\n\r\n");
}

TEST_F(ClientCodecTest, CloseDelimitedResponseEndsAtClose) {
  TestResponse r;
  send(r, "GET");
  ASSERT_TRUE(waitRequest("\r\n\r\n"));
  h_.peerWrite("HTTP/1.1 200 OK\r\n\r\nall of it");
  ASSERT_TRUE(h_.runUntil([&] { return r.body == "all of it"; }));
  EXPECT_FALSE(r.ended);
  h_.peerClose();
  ASSERT_TRUE(h_.runUntil([&] { return r.ended; }));
  EXPECT_EQ(r.body, "all of it");
  EXPECT_FALSE(r.reset);
  EXPECT_FALSE(codec_->reusable());
}

TEST_F(ClientCodecTest, InformationalThenFinal) {
  TestResponse r;
  send(r, "GET");
  ASSERT_TRUE(waitRequest("\r\n\r\n"));
  h_.peerWrite(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  ASSERT_TRUE(h_.runUntil([&] { return r.ended; }));
  ASSERT_EQ(r.informational.size(), 2u);
  EXPECT_EQ(r.informational[0]->status(), 100u);
  EXPECT_EQ(*r.informational[1]->get("link"), "</s.css>");
  EXPECT_EQ(r.headers->status(), 200u);
  EXPECT_EQ(r.body, "ok");
  EXPECT_TRUE(codec_->reusable());
}

TEST_F(ClientCodecTest, HeadResponseHasNoBodyWhateverContentLengthSays) {
  TestResponse r;
  send(r, "HEAD");
  ASSERT_TRUE(waitRequest("\r\n\r\n"));
  h_.peerWrite("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return r.ended; }));
  EXPECT_EQ(*r.headers->get("content-length"), "100");
  EXPECT_TRUE(codec_->reusable());
  // The connection carries the next request.
  TestResponse r2;
  send(r2, "GET");
  h_.peerWrite("HTTP/1.1 204 No Content\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return r2.ended; }));
  EXPECT_EQ(r2.headers->status(), 204u);
  EXPECT_TRUE(codec_->reusable());
}

TEST_F(ClientCodecTest, NotReusableAfterConnectionClose) {
  TestResponse r;
  send(r, "GET");
  h_.peerWrite("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return r.ended; }));
  EXPECT_FALSE(codec_->reusable());
}

TEST_F(ClientCodecTest, Http10ReusableOnlyWithKeepAlive) {
  TestResponse r;
  send(r, "GET");
  h_.peerWrite("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\na");
  ASSERT_TRUE(h_.runUntil([&] { return r.ended; }));
  EXPECT_TRUE(codec_->reusable());
  TestResponse r2;
  send(r2, "GET");
  h_.peerWrite("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb");
  ASSERT_TRUE(h_.runUntil([&] { return r2.ended; }));
  EXPECT_FALSE(codec_->reusable());
}

TEST_F(ClientCodecTest, ProtocolErrorResetsStream) {
  TestResponse r;
  send(r, "GET");
  h_.peerWrite("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return r.reset; }));
  EXPECT_EQ(r.reason, StreamResetReason::ProtocolError);
  EXPECT_EQ(r.headers, nullptr);
  EXPECT_TRUE(h_.glue->failed);
  EXPECT_FALSE(codec_->reusable());
}

TEST_F(ClientCodecTest, ResponseWithoutRequestIsAnError) {
  h_.peerWrite("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return h_.glue->failed; }));
  EXPECT_EQ(h_.glue->details, "http1.unexpected_response_data");
  EXPECT_FALSE(codec_->reusable());
}

TEST_F(ClientCodecTest, TrailingGarbageMakesConnectionUnusable) {
  TestResponse r;
  send(r, "GET");
  h_.peerWrite("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naEXTRA");
  ASSERT_TRUE(h_.runUntil([&] { return r.ended && h_.glue->failed; }));
  EXPECT_EQ(r.body, "a");
  EXPECT_FALSE(codec_->reusable());
}

TEST_F(ClientCodecTest, EarlyCloseResetsWithConnectionTermination) {
  TestResponse r;
  send(r, "GET");
  h_.peerWrite("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  ASSERT_TRUE(h_.runUntil([&] { return r.body == "abc"; }));
  h_.peerClose();
  ASSERT_TRUE(h_.runUntil([&] { return r.reset; }));
  EXPECT_EQ(r.reason, StreamResetReason::ConnectionTermination);
}

// Upgrades (WebSocket): unframed request, held early bytes, 101 switches to raw bytes both ways
// with half-close; the connection is never reusable afterwards.
TEST_F(ClientCodecTest, UpgradeSwitchesToRawBytesWithHalfClose) {
  TestResponse r;
  RequestEncoder& encoder =
      send(r, "GET", false, {{"connection", "Upgrade"}, {"upgrade", "websocket"}});
  ASSERT_TRUE(waitRequest("\r\n\r\n"));
  EXPECT_EQ(
      h_.received,
      "GET /x HTTP/1.1\r\nhost: svc.local\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n");
  buffer::Buffer early;
  early.add("early");
  encoder.encodeData(early, false);
  h_.runFor(5);
  EXPECT_EQ(h_.received.find("early"), std::string::npos);  // held until the 101
  h_.peerWrite(
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nSRV");
  ASSERT_TRUE(h_.runUntil([&] { return r.headers != nullptr && r.body == "SRV"; }));
  EXPECT_EQ(r.headers->status(), 101u);
  EXPECT_TRUE(r.informational.empty());
  EXPECT_FALSE(r.ended);
  ASSERT_TRUE(waitRequest("early"));
  // Bytes that look like HTTP are just bytes now.
  h_.peerWrite("HTTP/1.1 200 OK\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return r.body == "SRVHTTP/1.1 200 OK\r\n\r\n"; }));
  // The upstream's FIN ends its direction only; ours stays open.
  h_.peerShutdownWrite();
  ASSERT_TRUE(h_.runUntil([&] { return r.ended; }));
  EXPECT_FALSE(r.reset);
  buffer::Buffer last;
  last.add("last");
  encoder.encodeData(last, true);
  ASSERT_TRUE(h_.runUntil([&] { return h_.peer_eof; }));
  EXPECT_TRUE(h_.received.ends_with("earlylast"));
  EXPECT_FALSE(codec_->reusable());
  EXPECT_FALSE(h_.glue->failed);
}

TEST_F(ClientCodecTest, RefusedUpgradeIsAnOrdinaryResponseAndDropsHeldBytes) {
  TestResponse r;
  RequestEncoder& encoder =
      send(r, "GET", false, {{"connection", "upgrade"}, {"upgrade", "websocket"}});
  buffer::Buffer early;
  early.add("GET /smuggled HTTP/1.1\r\n\r\n");
  encoder.encodeData(early, false);
  h_.peerWrite("HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno");
  ASSERT_TRUE(h_.runUntil([&] { return r.ended; }));
  EXPECT_EQ(r.headers->status(), 404u);
  EXPECT_EQ(r.body, "no");
  h_.runFor(5);
  EXPECT_EQ(h_.received.find("smuggled"), std::string::npos);
  EXPECT_FALSE(codec_->reusable());
}

TEST_F(ClientCodecTest, SwitchingProtocolsWithoutUpgradeRequestIsAnError) {
  TestResponse r;
  send(r, "GET");
  h_.peerWrite("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
  ASSERT_TRUE(h_.runUntil([&] { return r.reset; }));
  EXPECT_EQ(r.reason, StreamResetReason::ProtocolError);
}

}  // namespace
}  // namespace remora::http::codec1
