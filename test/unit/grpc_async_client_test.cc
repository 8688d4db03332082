#include <gtest/gtest.h>

#include "common/backoff.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "grpc/async_client.h"

namespace remora::grpc {
namespace {

envoy::service::discovery::v3::DiscoveryRequest request(const std::string& type_url) {
  envoy::service::discovery::v3::DiscoveryRequest r;
  r.set_type_url(type_url);
  r.set_version_info("v1");
  return r;
}

TEST(GrpcFramingTest, FrameCarriesFlagAndBigEndianLength) {
  const auto message = request("t");
  const std::string frame = frameGrpcMessage(message);
  ASSERT_EQ(frame.size(), 5 + message.ByteSizeLong());
  EXPECT_EQ(frame[0], 0);
  EXPECT_EQ(static_cast<uint8_t>(frame[4]), message.ByteSizeLong());
  EXPECT_EQ(frame.substr(5), message.SerializeAsString());
}

TEST(GrpcFramingTest, DecoderReassemblesMessagesSplitAnywhere) {
  const std::string wire = frameGrpcMessage(request("a")) + frameGrpcMessage(request("bb")) +
                           frameGrpcMessage(envoy::service::discovery::v3::DiscoveryRequest());
  for (size_t chunk = 1; chunk <= wire.size(); ++chunk) {
    GrpcMessageDecoder decoder(1024);
    std::vector<std::string> messages;
    for (size_t at = 0; at < wire.size(); at += chunk) {
      buffer::Buffer data;
      data.add(wire.substr(at, chunk));
      ASSERT_TRUE(decoder.decode(data, messages).ok());
      EXPECT_EQ(data.length(), 0u);
    }
    ASSERT_EQ(messages.size(), 3u) << "chunk " << chunk;
    envoy::service::discovery::v3::DiscoveryRequest parsed;
    ASSERT_TRUE(parsed.ParseFromString(messages[1]));
    EXPECT_EQ(parsed.type_url(), "bb");
    EXPECT_TRUE(messages[2].empty());
    EXPECT_TRUE(decoder.empty());
  }
}

TEST(GrpcFramingTest, DecoderRefusesCompressedAndOversizedMessages) {
  std::vector<std::string> messages;
  GrpcMessageDecoder compressed(1024);
  buffer::Buffer data;
  data.add(std::string("\x01\x00\x00\x00\x01x", 6));
  EXPECT_FALSE(compressed.decode(data, messages).ok());

  GrpcMessageDecoder small(4);
  buffer::Buffer big;
  big.add(std::string("\x00\x00\x00\x00\x05", 5));
  EXPECT_FALSE(small.decode(big, messages).ok());
  EXPECT_TRUE(messages.empty());
}

TEST(JitteredBackOffTest, GrowsToTheCeilingAndResets) {
  JitteredBackOff backoff(std::chrono::milliseconds(500), std::chrono::milliseconds(30000));
  for (int round = 0; round < 3; ++round) {
    uint64_t ceiling = 500;
    for (int i = 0; i < 12; ++i) {
      const auto next = backoff.next();
      EXPECT_LT(next.count(), static_cast<int64_t>(std::min<uint64_t>(ceiling, 30000)) + 1);
      ceiling *= 2;
    }
    backoff.reset();
    EXPECT_LT(backoff.next().count(), 500);
    backoff.reset();
  }
}

}  // namespace
}  // namespace remora::grpc
