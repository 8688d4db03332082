// codec_type selection for a downstream connection: fixed types, AUTO by negotiated ALPN, and
// AUTO by the HTTP/2 client preface when the transport socket negotiated nothing.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "filters/network/http_connection_manager/codec_selection.h"
#include "net/transport_socket.h"

namespace remora::filters::network::http_connection_manager {
namespace {

using CodecType = HcmConfig::CodecType;
constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

SelectedCodec select(CodecType type, std::string_view alpn, std::string_view bytes,
                     bool end_stream = false) {
  buffer::Buffer data;
  data.add(bytes);
  return selectCodec(type, alpn, data, end_stream);
}

TEST(HcmCodecSelectionTest, FixedTypesIgnoreAlpnAndBytes) {
  EXPECT_EQ(select(CodecType::Http1, "h2", kPreface), SelectedCodec::Http1);
  EXPECT_EQ(select(CodecType::Http2, "http/1.1", "GET / HTTP/1.1\r\n"), SelectedCodec::Http2);
  EXPECT_EQ(select(CodecType::Http2, "", ""), SelectedCodec::Http2);
}

TEST(HcmCodecSelectionTest, AutoFollowsNegotiatedAlpnBeforeAnyByte) {
  EXPECT_EQ(select(CodecType::Auto, "h2", ""), SelectedCodec::Http2);
  EXPECT_EQ(select(CodecType::Auto, "h2", "GET / HTTP/1.1\r\n"), SelectedCodec::Http2);
  EXPECT_EQ(select(CodecType::Auto, "http/1.1", kPreface), SelectedCodec::Http1);
  EXPECT_EQ(select(CodecType::Auto, "http/1.1", ""), SelectedCodec::Http1);
}

TEST(HcmCodecSelectionTest, AutoWithoutAlpnLooksForThePreface) {
  EXPECT_EQ(select(CodecType::Auto, "", kPreface), SelectedCodec::Http2);
  EXPECT_EQ(select(CodecType::Auto, "", std::string(kPreface) + std::string("\0\0\0\4", 4)),
            SelectedCodec::Http2);
  EXPECT_EQ(select(CodecType::Auto, "", "GET / HTTP/1.1\r\n"), SelectedCodec::Http1);
  // "PRI" is also where an HTTP/1 method could start: wait until the bytes differ or complete.
  EXPECT_EQ(select(CodecType::Auto, "", ""), SelectedCodec::NeedMoreData);
  EXPECT_EQ(select(CodecType::Auto, "", "PRI * HTTP/2"), SelectedCodec::NeedMoreData);
  EXPECT_EQ(select(CodecType::Auto, "", "PRI * HTTP/1.1\r\n"), SelectedCodec::Http1);
  // The peer ended before the preface was complete: HTTP/1 answers what it can.
  EXPECT_EQ(select(CodecType::Auto, "", "PRI * HTTP/2", true), SelectedCodec::Http1);
}

TEST(HcmCodecSelectionTest, RawBufferSocketNegotiatesNothing) {
  net::RawBufferSocket socket;
  EXPECT_TRUE(socket.protocol().empty());
  EXPECT_EQ(select(CodecType::Auto, socket.protocol(), "GET / HTTP/1.1\r\n"), SelectedCodec::Http1);
}

}  // namespace
}  // namespace remora::filters::network::http_connection_manager
