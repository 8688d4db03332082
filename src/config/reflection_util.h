#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <memory>
#include <string>
#include <string_view>

namespace remora::config {

// Field paths as every config error prints them: "a.b[0].c", proto (snake_case) field names.
std::string joinPath(std::string_view parent, std::string_view field);
std::string indexPath(std::string_view path, size_t index);
std::string keyPath(std::string_view path, std::string_view key);

// The message name an Any's type URL names ("type.googleapis.com/x.y.Z" → "x.y.Z").
std::string_view typeNameFromUrl(std::string_view type_url);

// True for google.protobuf.Any (walkers unpack these to reach extension configs).
bool isAny(const google::protobuf::Descriptor* descriptor);

// Unpacks an Any message into a new message of its type from the generated pool; nullptr when
// the type is unknown or the payload does not parse.
std::unique_ptr<google::protobuf::Message> unpackAny(const google::protobuf::Message& any);

// Reads element `index` (or the singular value when index < 0) of a scalar field as a number
// (integers, floats, enum values, bools); 0 for other types.
long double numberOf(const google::protobuf::Message& message,
                     const google::protobuf::FieldDescriptor* field, int index);

// Whether a field counts as "set": present singular field (non-default scalar in proto3) or a
// non-empty repeated field.
bool isFieldSet(const google::protobuf::Message& message,
                const google::protobuf::FieldDescriptor* field);

// The value of a map entry's key as text, for paths.
std::string mapKeyText(const google::protobuf::Message& entry);

}  // namespace remora::config
