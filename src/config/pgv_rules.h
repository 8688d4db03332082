#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <string>

#include "common/status.h"
#include "validate/validate.pb.h"

// Checks of one value against one protoc-gen-validate rule set. Errors read "value must ..." with
// no path; the walker (pgv_validator.cc) prefixes the field path.
namespace remora::config::pgv {

// Any numeric rule message (FloatRules … SFixed64Rules share const/lt/lte/gt/gte/in/not_in).
Status checkNumber(long double value, const google::protobuf::Message& rules);
Status checkBool(bool value, const validate::BoolRules& rules);
Status checkString(const std::string& value, const validate::StringRules& rules);
Status checkBytes(const std::string& value, const validate::BytesRules& rules);
Status checkEnum(int value, const google::protobuf::EnumDescriptor* type,
                 const validate::EnumRules& rules);
// Duration and Timestamp messages (seconds/nanos); presence is the caller's business.
Status checkDuration(const google::protobuf::Message& duration,
                     const validate::DurationRules& rules);
Status checkTimestamp(const google::protobuf::Message& timestamp,
                      const validate::TimestampRules& rules);
Status checkAny(const std::string& type_url, const validate::AnyRules& rules);

}  // namespace remora::config::pgv
