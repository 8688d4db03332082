#include <gtest/gtest.h>

#include <string>

#include "http/http1/chunked_decoder.h"

namespace remora::http::http1 {
namespace {

struct Collect : ChunkedDecoder::Callbacks {
  void onBodyData(std::string_view data) override { body.append(data); }
  std::string body;
};

TEST(ChunkedDecoderTest, DecodesWithTrailersAndLeavesTheRest) {
  std::string input =
      "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: abc\r\nX-Other:  d \r\n\r\nNEXT";
  ChunkedDecoder decoder;
  Collect sink;
  ParseResult r = decoder.decode(input, sink);
  ASSERT_EQ(r.status, ParseStatus::Done) << r.reason;
  EXPECT_EQ(r.consumed, input.size() - 4);
  EXPECT_EQ(sink.body, "hello world");
  EXPECT_EQ(decoder.bodyBytes(), 11u);
  ASSERT_EQ(decoder.trailers().size(), 2u);
  EXPECT_EQ(decoder.trailers()[0].name, "X-Sum");
  EXPECT_EQ(decoder.trailers()[1].value, "d");
}

TEST(ChunkedDecoderTest, ByteByByte) {
  std::string input = "A\r\n0123456789\r\n1 ;a\r\nZ\r\n000\r\nT: v\r\n\r\n";
  ChunkedDecoder decoder;
  Collect sink;
  ParseResult r;
  for (size_t i = 0; i < input.size(); ++i) {
    std::string one(1, input[i]);  // a fresh buffer each time: views must not outlive it
    r = decoder.decode(one, sink);
    if (i + 1 < input.size()) {
      ASSERT_EQ(r.status, ParseStatus::NeedMore) << i << " " << r.reason;
      EXPECT_EQ(r.consumed, 1u);
    }
  }
  ASSERT_EQ(r.status, ParseStatus::Done);
  EXPECT_EQ(r.consumed, 1u);
  EXPECT_EQ(sink.body, "0123456789Z");
  ASSERT_EQ(decoder.trailers().size(), 1u);
  EXPECT_EQ(decoder.trailers()[0].value, "v");
}

uint16_t errorCode(std::string_view input, ChunkedDecoderLimits limits = {}) {
  ChunkedDecoder decoder(limits);
  Collect sink;
  ParseResult r = decoder.decode(input, sink);
  return r.status == ParseStatus::Error ? r.code : 0;
}

TEST(ChunkedDecoderTest, HostileInputs) {
  EXPECT_EQ(errorCode("-1\r\n"), 400);
  EXPECT_EQ(errorCode("0x5\r\nhello\r\n"), 400);
  EXPECT_EQ(errorCode("\r\n"), 400);
  EXPECT_EQ(errorCode("5\nhello\r\n"), 400);
  EXPECT_EQ(errorCode("5 \r\nhello\r\n"), 400);
  EXPECT_EQ(errorCode("5\r\nhelloXY"), 400);
  EXPECT_EQ(errorCode("5\r\nhello\n"), 400);
  EXPECT_EQ(errorCode("10000000000000000\r\n"), 400);  // 17 significant digits
  EXPECT_EQ(errorCode("ffffffffffffffff\r\n"), 413);
  EXPECT_EQ(errorCode("5;a\x01\r\n"), 400);
  EXPECT_EQ(errorCode("0\r\nX : y\r\n\r\n"), 400);
  EXPECT_EQ(errorCode("0\r\nX: y\r\n z\r\n\r\n"), 400);
  EXPECT_EQ(errorCode("0\r\nX: y\n\r\n"), 400);
  EXPECT_EQ(errorCode("0\r\n\n"), 400);
  EXPECT_EQ(errorCode("0" + std::string(5000, '0') + "\r\n"), 400);
  ChunkedDecoderLimits small;
  small.max_trailers = 1;
  EXPECT_EQ(errorCode("0\r\nA: 1\r\nB: 2\r\n\r\n", small), 431);
  small.max_chunk_size = 4;
  EXPECT_EQ(errorCode("5\r\n", small), 413);
  // Leading zeros are not significant digits.
  EXPECT_EQ(errorCode("00000000000000000005\r\nhello\r\n0\r\n\r\n"), 0);
}

TEST(ChunkedDecoderTest, ResetAllowsReuse) {
  ChunkedDecoder decoder;
  Collect sink;
  EXPECT_EQ(decoder.decode("0\r\n\r\n", sink).status, ParseStatus::Done);
  decoder.reset();
  EXPECT_EQ(decoder.decode("1\r\na\r\n0\r\n\r\n", sink).status, ParseStatus::Done);
  EXPECT_EQ(sink.body, "a");
}

}  // namespace
}  // namespace remora::http::http1
