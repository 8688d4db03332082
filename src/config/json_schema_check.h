#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/struct.pb.h>

#include "common/status.h"

namespace remora::config {

// Walks a JSON tree against a message descriptor before protobuf parses it, so that an unknown
// field, a wrong JSON type or an unknown enum name is reported with its full field path
// (protobuf's own parser reports paths inconsistently, and not at all inside Any). An Any whose
// @type is not in the generated descriptor pool is "not supported by remora: <path>: <type>".
Status checkJsonSchema(const google::protobuf::Value& json,
                       const google::protobuf::Descriptor* descriptor);

}  // namespace remora::config
