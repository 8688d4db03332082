// The gRPC helpers of the HTTP layer: grpc-timeout parsing and formatting, the status mappings,
// grpc-status reading, the trailers-only local reply, message framing, and base64.
#include <gtest/gtest.h>

#include "common/base64.h"
#include "http/grpc.h"

namespace remora::http {
namespace {

using std::chrono::milliseconds;

TEST(GrpcTimeoutTest, ParsesEveryUnit) {
  EXPECT_EQ(parseGrpcTimeout("2H"), milliseconds(2 * 3600 * 1000));
  EXPECT_EQ(parseGrpcTimeout("3M"), milliseconds(180000));
  EXPECT_EQ(parseGrpcTimeout("1S"), milliseconds(1000));
  EXPECT_EQ(parseGrpcTimeout("250m"), milliseconds(250));
  EXPECT_EQ(parseGrpcTimeout("0m"), milliseconds(0));
  // Sub-millisecond values round up: a deadline is never extended, and 1n is not "no timeout".
  EXPECT_EQ(parseGrpcTimeout("1000u"), milliseconds(1));
  EXPECT_EQ(parseGrpcTimeout("1001u"), milliseconds(2));
  EXPECT_EQ(parseGrpcTimeout("1n"), milliseconds(1));
  EXPECT_EQ(parseGrpcTimeout("2000000n"), milliseconds(2));
  EXPECT_EQ(parseGrpcTimeout("99999999S"), milliseconds(99999999000LL));
  EXPECT_EQ(parseGrpcTimeout("000000001S"), milliseconds(1000));  // value, not digits, is capped
}

TEST(GrpcTimeoutTest, RejectsMalformed) {
  for (const char* bad : {"", "S", "m", "1", "10", "1s", "1x", "-1S", "+1S", " 1S", "1 S", "1.5S",
                          "100000000m", "1SS", "S1"}) {
    EXPECT_FALSE(parseGrpcTimeout(bad).has_value()) << bad;
  }
}

TEST(GrpcTimeoutTest, ReadsTheHeader) {
  HeaderMap headers;
  EXPECT_FALSE(grpcTimeoutOf(headers).has_value());
  headers.set("grpc-timeout", "5S");
  EXPECT_EQ(grpcTimeoutOf(headers), milliseconds(5000));
}

TEST(GrpcTimeoutTest, FormatsInTheSmallestUnitThatFits) {
  EXPECT_EQ(formatGrpcTimeout(milliseconds(0)), "0m");
  EXPECT_EQ(formatGrpcTimeout(milliseconds(1500)), "1500m");
  EXPECT_EQ(formatGrpcTimeout(milliseconds(99999999)), "99999999m");
  EXPECT_EQ(formatGrpcTimeout(milliseconds(100000000)), "100000S");
  EXPECT_EQ(formatGrpcTimeout(milliseconds(100000000000LL)), "1666666M");
  EXPECT_EQ(formatGrpcTimeout(milliseconds(10000000000000LL)), "2777777H");
  EXPECT_EQ(formatGrpcTimeout(milliseconds::max()), "99999999H");
  // Round trip for what fits.
  EXPECT_EQ(parseGrpcTimeout(formatGrpcTimeout(milliseconds(1234))), milliseconds(1234));
}

TEST(GrpcStatusTest, HttpToGrpcAsEnvoy) {
  EXPECT_EQ(grpcStatusFromHttp(400), grpc_status::kInternal);
  EXPECT_EQ(grpcStatusFromHttp(401), grpc_status::kUnauthenticated);
  EXPECT_EQ(grpcStatusFromHttp(403), grpc_status::kPermissionDenied);
  EXPECT_EQ(grpcStatusFromHttp(404), grpc_status::kUnimplemented);
  for (uint32_t code : {429u, 502u, 503u, 504u})
    EXPECT_EQ(grpcStatusFromHttp(code), grpc_status::kUnavailable) << code;
  for (uint32_t code : {408u, 413u, 500u, 507u})
    EXPECT_EQ(grpcStatusFromHttp(code), grpc_status::kUnknown) << code;
}

TEST(GrpcStatusTest, GrpcToHttpAsEnvoy) {
  EXPECT_EQ(httpStatusFromGrpc(grpc_status::kOk), 200u);
  EXPECT_EQ(httpStatusFromGrpc(grpc_status::kCanceled), 499u);
  EXPECT_EQ(httpStatusFromGrpc(grpc_status::kDeadlineExceeded), 504u);
  EXPECT_EQ(httpStatusFromGrpc(grpc_status::kResourceExhausted), 429u);
  EXPECT_EQ(httpStatusFromGrpc(grpc_status::kUnimplemented), 501u);
  EXPECT_EQ(httpStatusFromGrpc(grpc_status::kUnavailable), 503u);
  EXPECT_EQ(httpStatusFromGrpc(grpc_status::kUnauthenticated), 401u);
  EXPECT_EQ(httpStatusFromGrpc(grpc_status::kInvalidCode), 500u);
}

TEST(GrpcStatusTest, ReadsGrpcStatus) {
  HeaderMap headers;
  EXPECT_FALSE(grpcStatusOf(headers).has_value());
  headers.set("grpc-status", "14");
  EXPECT_EQ(grpcStatusOf(headers), grpc_status::kUnavailable);
  for (const char* bad : {"", "17", "abc", "-1", "1 "}) {
    headers.set("grpc-status", bad);
    EXPECT_EQ(grpcStatusOf(headers), grpc_status::kInvalidCode) << bad;
  }
}

TEST(GrpcRequestTest, ContentTypes) {
  HeaderMap headers;
  EXPECT_FALSE(isGrpcRequest(headers));
  for (const char* yes : {"application/grpc", "application/grpc+proto", "application/grpc;x=y"}) {
    headers.set("content-type", yes);
    EXPECT_TRUE(isGrpcRequest(headers)) << yes;
  }
  for (const char* no : {"application/grpc-web", "application/grpcx", "text/plain"}) {
    headers.set("content-type", no);
    EXPECT_FALSE(isGrpcRequest(headers)) << no;
  }
}

TEST(GrpcLocalReplyTest, TrailersOnly) {
  HeaderMap headers;
  makeTrailersOnlyGrpcReply(headers, 503, "no healthy upstream", std::nullopt);
  EXPECT_EQ(headers.status(), 200u);
  EXPECT_EQ(*headers.get("content-type"), "application/grpc");
  EXPECT_EQ(*headers.get("grpc-status"), "14");
  EXPECT_EQ(*headers.get("grpc-message"), "no healthy upstream");
  EXPECT_EQ(*headers.get("content-length"), "0");

  HeaderMap explicit_status;
  makeTrailersOnlyGrpcReply(explicit_status, 429, "", grpc_status::kResourceExhausted);
  EXPECT_EQ(*explicit_status.get("grpc-status"), "8");
  EXPECT_FALSE(explicit_status.has("grpc-message"));

  EXPECT_EQ(percentEncodeGrpcMessage("50% off\n\xc3\xa9"), "50%25 off%0A%C3%A9");
}

uint64_t feed(GrpcFrameCounter& counter, std::string_view s) {
  buffer::Buffer b;
  b.add(s);
  return counter.inspect(b);
}

std::string frame(std::string_view message, char flag = 0) {
  std::string out(1, flag);
  const auto n = static_cast<uint32_t>(message.size());
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((n >> shift) & 0xff);
  out += message;
  return out;
}

TEST(GrpcFrameCounterTest, CountsFramesAcrossAnyChunking) {
  const std::string body = frame("hello") + frame("") + frame(std::string(70000, 'x')) + frame("z");
  GrpcFrameCounter whole;
  EXPECT_EQ(feed(whole, body), 4u);

  // One byte at a time: each frame counts when its first byte arrives.
  GrpcFrameCounter bytewise;
  uint64_t total = 0;
  for (char c : body) total += feed(bytewise, std::string_view(&c, 1));
  EXPECT_EQ(total, 4u);
  EXPECT_EQ(bytewise.frameCount(), 4u);

  // A split inside the length prefix.
  GrpcFrameCounter split;
  const std::string two = frame(std::string(300, 'a')) + frame("b");
  EXPECT_EQ(feed(split, two.substr(0, 3)), 1u);
  EXPECT_EQ(feed(split, two.substr(3, 303)), 1u);  // ends on the next flag byte
  EXPECT_EQ(feed(split, two.substr(306)), 0u);
  EXPECT_EQ(split.frameCount(), 2u);
}

TEST(Base64Test, RoundTripsAndRejects) {
  EXPECT_EQ(base64Encode(""), "");
  EXPECT_EQ(base64Encode("f"), "Zg==");
  EXPECT_EQ(base64Encode("fo"), "Zm8=");
  EXPECT_EQ(base64Encode("foo"), "Zm9v");
  EXPECT_EQ(base64Encode(std::string("\xff\xfe\x00", 3)), "//4A");
  EXPECT_EQ(base64Decode("Zm9vYg=="), "foob");
  EXPECT_EQ(base64Decode("//4A"), std::string("\xff\xfe\x00", 3));
  // Separately padded pieces, as a gRPC-web text client may send them.
  EXPECT_EQ(base64Decode("Zg==Zm8=Zm9v"), "ffofoo");
  for (const char* bad : {"Zg=", "Zg", "Z===", "=Zg=", "Zm9v!A==", "Zg=a"}) {
    EXPECT_FALSE(base64Decode(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace remora::http
