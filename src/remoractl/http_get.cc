#include "remoractl/http_get.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string_view>

#include "http/http1/chunked_decoder.h"

namespace remora::remoractl {
namespace {

using Clock = std::chrono::steady_clock;

// Reads until EOF or the deadline.
bool readAll(int fd, std::string& out, Clock::time_point deadline) {
  char buf[16384];
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0) return true;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return false;
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

// The raw response of one request, made from this process's namespace.
StatusOr<std::string> exchange(const std::string& host, uint16_t port, const std::string& path,
                               Clock::time_point deadline) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    return Status::error(fmt::format("{}: not an IPv4 address", host));
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::error(fmt::format("socket: {}", std::strerror(errno)));
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    const std::string why = std::strerror(errno);
    close(fd);
    return Status::error(fmt::format("connect {}:{}: {}", host, port, why));
  }
  const std::string request = fmt::format(
      "GET {} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\nUser-Agent: remoractl\r\n\r\n", path,
      host, port);
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return Status::error("write failed");
  }
  std::string response;
  const bool complete = readAll(fd, response, deadline);
  close(fd);
  if (!complete) return Status::error(fmt::format("{}:{}{}: timed out", host, port, path));
  return response;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), ::tolower);
  return s;
}

// Status line check, headers dropped, chunked bodies decoded.
StatusOr<std::string> bodyOf(const std::string& response, const std::string& what) {
  const size_t end = response.find("\r\n\r\n");
  if (end == std::string::npos || response.size() < 12) {
    return Status::error(what + ": malformed response");
  }
  const std::string status_line = response.substr(0, response.find("\r\n"));
  if (status_line.substr(9, 3) != "200") return Status::error(what + ": " + status_line);
  std::string body = response.substr(end + 4);
  if (lower(response.substr(0, end)).find("transfer-encoding: chunked") == std::string::npos) {
    return body;
  }
  struct Append : http::http1::ChunkedDecoder::Callbacks {
    void onBodyData(std::string_view data) override { decoded.append(data); }
    std::string decoded;
  } append;
  http::http1::ChunkedDecoder decoder;
  const auto result = decoder.decode(body, append);
  if (result.status != http::http1::ParseStatus::Done) {
    return Status::error(
        what + ": bad chunked body" +
        (result.ok() ? std::string(" (truncated)") : ": " + std::string(result.reason)));
  }
  return append.decoded;
}

}  // namespace

StatusOr<std::string> httpGet(const std::string& host, uint16_t port, const std::string& path,
                              const std::string& netns, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  const std::string what = fmt::format("GET {}:{}{}", host, port, path);
  if (netns.empty()) {
    auto response = exchange(host, port, path, deadline);
    if (!response.ok()) return response.status();
    return bodyOf(response.value(), what);
  }
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0)
    return Status::error(fmt::format("pipe: {}", std::strerror(errno)));
  const pid_t child = fork();
  if (child < 0) return Status::error(fmt::format("fork: {}", std::strerror(errno)));
  if (child == 0) {
    close(out[0]);
    const int ns = open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
      const std::string why = fmt::format("cannot enter network namespace {}", netns);
      (void)!write(out[1], why.data(), why.size());
      _exit(2);
    }
    auto response = exchange(host, port, path, deadline);
    // A copy: status() returns a temporary whose message would not outlive this line.
    const std::string text = response.ok() ? response.value() : response.status().message();
    size_t written = 0;
    while (written < text.size()) {
      const ssize_t n = write(out[1], text.data() + written, text.size() - written);
      if (n <= 0) break;
      written += static_cast<size_t>(n);
    }
    _exit(response.ok() ? 0 : 1);
  }
  close(out[1]);
  std::string text;
  readAll(out[0], text, deadline + std::chrono::seconds(1));
  close(out[0]);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status::error(text.empty() ? what + ": failed" : text);
  }
  return bodyOf(text, what);
}

}  // namespace remora::remoractl
