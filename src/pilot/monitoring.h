#pragma once

// The control plane's monitoring port (15014): a small blocking HTTP/1.1 server on its own thread
// (one request per connection, `Connection: close`) for /ready, /metrics, /debug/syncz,
// /debug/config_dump?proxyID=<id> and /debug/registryz. Debug traffic is rare and local, so
// simplicity wins over throughput here.

#include <atomic>
#include <string>
#include <thread>

#include "pilot/xds_hub.h"

namespace remora::pilot {

class MonitoringServer {
 public:
  explicit MonitoringServer(XdsHub& hub) : hub_(hub) {}
  ~MonitoringServer();

  // Binds `ip`:`port` (0 = any); the bound port, or 0 on error.
  int start(const std::string& ip, int port);
  void stop();

  struct Response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
  };
  // Answers one request target ("/debug/syncz", "/metrics", ...); public for tests.
  Response handle(const std::string& target) const;

 private:
  void serve();

  XdsHub& hub_;
  int fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace remora::pilot
