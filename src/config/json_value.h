#pragma once

#include <google/protobuf/struct.pb.h>

#include <string>

#include "common/status.h"

namespace remora::config {

// Config documents are held as google.protobuf.Value trees between the text and the typed proto:
// the schema pre-check walks this tree (to name the path of an unknown field or a wrong type) and
// the tree is then handed to protobuf's JSON parser, exactly as Envoy does.

// Parses YAML as Envoy does: plain scalars that look like bool/int/float/null become JSON
// bool/number/null; quoted scalars stay strings. Errors name the line and column.
StatusOr<google::protobuf::Value> yamlToValue(const std::string& yaml);

// Parses a JSON document into a Value tree.
StatusOr<google::protobuf::Value> jsonToValue(const std::string& json);

// Serializes a Value tree to JSON text.
std::string valueToJson(const google::protobuf::Value& value);

}  // namespace remora::config
