#pragma once

#include "common/json_string.h"

#include <google/protobuf/struct.pb.h>

#include <map>
#include <string>
#include <variant>

#include "access_log/formatter.h"
#include "common/status.h"
#include "envoy/config/core/v3/substitution_format_string.pb.h"

namespace remora::access_log {

// A format dictionary (json_format): one JSON object per entry, newline-terminated. Keys are
// written sorted, as Envoy does (a protobuf Struct keeps no order, so none could be "configured").
class JsonFormatter : public Formatter {
 public:
  // `typed`: a value that is exactly one operator keeps its type (numbers stay numbers, absent
  // becomes null). Untyped (FileAccessLog.json_format) renders every value as a string.
  // `omit_empty_values`: keys whose value is absent are left out.
  static StatusOr<FormatterPtr> create(const google::protobuf::Struct& format, bool typed,
                                       bool omit_empty_values);
  std::string format(const FormatContext& context) const override;

  struct Node;
  using Object = std::map<std::string, Node>;
  // A leaf format string, a nested object, or a literal JSON value copied from the config.
  struct Node {
    std::variant<FormatString, Object, std::string> value;
  };

 private:
  JsonFormatter(Object root, bool typed, bool omit_empty_values)
      : root_(std::move(root)), typed_(typed), omit_empty_values_(omit_empty_values) {}
  void writeObject(std::string& out, const Object& object, const FormatContext& context) const;
  // Appends `"key":value` (with a leading comma when needed) unless omitted.
  void writeLeaf(std::string& out, bool& first, const std::string& key, const FormatString& format,
                 const FormatContext& context) const;

  Object root_;
  bool typed_;
  bool omit_empty_values_;
};

using remora::appendJsonString;

// Builds the formatter a SubstitutionFormatString describes (text_format, text_format_source
// inline_string, or json_format; omit_empty_values). Errors carry the field path.
StatusOr<FormatterPtr> createFormatter(
    const envoy::config::core::v3::SubstitutionFormatString& config);

// The default-format text formatter.
FormatterPtr createDefaultFormatter();

}  // namespace remora::access_log
