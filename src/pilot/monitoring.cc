#include "pilot/monitoring.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace remora::pilot {
namespace {

std::string queryParam(const std::string& target, const std::string& key) {
  auto q = target.find('?');
  if (q == std::string::npos) return "";
  std::string query = target.substr(q + 1);
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    std::string pair = query.substr(pos, amp == std::string::npos ? amp : amp - pos);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == key && eq != std::string::npos) {
      std::string value, raw = pair.substr(eq + 1);
      for (size_t i = 0; i < raw.size(); ++i) {  // percent-decoding ("~" may arrive as %7E)
        if (raw[i] == '%' && i + 2 < raw.size()) {
          value += static_cast<char>(std::stoi(raw.substr(i + 1, 2), nullptr, 16));
          i += 2;
        } else {
          value += raw[i] == '+' ? ' ' : raw[i];
        }
      }
      return value;
    }
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return "";
}

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    default:
      return "Error";
  }
}

}  // namespace

MonitoringServer::~MonitoringServer() { stop(); }

int MonitoringServer::start(const std::string& ip, int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return 0;
  int one = 1;
  ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1 ||
      ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd_, 64) != 0) {
    ::close(fd_);
    fd_ = -1;
    return 0;
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  thread_ = std::thread([this] { serve(); });
  return ntohs(addr.sin_port);
}

void MonitoringServer::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

MonitoringServer::Response MonitoringServer::handle(const std::string& target) const {
  const std::string path = target.substr(0, target.find('?'));
  if (path == "/ready") return {200, "text/plain", "LIVE\n"};
  if (path == "/metrics") return {200, "text/plain; version=0.0.4", hub_.metrics()};
  if (path == "/debug/syncz") return {200, "application/json", hub_.syncz()};
  if (path == "/debug/registryz") return {200, "application/json", hub_.registryz()};
  if (path == "/debug/config_dump") {
    const std::string id = queryParam(target, "proxyID");
    if (id.empty()) return {400, "text/plain", "proxyID is required\n"};
    std::string dump = hub_.configDump(id);
    if (dump.empty()) return {404, "text/plain", "proxy not connected: " + id + "\n"};
    return {200, "application/json", dump};
  }
  return {404, "text/plain",
          "not found; try /ready /metrics /debug/syncz /debug/registryz /debug/config_dump\n"};
}

void MonitoringServer::serve() {
  while (!stopping_) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    timeval timeout{2, 0};
    ::setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
      ssize_t n = ::read(conn, buf, sizeof(buf));
      if (n <= 0) break;
      request.append(buf, static_cast<size_t>(n));
    }
    Response response{400, "text/plain", "bad request\n"};
    auto sp1 = request.find(' ');
    auto sp2 = sp1 == std::string::npos ? sp1 : request.find(' ', sp1 + 1);
    if (sp2 != std::string::npos) response = handle(request.substr(sp1 + 1, sp2 - sp1 - 1));
    std::string out = fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.status, reason(response.status), response.content_type, response.body.size());
    out += response.body;
    size_t off = 0;
    while (off < out.size()) {
      ssize_t n = ::write(conn, out.data() + off, out.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::close(conn);
  }
}

}  // namespace remora::pilot
