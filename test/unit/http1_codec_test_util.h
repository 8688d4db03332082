#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>

#include "event/dispatcher.h"
#include "http/codec.h"
#include "net/connection_impl.h"

namespace remora::http::codec1::testing {

// Feeds a real connection's reads to a codec and its events back, as the HCM and the upstream
// pool will.
class CodecGlue : public net::ReadFilter, public net::ConnectionCallbacks {
 public:
  void initializeReadFilterCallbacks(net::ReadFilterCallbacks&) override {}
  net::FilterStatus onData(buffer::Buffer& data, bool end_stream) override {
    CodecStatus s = codec->dispatch(data);
    if (!s.ok) {
      failed = true;
      details = s.details;
    } else if (end_stream) {
      codec->onPeerHalfClose();
    }
    return net::FilterStatus::StopIteration;
  }
  void onEvent(net::ConnectionEvent event) override {
    if (event != net::ConnectionEvent::Connected) {
      closed = true;
      codec->onConnectionClosed();
    }
  }
  void onAboveWriteBufferHighWatermark() override {
    codec->onUnderlyingConnectionAboveWriteBufferHighWatermark();
  }
  void onBelowWriteBufferLowWatermark() override {
    codec->onUnderlyingConnectionBelowWriteBufferLowWatermark();
  }
  CodecConnection* codec = nullptr;
  bool failed = false;
  bool closed = false;
  std::string details;
};

// A socketpair: our side is a real ConnectionImpl on a real dispatcher, the peer a raw fd.
class SocketPairHarness {
 public:
  SocketPairHarness() {
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds_);
    dispatcher = event::createDispatcher("test");
    connection = std::make_unique<net::ConnectionImpl>(
        *dispatcher, fds_[0], std::make_unique<net::RawBufferSocket>(), true);
    glue = std::make_shared<CodecGlue>();
    connection->addConnectionCallbacks(*glue);
    connection->addReadFilter(glue);
  }
  ~SocketPairHarness() {
    connection.reset();
    dispatcher.reset();
    if (fds_[1] >= 0) ::close(fds_[1]);
  }
  void attach(CodecConnection& codec) {
    glue->codec = &codec;
    connection->initializeReadFilters();
  }
  void peerWrite(std::string_view data) {
    ASSERT_EQ(::write(fds_[1], data.data(), data.size()), static_cast<ssize_t>(data.size()));
  }
  void peerClose() {
    ::close(fds_[1]);
    fds_[1] = -1;
  }
  // The peer half-closes (FIN): it can still read.
  void peerShutdownWrite() { ::shutdown(fds_[1], SHUT_WR); }
  // Reads what the peer has received so far into `received`; notes EOF.
  void peerRead() {
    char buf[16384];
    ssize_t n;
    while (fds_[1] >= 0 && (n = ::read(fds_[1], buf, sizeof(buf))) != 0) {
      if (n < 0) return;
      received.append(buf, static_cast<size_t>(n));
    }
    peer_eof = true;
  }
  // Runs the loop until `done` (checked after each short iteration), bounded.
  bool runUntil(const std::function<bool()>& done, int iterations = 500) {
    for (int i = 0; i < iterations; ++i) {
      peerRead();
      if (done()) return true;
      auto stop = dispatcher->createTimer([this] { dispatcher->exit(); });
      stop->enableTimer(std::chrono::milliseconds(2));
      dispatcher->run();
    }
    peerRead();
    return done();
  }
  void runFor(int iterations) {
    runUntil([] { return false; }, iterations);
  }

  event::DispatcherPtr dispatcher;
  std::unique_ptr<net::ConnectionImpl> connection;
  std::shared_ptr<CodecGlue> glue;
  std::string received;
  bool peer_eof = false;

 private:
  int fds_[2] = {-1, -1};
};

}  // namespace remora::http::codec1::testing
