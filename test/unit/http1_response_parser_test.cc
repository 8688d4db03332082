#include <gtest/gtest.h>

#include <string>

#include "http/http1/response_parser.h"

namespace remora::http::http1 {
namespace {

void expectError(std::string_view data) {
  ResponseParser parser;
  ParseResult r = parser.parse(data);
  EXPECT_EQ(r.status, ParseStatus::Error) << data;
  EXPECT_EQ(r.code, 502) << data;
}

TEST(ResponseParserTest, SimpleWithContentLength) {
  std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";
  ResponseParser parser;
  ParseResult r = parser.parse(resp);
  ASSERT_EQ(r.status, ParseStatus::Done);
  EXPECT_EQ(r.consumed, resp.size() - 5);
  const ResponseHead& h = parser.head();
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.reason, "OK");
  EXPECT_EQ(h.content_length, 5u);
  EXPECT_FALSE(h.chunked);
  EXPECT_TRUE(h.keep_alive);
  ASSERT_EQ(h.headers.size(), 2u);
  EXPECT_EQ(h.header("x-a"), "b");
}

TEST(ResponseParserTest, IncrementalByteByByte) {
  std::string resp = "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n";
  ResponseParser parser;
  ParseResult r;
  for (size_t i = 1; i <= resp.size(); ++i) {
    r = parser.parse(std::string_view(resp).substr(0, i));
    if (i < resp.size()) ASSERT_EQ(r.status, ParseStatus::NeedMore) << i;
  }
  ASSERT_EQ(r.status, ParseStatus::Done);
  EXPECT_EQ(parser.head().status, 404);
  EXPECT_EQ(parser.head().reason, "Not Found");
  EXPECT_TRUE(parser.head().chunked);
}

TEST(ResponseParserTest, KeepAliveRules) {
  ResponseParser p1;
  ASSERT_EQ(p1.parse("HTTP/1.0 200 OK\r\n\r\n").status, ParseStatus::Done);
  EXPECT_FALSE(p1.head().keep_alive);
  ResponseParser p2;
  ASSERT_EQ(p2.parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n").status,
            ParseStatus::Done);
  EXPECT_TRUE(p2.head().keep_alive);
  ResponseParser p3;
  ASSERT_EQ(p3.parse("HTTP/1.1 200 OK\r\nConnection: x, close\r\n\r\n").status, ParseStatus::Done);
  EXPECT_FALSE(p3.head().keep_alive);
}

TEST(ResponseParserTest, StatusWithoutReasonAndResetReuse) {
  ResponseParser parser;
  ASSERT_EQ(parser.parse("HTTP/1.1 204\r\n\r\n").status, ParseStatus::Done);
  EXPECT_EQ(parser.head().status, 204);
  EXPECT_EQ(parser.head().reason, "");
  parser.reset();
  ASSERT_EQ(parser.parse("HTTP/1.1 100 Continue\r\n\r\n").status, ParseStatus::Done);
  EXPECT_TRUE(parser.head().informational());
}

TEST(ResponseParserTest, HostileFramingIsRejected) {
  expectError("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
  expectError("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n");
  expectError("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
  expectError("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n");
  expectError("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n");
  expectError("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
  expectError("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n");
  expectError("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  expectError("HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n");
  expectError("HTTP/1.1 100 Continue\r\nContent-Length: 3\r\n\r\n");
}

// A 204 announcing a length still ends at the blank line; the connection is not reused.
TEST(ResponseParserTest, NoContentWithContentLengthEndsAtHeadAndIsNotReused) {
  ResponseParser parser;
  ASSERT_EQ(parser.parse("HTTP/1.1 204 No Content\r\nContent-Length: 12\r\n\r\n").status,
            ParseStatus::Done);
  EXPECT_EQ(parser.head().status, 204);
  EXPECT_FALSE(parser.head().keep_alive);
  ResponseParser zero;
  ASSERT_EQ(zero.parse("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n").status,
            ParseStatus::Done);
  EXPECT_TRUE(zero.head().keep_alive);
}

TEST(ResponseParserTest, MalformedLinesAreRejected) {
  expectError("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n");
  expectError("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n");
  expectError(std::string_view("HTTP/1.1 200 OK\r\nX-A: a\0b\r\n\r\n", 29));
  expectError("HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n");
  expectError("HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n");
  expectError("HTTP/2.0 200 OK\r\n\r\n");
  expectError("HTTP/1.1 20 OK\r\n\r\n");
  expectError("HTTP/1.1 099 Low\r\n\r\n");
  expectError("HTTP/1.1  200 OK\r\n\r\n");
  expectError("\r\nHTTP/1.1 200 OK\r\n\r\n");
  expectError("http/1.1 200 OK\r\n\r\n");
}

TEST(ResponseParserTest, Limits) {
  ResponseParserLimits limits;
  limits.max_head_bytes = 64;
  limits.max_headers = 2;
  ResponseParser big(limits);
  EXPECT_EQ(big.parse("HTTP/1.1 200 OK\r\nX-A: " + std::string(100, 'a')).status,
            ParseStatus::Error);
  ResponseParser many(limits);
  EXPECT_EQ(many.parse("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n").status,
            ParseStatus::Error);
}

}  // namespace
}  // namespace remora::http::http1
