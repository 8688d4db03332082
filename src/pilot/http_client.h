#pragma once

// A small blocking HTTP/1.1 client for the Kubernetes API source: one GET per connection
// (`Connection: close`), the response body streamed as it arrives (chunked, Content-Length or
// until close), every wait bounded by an idle timeout and interrupted by a cancel flag polled
// every 100 ms. Plain http:// only: https is rejected with an error saying so.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace remora::pilot {

struct HttpUrl {
  std::string host;
  uint16_t port = 80;
  std::string base_path;  // without a trailing '/', "" for the root
};

// "http://host[:port][/path]"; https and other schemes are errors naming the reason.
StatusOr<HttpUrl> parseHttpUrl(const std::string& url);

// Decodes a chunked body incrementally (RFC 9112 §7.1): extensions and trailers are skipped.
class ChunkedDecoder {
 public:
  // Consumes `in` (bytes are removed as they are decoded), appending body bytes to `out`.
  Status decode(std::string& in, std::string& out);
  bool done() const { return state_ == State::Done; }

 private:
  enum class State { Size, Data, DataEnd, Trailer, Done };
  State state_ = State::Size;
  uint64_t remaining_ = 0;
};

class HttpResponseStream {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;
  ~HttpResponseStream();

  // Connects, sends `GET <target>` with `headers`, and reads the status line and headers.
  static StatusOr<std::unique_ptr<HttpResponseStream>> get(const HttpUrl& url,
                                                           const std::string& target,
                                                           const Headers& headers,
                                                           const std::atomic<bool>& cancel,
                                                           std::chrono::milliseconds idle_timeout);

  int status() const { return status_; }
  // Appends the next body bytes to `out`; false once the body is complete.
  StatusOr<bool> read(std::string& out);
  // The rest of the body, at most `max_bytes`.
  StatusOr<std::string> readAll(size_t max_bytes);

 private:
  HttpResponseStream(int fd, const std::atomic<bool>& cancel, std::chrono::milliseconds timeout)
      : fd_(fd), cancel_(cancel), idle_timeout_(timeout) {}
  // Waits for and reads more bytes into raw_; false at EOF.
  StatusOr<bool> fill();
  Status readHead();

  int fd_;
  const std::atomic<bool>& cancel_;
  std::chrono::milliseconds idle_timeout_;
  int status_ = 0;
  bool chunked_ = false;
  int64_t content_length_ = -1;  // -1: until the connection closes
  bool eof_ = false;
  bool done_ = false;
  std::string raw_;  // bytes read but not yet decoded
  ChunkedDecoder chunks_;
};

}  // namespace remora::pilot
