#include "config/pgv_validator.h"

#include <set>
#include <string>

#include "config/pgv_rules.h"
#include "config/reflection_util.h"
#include "validate/validate.pb.h"

namespace remora::config {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using validate::FieldRules;

bool isWrapper(const Descriptor* d) {
  return d->file()->name() == "google/protobuf/wrappers.proto";
}


std::string stringOf(const Message& m, const FieldDescriptor* f, int index) {
  const auto* r = m.GetReflection();
  return index >= 0 ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
}

// A stable identity of one repeated element, for `unique`.
std::string elementKey(const Message& m, const FieldDescriptor* f, int index) {
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) return stringOf(m, f, index);
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    return m.GetReflection()->GetRepeatedMessage(m, f, index).SerializeAsString();
  }
  return std::to_string(static_cast<double>(numberOf(m, f, index)));
}

class Validator {
 public:
  Status walk(const Message& m, const std::string& path, int depth);

 private:
  Status checkField(const Message& m, const FieldDescriptor* f, const std::string& path, int depth);
  // Applies the rules of one value: element `index` of a repeated field, or the singular value.
  Status checkValue(const FieldRules& rules, const Message& m, const FieldDescriptor* f, int index,
                    const std::string& path);
  Status checkMessageValue(const FieldRules& rules, const Message* value, const std::string& path);
  Status walkMessageValue(const Message& value, const std::string& path, int depth);
};

Status Validator::checkMessageValue(const FieldRules& rules, const Message* value,
                                    const std::string& path) {
  if (rules.has_message() && rules.message().required() && value == nullptr) {
    return Status::error(path + ": value is required");
  }
  switch (rules.type_case()) {
    case FieldRules::kDuration:
      if (value == nullptr) {
        return rules.duration().required() ? Status::error(path + ": value is required") : Status();
      }
      return pgv::checkDuration(*value, rules.duration()).withPrefix(path);
    case FieldRules::kTimestamp:
      if (value == nullptr) {
        return rules.timestamp().required() ? Status::error(path + ": value is required")
                                            : Status();
      }
      return pgv::checkTimestamp(*value, rules.timestamp()).withPrefix(path);
    case FieldRules::kAny: {
      if (value == nullptr)
        return rules.any().required() ? Status::error(path + ": value is required") : Status();
      const std::string url =
          value->GetReflection()->GetString(*value, value->GetDescriptor()->FindFieldByNumber(1));
      return pgv::checkAny(url, rules.any()).withPrefix(path);
    }
    case FieldRules::TYPE_NOT_SET:
    case FieldRules::kRepeated:
    case FieldRules::kMap:
      return Status();
    default:
      // Scalar rules on a wrapper (UInt32Value …) apply to its value when set.
      if (value == nullptr || !isWrapper(value->GetDescriptor())) return Status();
      return checkValue(rules, *value, value->GetDescriptor()->FindFieldByName("value"), -1, path);
  }
}

Status Validator::checkValue(const FieldRules& rules, const Message& m, const FieldDescriptor* f,
                             int index, const std::string& path) {
  const auto* r = m.GetReflection();
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    const Message* value = nullptr;
    if (index >= 0) {
      value = &r->GetRepeatedMessage(m, f, index);
    } else if (r->HasField(m, f)) {
      value = &r->GetMessage(m, f);
    }
    return checkMessageValue(rules, value, path);
  }
  switch (rules.type_case()) {
    case FieldRules::kString:
      return pgv::checkString(stringOf(m, f, index), rules.string()).withPrefix(path);
    case FieldRules::kBytes:
      return pgv::checkBytes(stringOf(m, f, index), rules.bytes()).withPrefix(path);
    case FieldRules::kBool:
      return pgv::checkBool(numberOf(m, f, index) != 0, rules.bool_()).withPrefix(path);
    case FieldRules::kEnum:
      return pgv::checkEnum(static_cast<int>(numberOf(m, f, index)), f->enum_type(), rules.enum_())
          .withPrefix(path);
    case FieldRules::kFloat:
    case FieldRules::kDouble:
    case FieldRules::kInt32:
    case FieldRules::kInt64:
    case FieldRules::kUint32:
    case FieldRules::kUint64:
    case FieldRules::kSint32:
    case FieldRules::kSint64:
    case FieldRules::kFixed32:
    case FieldRules::kFixed64:
    case FieldRules::kSfixed32:
    case FieldRules::kSfixed64: {
      // The numeric rule messages share one shape; reach the set one through reflection.
      const auto* oneof = FieldRules::descriptor()->FindOneofByName("type");
      const FieldDescriptor* kind = rules.GetReflection()->GetOneofFieldDescriptor(rules, oneof);
      return pgv::checkNumber(numberOf(m, f, index), rules.GetReflection()->GetMessage(rules, kind))
          .withPrefix(path);
    }
    default:
      return Status();
  }
}

