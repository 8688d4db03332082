#include "config/json_value.h"

#include <google/protobuf/util/json_util.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace remora::config {
namespace {

using google::protobuf::Value;

// Integers beyond 2^53 do not survive a double, so they travel as strings; protobuf's JSON
// parser accepts quoted integers for every integer field (Envoy makes the same choice).
constexpr int64_t kMaxExactDouble = int64_t{1} << 53;

void scalarToValue(const YAML::Node& node, Value& out) {
  const std::string& text = node.Scalar();
  // Tag "!" marks a non-plain (quoted or block) scalar: always a string.
  if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") {
    out.set_string_value(text);
    return;
  }
  bool b;
  if (YAML::convert<bool>::decode(node, b)) {
    out.set_bool_value(b);
    return;
  }
  int64_t i;
  if (YAML::convert<int64_t>::decode(node, i)) {
    if (i > kMaxExactDouble || i < -kMaxExactDouble) {
      out.set_string_value(std::to_string(i));
    } else {
      out.set_number_value(static_cast<double>(i));
    }
    return;
  }
  uint64_t u;
  if (YAML::convert<uint64_t>::decode(node, u)) {
    out.set_string_value(std::to_string(u));
    return;
  }
  double d;
  if (YAML::convert<double>::decode(node, d)) {
    // JSON has no NaN/Infinity literals; protobuf accepts them as strings for float fields.
    if (std::isnan(d)) {
      out.set_string_value("NaN");
    } else if (std::isinf(d)) {
      out.set_string_value(d > 0 ? "Infinity" : "-Infinity");
    } else {
      out.set_number_value(d);
    }
    return;
  }
  out.set_string_value(text);
}

Status nodeToValue(const YAML::Node& node, Value& out, int depth) {
  // Bounds recursion so a hostile document cannot exhaust the stack.
  if (depth > 100) return Status::error("YAML nesting deeper than 100 levels");
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out.set_null_value(google::protobuf::NULL_VALUE);
      return Status();
    case YAML::NodeType::Scalar:
      scalarToValue(node, out);
      return Status();
    case YAML::NodeType::Sequence: {
      auto* list = out.mutable_list_value();
      for (const auto& item : node)
        RETURN_IF_ERROR(nodeToValue(item, *list->add_values(), depth + 1));
      return Status();
    }
    case YAML::NodeType::Map: {
      auto* fields = out.mutable_struct_value()->mutable_fields();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return Status::error("YAML map key at line " + std::to_string(kv.first.Mark().line + 1) +
                               " is not a scalar");
        }
        RETURN_IF_ERROR(nodeToValue(kv.second, (*fields)[kv.first.Scalar()], depth + 1));
      }
      return Status();
    }
  }
  return Status();
}

}  // namespace

StatusOr<Value> yamlToValue(const std::string& yaml) {
  YAML::Node root;
  // yaml-cpp reports syntax errors only by throwing; this is the one place we catch, turning the
  // exception into a Status at the boundary.
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return Status::error("invalid YAML: " + std::string(e.what()));
  }
  Value out;
  Status status;
  try {
    status = nodeToValue(root, out, 0);
  } catch (const YAML::Exception& e) {
    return Status::error("invalid YAML: " + std::string(e.what()));
  }
  if (!status.ok()) return status;
  return out;
}

StatusOr<Value> jsonToValue(const std::string& json) {
  Value out;
  auto status = google::protobuf::util::JsonStringToMessage(json, &out);
  if (!status.ok()) return Status::error("invalid JSON: " + std::string(status.message()));
  return out;
}

std::string valueToJson(const Value& value) {
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(value, &out);
  return out;
}

}  // namespace remora::config
