#pragma once

#include <google/protobuf/message.h>

#include "common/status.h"

namespace remora::config {

// Enforces the protoc-gen-validate rules that the Envoy API declares as field options, walking
// `message` recursively (unpacked Any typed_configs included). The first violation is returned as
// "<field path>: value must ...", e.g.
// "static_resources.listeners[0].address.socket_address.port_value: value must be less than or
// equal to 65535".
Status validateMessage(const google::protobuf::Message& message);

}  // namespace remora::config
