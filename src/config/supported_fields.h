#pragma once

#include <google/protobuf/message.h>

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace remora::config {

// What remora honours of one proto message: the fields it implements and, for enum fields, the
// values it implements. A field absent here is "not supported by remora", never silently ignored.
struct MessageSupport {
  bool all_fields = false;  // e.g. google.protobuf.Duration: nothing in it can be unsupported
  std::set<std::string> fields;
  std::map<std::string, std::set<std::string>> enum_values;  // field → allowed value names
};

// The data-driven table of supported fields, keyed by message full name. The built-in table is
// this milestone's runtime; later layers extend it with add() from their own translation code.
class SupportedFields {
 public:
  static SupportedFields& get();

  // Adds fields to a message's entry. Each spec is "field" or "field=VALUE|VALUE" (an enum field
  // restricted to those values). Unknown message or field names are fatal: a typo must not hide.
  void add(std::string_view message, const std::vector<std::string_view>& field_specs);
  // Marks every field of a message as supported.
  void addAll(std::string_view message);
  // The entry for a message, or nullptr when remora honours none of its fields.
  const MessageSupport* find(std::string_view message) const;
  // Every message with an entry, sorted by name.
  std::vector<std::string> messages() const;

 private:
  SupportedFields();
  std::map<std::string, MessageSupport, std::less<>> messages_;
};

// Walks every set field of `config` (recursing into submessages and unpacked Any extension
// configs): a field without an entry fails with "not supported by remora: <path>", an enum value
// not allowed with "not supported by remora: <path>: <VALUE>".
Status checkSupportedFields(const google::protobuf::Message& config);

}  // namespace remora::config
