#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

#include "net/connection_impl.h"

namespace remora::net {
namespace {

class Recorder : public ConnectionCallbacks, public ReadFilter {
 public:
  void onEvent(ConnectionEvent event) override { events.push_back(event); }
  void onAboveWriteBufferHighWatermark() override { ++above; }
  void onBelowWriteBufferLowWatermark() override { ++below; }
  void initializeReadFilterCallbacks(ReadFilterCallbacks&) override {}
  FilterStatus onData(buffer::Buffer& data, bool end_stream) override {
    received += data.toString();
    data.drain(data.length());
    if (end_stream) saw_end_stream = true;
    return FilterStatus::Continue;
  }
  std::vector<ConnectionEvent> events;
  int above = 0;
  int below = 0;
  std::string received;
  bool saw_end_stream = false;
};

class ConnectionTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds_), 0);
    dispatcher_ = event::createDispatcher("test");
    connection_ = std::make_unique<ConnectionImpl>(*dispatcher_, fds_[0],
                                                   std::make_unique<RawBufferSocket>(), true);
    recorder_ = std::make_shared<Recorder>();
    connection_->addConnectionCallbacks(*recorder_);
    connection_->addReadFilter(recorder_);
    connection_->initializeReadFilters();
  }
  void TearDown() override {
    connection_.reset();
    if (fds_[1] >= 0) close(fds_[1]);
  }
  // Runs the loop until `done` or a bounded number of iterations (a few ms each).
  void runUntil(const std::function<bool()>& done, int iterations = 500) {
    auto tick = dispatcher_->createTimer([] {});
    for (int i = 0; i < iterations && !done(); ++i) {
      tick->enableTimer(std::chrono::milliseconds(1));
      auto stop = dispatcher_->createTimer([this] { dispatcher_->exit(); });
      stop->enableTimer(std::chrono::milliseconds(2));
      dispatcher_->run();
    }
  }

  int fds_[2] = {-1, -1};
  event::DispatcherPtr dispatcher_;
  std::unique_ptr<ConnectionImpl> connection_;
  std::shared_ptr<Recorder> recorder_;
};

// A peer that answers and goes away before reading what we send (an HTTP server refusing an
// upload early): our write fails, but its answer, already received, still reaches the filters
// before the close is reported.
TEST_F(ConnectionTest, AnswerReceivedBeforeAWriteErrorIsDelivered) {
  ::signal(SIGPIPE, SIG_IGN);
  const std::string answer = "HTTP/1.1 413 Payload Too Large\r\n\r\n";
  ASSERT_EQ(::write(fds_[1], answer.data(), answer.size()), static_cast<ssize_t>(answer.size()));
  ::close(fds_[1]);
  fds_[1] = -1;
  buffer::Buffer data;
  data.add("body the peer will never read");
  connection_->write(data, false);
  runUntil([&] { return !recorder_->events.empty(); });
  EXPECT_EQ(recorder_->received, answer);
  ASSERT_EQ(recorder_->events.size(), 1u);
  EXPECT_EQ(recorder_->events[0], ConnectionEvent::RemoteClose);
}

TEST_F(ConnectionTest, WriteWatermarksFollowThePeersReading) {
  connection_->setBufferLimits(64 * 1024);
  buffer::Buffer data;
  data.add(std::string(4 * 1024 * 1024, 'x'));  // far more than the socket buffers take
  connection_->write(data, false);
  EXPECT_EQ(recorder_->above, 1);
  EXPECT_TRUE(connection_->aboveHighWatermark());
  // The peer drains everything: the buffer falls below the low watermark once.
  size_t drained = 0;
  char buf[65536];
  runUntil([&] {
    ssize_t n;
    while ((n = ::read(fds_[1], buf, sizeof(buf))) > 0) drained += static_cast<size_t>(n);
    return drained == 4u * 1024 * 1024;
  });
  EXPECT_EQ(drained, 4u * 1024 * 1024);
  EXPECT_EQ(recorder_->below, 1);
  EXPECT_FALSE(connection_->aboveHighWatermark());
}

TEST_F(ConnectionTest, HalfCloseDeliversEndStreamAndKeepsWriting) {
  connection_->enableHalfClose(true);
  ASSERT_EQ(::write(fds_[1], "ping", 4), 4);
  ::shutdown(fds_[1], SHUT_WR);
  runUntil([&] { return recorder_->saw_end_stream; });
  EXPECT_EQ(recorder_->received, "ping");
  EXPECT_TRUE(recorder_->events.empty());  // still open for our reply
  buffer::Buffer reply;
  reply.add("pong");
  connection_->write(reply, true);
  runUntil([&] { return !recorder_->events.empty(); });
  char buf[8];
  ASSERT_EQ(::read(fds_[1], buf, sizeof(buf)), 4);
  EXPECT_EQ(::read(fds_[1], buf, sizeof(buf)), 0);  // our FIN after the reply
  ASSERT_EQ(recorder_->events.size(), 1u);
  EXPECT_EQ(connection_->state(), Connection::State::Closed);
}

TEST_F(ConnectionTest, WithoutHalfClosePeerFinClosesAfterDeliveringData) {
  ASSERT_EQ(::write(fds_[1], "bye", 3), 3);
  ::shutdown(fds_[1], SHUT_WR);
  runUntil([&] { return !recorder_->events.empty(); });
  EXPECT_EQ(recorder_->received, "bye");
  ASSERT_EQ(recorder_->events.size(), 1u);
  EXPECT_EQ(recorder_->events[0], ConnectionEvent::RemoteClose);
}

TEST_F(ConnectionTest, ReadDisableIsCountedAndResumesBufferedData) {
  connection_->readDisable(true);
  connection_->readDisable(true);
  ASSERT_EQ(::write(fds_[1], "abc", 3), 3);
  runUntil([] { return false; }, 20);  // nothing may arrive while disabled
  EXPECT_EQ(recorder_->received, "");
  connection_->readDisable(false);
  runUntil([] { return false; }, 20);
  EXPECT_EQ(recorder_->received, "");  // still disabled once
  connection_->readDisable(false);
  runUntil([&] { return recorder_->received == "abc"; });
  EXPECT_EQ(recorder_->received, "abc");
}

TEST_F(ConnectionTest, FlushWriteCloseSendsBufferedBytesFirst) {
  buffer::Buffer data;
  data.add(std::string(1024 * 1024, 'y'));
  connection_->write(data, false);
  connection_->close(ConnectionCloseType::FlushWrite);
  EXPECT_EQ(connection_->state(), Connection::State::Closing);
  size_t drained = 0;
  bool eof = false;
  char buf[65536];
  runUntil([&] {
    ssize_t n;
    while ((n = ::read(fds_[1], buf, sizeof(buf))) > 0) drained += static_cast<size_t>(n);
    if (n == 0) eof = true;
    return eof;
  });
  EXPECT_EQ(drained, 1024u * 1024);
  EXPECT_TRUE(eof);
  EXPECT_EQ(connection_->state(), Connection::State::Closed);
}

}  // namespace
}  // namespace remora::net
