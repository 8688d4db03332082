#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace remora::remoractl {

// One proxy's sync state as `istioctl proxy-status` shows it, from remora-pilot's /debug/syncz:
// per type (CDS, LDS, EDS, RDS) SYNCED (the last push is ACKed), STALE (a push awaits its ACK),
// NACK (the proxy refused the last push; `nacks` holds the error) or NOT SENT.
struct ProxySync {
  std::string name;  // pod.namespace for a sidecar, else the node id
  std::string pod;   // the pod's name (a mesh pod is the network namespace of that name)
  std::string protocol;
  std::map<std::string, std::string> types;  // "CDS" -> "SYNCED"
  std::vector<std::string> nacks;            // "LDS: <error detail>"
  // SYNCED when every type is, else the first other state (NACK before STALE before NOT SENT).
  std::string overall() const;
};

StatusOr<std::vector<ProxySync>> parseSyncz(const std::string& json);
std::string renderProxyStatus(const std::vector<ProxySync>& proxies);

}  // namespace remora::remoractl
