#pragma once

#include "common/status.h"
#include "envoy/config/bootstrap/v3/bootstrap.pb.h"

namespace remora::config {

// Cross-field rules that no per-field rule can express, as Envoy enforces them at load time:
// unique listener names, cluster names and listener addresses; numeric IP literals where remora
// binds or connects without DNS (listeners, admin, STATIC endpoints); tcp_proxy naming existing
// clusters; ORIGINAL_DST ⇔ CLUSTER_PROVIDED and no load_assignment for ORIGINAL_DST. Each error
// names its field path.
Status checkSemantics(const envoy::config::bootstrap::v3::Bootstrap& bootstrap);

// The rules above that concern one Listener or Cluster alone, for resources delivered at run
// time (other types have none here). Cross-resource rules (unique names and addresses) are the
// listener and cluster managers'.
Status checkResourceSemantics(const google::protobuf::Message& resource);

}  // namespace remora::config
