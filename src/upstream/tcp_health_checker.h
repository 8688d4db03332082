#pragma once

#include <string>
#include <vector>

#include "upstream/health_checker.h"

namespace remora::upstream {

// tcp_health_check (Envoy's TcpHealthCheckerImpl): connect, write `send`, and pass once every
// `receive` block has arrived, in order though not necessarily contiguous. With no `receive`, a
// completed connect passes (a connect-only check). A refused or dropped connection, or a timeout,
// is a network failure.
class TcpHealthChecker : public HealthChecker {
 public:
  TcpHealthChecker(event::Dispatcher& dispatcher, ClusterManager& cluster_manager,
                   ClusterConstSharedPtr cluster,
                   const envoy::config::core::v3::HealthCheck& proto);

 private:
  class TcpSession;
  SessionPtr makeSession(HostConstSharedPtr host, bool initially_healthy) override;

  std::string send_;
  std::vector<std::string> receive_;
};

// A Payload's bytes: `text` is hex (checked at load), `binary` raw.
std::string payloadBytes(const envoy::config::core::v3::HealthCheck::Payload& payload);
// True when every block of `expected` occurs in `data`, in order (Envoy's fuzzy match).
bool payloadsMatch(std::string_view data, const std::vector<std::string>& expected);

}  // namespace remora::upstream