Status Validator::checkField(const Message& m, const FieldDescriptor* f, const std::string& path,
                             int depth) {
  const auto* r = m.GetReflection();
  const bool has_rules = f->options().HasExtension(validate::rules);
  const FieldRules& rules =
      has_rules ? f->options().GetExtension(validate::rules) : FieldRules::default_instance();
  // PGV validates only the member of a oneof that is set, and a proto3 `optional` only when set.
  if (f->containing_oneof() != nullptr && !isFieldSet(m, f)) return Status();

  if (f->is_map()) {
    const int size = r->FieldSize(m, f);
    if (rules.has_map()) {
      const auto& map = rules.map();
      if (map.has_min_pairs() && static_cast<uint64_t>(size) < map.min_pairs()) {
        return Status::error(path + ": value must contain at least " +
                             std::to_string(map.min_pairs()) + " pair(s)");
      }
      if (map.has_max_pairs() && static_cast<uint64_t>(size) > map.max_pairs()) {
        return Status::error(path + ": value must contain no more than " +
                             std::to_string(map.max_pairs()) + " pair(s)");
      }
    }
    const auto* key_field = f->message_type()->map_key();
    const auto* value_field = f->message_type()->map_value();
    for (int i = 0; i < size; ++i) {
      const Message& entry = r->GetRepeatedMessage(m, f, i);
      const std::string entry_path = keyPath(path, mapKeyText(entry));
      if (rules.has_map() && rules.map().has_keys()) {
        RETURN_IF_ERROR(checkValue(rules.map().keys(), entry, key_field, -1, entry_path));
      }
      if (rules.has_map() && rules.map().has_values()) {
        RETURN_IF_ERROR(checkValue(rules.map().values(), entry, value_field, -1, entry_path));
      }
      if (value_field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        RETURN_IF_ERROR(walkMessageValue(entry.GetReflection()->GetMessage(entry, value_field),
                                         entry_path, depth));
      }
    }
    return Status();
  }

  if (f->is_repeated()) {
    const int size = r->FieldSize(m, f);
    if (rules.has_repeated()) {
      const auto& rep = rules.repeated();
      if (rep.has_min_items() && static_cast<uint64_t>(size) < rep.min_items()) {
        return Status::error(path + ": value must contain at least " +
                             std::to_string(rep.min_items()) + " item(s)");
      }
      if (rep.has_max_items() && static_cast<uint64_t>(size) > rep.max_items()) {
        return Status::error(path + ": value must contain no more than " +
                             std::to_string(rep.max_items()) + " item(s)");
      }
      if (rep.unique()) {
        std::set<std::string> seen;
        for (int i = 0; i < size; ++i) {
          if (!seen.insert(elementKey(m, f, i)).second) {
            return Status::error(indexPath(path, i) + ": repeated value must contain unique items");
          }
        }
      }
    }
    for (int i = 0; i < size; ++i) {
      const std::string item_path = indexPath(path, i);
      if (rules.has_repeated() && rules.repeated().has_items()) {
        RETURN_IF_ERROR(checkValue(rules.repeated().items(), m, f, i, item_path));
      }
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        RETURN_IF_ERROR(walkMessageValue(r->GetRepeatedMessage(m, f, i), item_path, depth));
      }
    }
    return Status();
  }

  if (f->has_presence() && f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE &&
      !r->HasField(m, f)) {
    return Status();
  }
  if (has_rules) RETURN_IF_ERROR(checkValue(rules, m, f, -1, path));
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && r->HasField(m, f) &&
      !(rules.has_message() && rules.message().skip())) {
    RETURN_IF_ERROR(walkMessageValue(r->GetMessage(m, f), path, depth));
  }
  return Status();
}

Status Validator::walkMessageValue(const Message& value, const std::string& path, int depth) {
  if (isAny(value.GetDescriptor())) {
    auto inner = unpackAny(value);
    // An Any remora cannot unpack was rejected when the document was parsed; nothing to check.
    if (inner == nullptr) return Status();
    return walk(*inner, path, depth + 1);
  }
  return walk(value, path, depth + 1);
}

Status Validator::walk(const Message& m, const std::string& path, int depth) {
  if (depth > 100) return Status::error(path + ": nesting deeper than 100 levels");
  const Descriptor* d = m.GetDescriptor();
  if (d->options().GetExtension(validate::disabled)) return Status();
  const auto* r = m.GetReflection();
  for (int i = 0; i < d->oneof_decl_count(); ++i) {
    const auto* oneof = d->oneof_decl(i);
    if (oneof->options().GetExtension(validate::required) &&
        r->GetOneofFieldDescriptor(m, oneof) == nullptr) {
      return Status::error(joinPath(path, oneof->name()) + ": value is required");
    }
  }
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    RETURN_IF_ERROR(checkField(m, f, joinPath(path, f->name()), depth));
  }
  return Status();
}

}  // namespace

Status validateMessage(const Message& message) { return Validator().walk(message, "", 0); }

}  // namespace remora::config
