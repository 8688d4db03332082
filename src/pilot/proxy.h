#pragma once

// A connected proxy's identity, from its xDS Node: Istio's node id
// `<type>~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local` and metadata GENERATOR ("grpc"
// for proxyless gRPC clients, which get api_listener Listeners instead of sidecar ones).

#include <string>

#include "envoy/config/core/v3/base.pb.h"

namespace remora::pilot {

struct Proxy {
  std::string id;
  std::string type = "sidecar";
  std::string ip;
  std::string pod;
  std::string ns = "default";
  bool grpc = false;  // metadata GENERATOR: grpc
};

// Decodes the node; an id not in Istio's form keeps `id` and defaults the rest.
Proxy proxyFromNode(const envoy::config::core::v3::Node& node);

}  // namespace remora::pilot
