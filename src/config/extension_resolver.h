#pragma once

#include <google/protobuf/message.h>

#include "common/status.h"

namespace remora::config {

// Resolves every extension slot in a config tree (ListenerFilter, network Filter, TransportSocket,
// AccessLog, wherever they appear, including inside other extensions' configs), as Envoy does:
//  - with typed_config: its @type must be a config type remora registered in that category, else
//    "not supported by remora: <path>.typed_config: <type>";
//  - without typed_config: the well-known name is looked up in the ExtensionRegistry and
//    typed_config becomes a default instance of its config type; an unknown name is an error.
Status resolveExtensions(google::protobuf::Message& config);

}  // namespace remora::config
