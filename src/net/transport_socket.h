#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "buffer/buffer.h"

namespace remora::net {

// The bytes layer under every connection: plain sockets now, TLS later, so filters never know
// which is below them (Envoy's transport_socket).
class TransportSocket {
 public:
  virtual ~TransportSocket() = default;
  // Binds the socket's file descriptor; called once before any I/O.
  virtual void setFd(int fd) = 0;
  // Reads up to max_length plaintext bytes into `buffer`.
  virtual buffer::IoResult doRead(buffer::Buffer& buffer, size_t max_length) = 0;
  // Writes as much of `buffer` as possible, draining what was written.
  virtual buffer::IoResult doWrite(buffer::Buffer& buffer) = 0;
  // The TCP connection is established (client side) or accepted (server side).
  virtual void onConnected() = 0;
  // The negotiated application protocol (ALPN, e.g. "h2"), empty when none was negotiated: a raw
  // socket never negotiates, so HTTP codec selection falls back to looking at the bytes.
  virtual std::string_view protocol() const = 0;
};
using TransportSocketPtr = std::unique_ptr<TransportSocket>;

// What the user of one connection asks of its transport socket (Envoy's TransportSocketOptions):
// the application protocols to offer in ALPN, most preferred first (an HTTP/2 pool asks for
// "h2"). A socket that cannot negotiate (raw_buffer) ignores them.
struct TransportSocketOptions {
  std::vector<std::string> application_protocols;
};

// envoy.transport_sockets.raw_buffer: bytes straight through.
class RawBufferSocket final : public TransportSocket {
 public:
  void setFd(int fd) override { fd_ = fd; }
  buffer::IoResult doRead(buffer::Buffer& buffer, size_t max_length) override {
    return buffer.readFrom(fd_, max_length);
  }
  buffer::IoResult doWrite(buffer::Buffer& buffer) override { return buffer.writeTo(fd_); }
  void onConnected() override {}
  std::string_view protocol() const override { return {}; }

 private:
  int fd_ = -1;
};

}  // namespace remora::net
