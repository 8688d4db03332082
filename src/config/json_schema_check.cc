#include "config/json_schema_check.h"

#include <string>
#include <string_view>

#include "config/reflection_util.h"

namespace remora::config {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Value;

std::string_view kindName(const Value& v) {
  switch (v.kind_case()) {
    case Value::kNullValue:
      return "null";
    case Value::kNumberValue:
      return "number";
    case Value::kStringValue:
      return "string";
    case Value::kBoolValue:
      return "bool";
    case Value::kStructValue:
      return "object";
    case Value::kListValue:
      return "array";
    default:
      return "nothing";
  }
}

Status wrongType(const std::string& path, std::string_view expected, const Value& v) {
  return Status::error(path + ": invalid type: expected " + std::string(expected) + ", got " +
                       std::string(kindName(v)));
}

class SchemaChecker {
 public:
  Status checkMessage(const Value& v, const Descriptor* d, const std::string& path, int depth);

 private:
  Status checkField(const Value& v, const FieldDescriptor* f, const std::string& path, int depth);
  Status checkSingular(const Value& v, const FieldDescriptor* f, const std::string& path,
                       int depth);
  Status checkAny(const Value& v, const std::string& path, int depth);
  Status checkWellKnown(const Value& v, const Descriptor* d, const std::string& path, int depth,
                        bool& handled);
};

Status SchemaChecker::checkWellKnown(const Value& v, const Descriptor* d, const std::string& path,
                                     int depth, bool& handled) {
  handled = true;
  const std::string& name = d->full_name();
  if (name == "google.protobuf.Value") return Status();
  if (name == "google.protobuf.Struct") {
    return v.has_struct_value() ? Status() : wrongType(path, "object", v);
  }
  if (name == "google.protobuf.ListValue") {
    return v.has_list_value() ? Status() : wrongType(path, "array", v);
  }
  if (name == "google.protobuf.Duration" || name == "google.protobuf.Timestamp" ||
      name == "google.protobuf.FieldMask") {
    return v.has_string_value() ? Status() : wrongType(path, "string", v);
  }
  if (name == "google.protobuf.Any") return checkAny(v, path, depth);
  if (d->file()->name() == "google/protobuf/wrappers.proto") {
    return checkSingular(v, d->FindFieldByName("value"), path, depth);
  }
  handled = false;
  return Status();
}

Status SchemaChecker::checkAny(const Value& v, const std::string& path, int depth) {
  if (!v.has_struct_value()) return wrongType(path, "object", v);
  const auto& fields = v.struct_value().fields();
  auto type_it = fields.find("@type");
  if (type_it == fields.end()) {
    if (fields.empty()) return Status();
    return Status::error(path + ": Any is missing its @type");
  }
  if (!type_it->second.has_string_value())
    return wrongType(joinPath(path, "@type"), "string", type_it->second);
  const std::string& url = type_it->second.string_value();
  const Descriptor* type =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
          std::string(typeNameFromUrl(url)));
  if (type == nullptr) return Status::error("not supported by remora: " + path + ": " + url);
  // Well-known types inside an Any carry their JSON form under "value".
  bool handled = false;
  auto value_it = fields.find("value");
  if (value_it != fields.end() && type->file()->name().rfind("google/protobuf/", 0) == 0) {
    Status s = checkWellKnown(value_it->second, type, joinPath(path, "value"), depth + 1, handled);
    if (handled) return s;
  }
  Value rest;
  auto* rest_fields = rest.mutable_struct_value()->mutable_fields();
  for (const auto& [key, field_value] : fields) {
    if (key != "@type") (*rest_fields)[key] = field_value;
  }
  return checkMessage(rest, type, path, depth + 1);
}

Status SchemaChecker::checkMessage(const Value& v, const Descriptor* d, const std::string& path,
                                   int depth) {
  if (depth > 100) return Status::error(path + ": nesting deeper than 100 levels");
  if (v.has_null_value()) return Status();
  bool handled = false;
  Status s = checkWellKnown(v, d, path, depth, handled);
  if (handled) return s;
  if (!v.has_struct_value()) return wrongType(path.empty() ? "(root)" : path, "object", v);
  for (const auto& [key, field_value] : v.struct_value().fields()) {
    // protobuf's parser accepts both the proto name and the lowerCamel json_name.
    const FieldDescriptor* f = d->FindFieldByName(key);
    if (f == nullptr) {
      for (int i = 0; i < d->field_count() && f == nullptr; ++i) {
        if (d->field(i)->json_name() == key) f = d->field(i);
      }
    }
    if (f == nullptr) {
      return Status::error(joinPath(path, key) + ": unknown field (" + d->full_name() +
                           " has no field named \"" + key + "\")");
    }
    RETURN_IF_ERROR(checkField(field_value, f, joinPath(path, f->name()), depth));
  }
  return Status();
}

Status SchemaChecker::checkField(const Value& v, const FieldDescriptor* f, const std::string& path,
                                 int depth) {
  if (v.has_null_value()) return Status();
  if (f->is_map()) {
    if (!v.has_struct_value()) return wrongType(path, "object", v);
    const FieldDescriptor* value_field = f->message_type()->map_value();
    for (const auto& [key, item] : v.struct_value().fields()) {
      RETURN_IF_ERROR(checkSingular(item, value_field, keyPath(path, key), depth));
    }
    return Status();
  }
  if (f->is_repeated()) {
    if (!v.has_list_value()) return wrongType(path, "array", v);
    const auto& items = v.list_value().values();
    for (int i = 0; i < items.size(); ++i) {
      RETURN_IF_ERROR(checkSingular(items[i], f, indexPath(path, i), depth));
    }
    return Status();
  }
  return checkSingular(v, f, path, depth);
}

Status SchemaChecker::checkSingular(const Value& v, const FieldDescriptor* f,
                                    const std::string& path, int depth) {
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return checkMessage(v, f->message_type(), path, depth + 1);
    case FieldDescriptor::CPPTYPE_STRING:
      return v.has_string_value() ? Status() : wrongType(path, "string", v);
    case FieldDescriptor::CPPTYPE_BOOL:
      return v.has_bool_value() ? Status() : wrongType(path, "bool", v);
    case FieldDescriptor::CPPTYPE_ENUM: {
      if (v.has_number_value()) return Status();
      if (!v.has_string_value()) return wrongType(path, "enum name or number", v);
      if (f->enum_type()->FindValueByName(v.string_value()) == nullptr) {
        return Status::error(path + ": unknown value \"" + v.string_value() + "\" for enum " +
                             f->enum_type()->full_name());
      }
      return Status();
    }
    default:
      // Numbers may be quoted in proto3 JSON; protobuf checks the digits and range itself.
      if (v.has_number_value() || v.has_string_value()) return Status();
      return wrongType(path, "number", v);
  }
}

}  // namespace

Status checkJsonSchema(const Value& json, const Descriptor* descriptor) {
  return SchemaChecker().checkMessage(json, descriptor, "", 0);
}

}  // namespace remora::config
