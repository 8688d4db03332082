#include "buffer/buffer.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace remora::buffer {
namespace {

class RecordingCallbacks : public WatermarkCallbacks {
 public:
  void onAboveHighWatermark() override { ++above; }
  void onBelowLowWatermark() override { ++below; }
  int above = 0;
  int below = 0;
};

TEST(BufferTest, AddDrainAndCopyAcrossSlices) {
  Buffer b;
  std::string big(Buffer::kBlockSize * 2 + 100, 'x');
  big[Buffer::kBlockSize] = 'y';
  b.add(big);
  EXPECT_EQ(b.length(), big.size());
  EXPECT_EQ(b.toString(), big);
  b.drain(Buffer::kBlockSize);
  char c;
  b.copyOut(0, 1, &c);
  EXPECT_EQ(c, 'y');
  EXPECT_EQ(b.length(), Buffer::kBlockSize + 100);
}

TEST(BufferTest, MovePartialKeepsOrder) {
  Buffer a, b;
  a.add("hello ");
  a.add("world");
  b.move(a, 8);
  EXPECT_EQ(b.toString(), "hello wo");
  EXPECT_EQ(a.toString(), "rld");
  b.move(a);
  EXPECT_EQ(b.toString(), "hello world");
  EXPECT_TRUE(a.empty());
}

TEST(BufferTest, WatermarksFireOncePerCrossing) {
  Buffer b;
  RecordingCallbacks cb;
  b.setWatermarks(100, &cb);
  b.add(std::string(100, 'a'));
  EXPECT_EQ(cb.above, 0);  // at the mark is not above it
  b.add("b");
  EXPECT_EQ(cb.above, 1);
  b.add(std::string(1000, 'c'));
  EXPECT_EQ(cb.above, 1);
  b.drain(1101 - 51);
  EXPECT_EQ(cb.below, 0);  // 51 > low watermark (50)
  b.drain(1);
  EXPECT_EQ(cb.below, 1);
  b.drain(b.length());
  EXPECT_EQ(cb.below, 1);
}

TEST(BufferTest, ReadFromAndWriteToSocket) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  Buffer out;
  std::string payload(50000, 'z');
  payload[49999] = '!';
  out.add(payload);
  size_t written = 0;
  Buffer in;
  while (written < payload.size() || in.length() < payload.size()) {
    auto w = out.writeTo(fds[0]);
    ASSERT_FALSE(w.failed());
    written += w.bytes;
    auto r = in.readFrom(fds[1], 64 * 1024);
    ASSERT_FALSE(r.failed());
  }
  EXPECT_EQ(in.toString(), payload);
  close(fds[0]);
  auto eof = in.readFrom(fds[1], 1024);
  EXPECT_TRUE(eof.end_of_stream);
  close(fds[1]);
}

}  // namespace
}  // namespace remora::buffer
