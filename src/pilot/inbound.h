#pragma once

// The ports a sidecar's own workload serves: every service port whose endpoints include the
// proxy's IP, keyed by the endpoint (container) port as Istio's `inbound|<port>||` clusters are.

#include <string>
#include <vector>

#include "pilot/model.h"
#include "pilot/proxy.h"

namespace remora::pilot {

struct InboundPort {
  uint32_t port = 0;  // the workload's port
  bool http = false;
  bool http2 = false;
  bool ipv6 = false;  // the proxy's IP: its inbound clusters bind to ::6 rather than 127.0.0.6
  // The DestinationRule of the first service found on the port: its connectionPool applies
  // inbound too, as in Istio.
  const DestinationRule* destination_rule = nullptr;
};

std::vector<InboundPort> inboundPorts(const Model& model, const Proxy& proxy);
inline std::string inboundCluster(uint32_t port) {
  return "inbound|" + std::to_string(port) + "||";
}

}  // namespace remora::pilot
