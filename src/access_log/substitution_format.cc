#include "access_log/substitution_format.h"

#include "common/json_string.h"

#include <fmt/format.h>

namespace remora::access_log {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

// A Struct's literal (non-string) values pass through as JSON text.
StatusOr<std::string> literalJson(const Value& value, const std::string& path) {
  switch (value.kind_case()) {
    case Value::kNullValue:
      return std::string("null");
    case Value::kBoolValue:
      return std::string(value.bool_value() ? "true" : "false");
    case Value::kNumberValue:
      return fmt::format("{}", value.number_value());
    default:
      return Status::error(path +
                           ": only strings, numbers, booleans and nested structs are "
                           "supported in a format dictionary");
  }
}

StatusOr<JsonFormatter::Object> parseObject(const Struct& format, const std::string& path,
                                            int depth) {
  if (depth > 32) return Status::error(path + ": format dictionary nested too deeply");
  JsonFormatter::Object object;
  for (const auto& [key, value] : format.fields()) {
    const std::string key_path = path + "." + key;
    if (value.kind_case() == Value::kStringValue) {
      auto parsed = FormatString::parse(value.string_value());
      if (!parsed.ok()) return parsed.status().withPrefix(key_path);
      object.emplace(key, JsonFormatter::Node{std::move(parsed.value())});
    } else if (value.kind_case() == Value::kStructValue) {
      auto nested = parseObject(value.struct_value(), key_path, depth + 1);
      if (!nested.ok()) return nested.status();
      object.emplace(key, JsonFormatter::Node{std::move(nested.value())});
    } else {
      auto literal = literalJson(value, key_path);
      if (!literal.ok()) return literal.status();
      object.emplace(key, JsonFormatter::Node{std::move(literal.value())});
    }
  }
  return object;
}

}  // namespace


StatusOr<FormatterPtr> JsonFormatter::create(const Struct& format, bool typed,
                                             bool omit_empty_values) {
  auto root = parseObject(format, "json_format", 0);
  if (!root.ok()) return root.status();
  return FormatterPtr(new JsonFormatter(std::move(root.value()), typed, omit_empty_values));
}

std::string JsonFormatter::format(const FormatContext& context) const {
  std::string out;
  out.reserve(256);
  writeObject(out, root_, context);
  out += '\n';
  return out;
}

void JsonFormatter::writeObject(std::string& out, const Object& object,
                                const FormatContext& context) const {
  out += '{';
  bool first = true;
  for (const auto& [key, node] : object) {
    if (const auto* format = std::get_if<FormatString>(&node.value)) {
      writeLeaf(out, first, key, *format, context);
      continue;
    }
    if (!first) out += ',';
    first = false;
    appendJsonString(out, key);
    out += ':';
    if (const auto* nested = std::get_if<Object>(&node.value)) {
      writeObject(out, *nested, context);
    } else {
      out += std::get<std::string>(node.value);
    }
  }
  out += '}';
}

void JsonFormatter::writeLeaf(std::string& out, bool& first, const std::string& key,
                              const FormatString& format, const FormatContext& context) const {
  std::string value;
  if (const CommandOperator* op = format.singleOperator()) {
    FormatValue v = op->evaluate(context);
    if (v.isAbsent() && omit_empty_values_) return;
    if (!typed_) {
      std::string text;
      v.appendTo(text, "-");
      appendJsonString(value, text);
    } else if (v.isAbsent()) {
      value = "null";
    } else if (v.type == FormatValue::Type::kNumber) {
      value = std::to_string(v.number);
    } else {
      appendJsonString(value, v.text);
    }
  } else {
    // Text mixed with operators is always a string; absent operators inside print "-".
    appendJsonString(value, format.format(context, "-"));
  }
  if (!first) out += ',';
  first = false;
  appendJsonString(out, key);
  out += ':';
  out += value;
}

// text_format is deprecated in favour of text_format_source but still honoured by Envoy.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
StatusOr<FormatterPtr> createFormatter(
    const envoy::config::core::v3::SubstitutionFormatString& config) {
  using Config = envoy::config::core::v3::SubstitutionFormatString;
  const bool omit = config.omit_empty_values();
  switch (config.format_case()) {
    case Config::kTextFormat: {
      auto parsed = FormatString::parse(config.text_format());
      if (!parsed.ok()) return parsed.status().withPrefix("text_format");
      return FormatterPtr(new TextFormatter(std::move(parsed.value()), omit));
    }
    case Config::kTextFormatSource: {
      const auto& source = config.text_format_source();
      if (source.specifier_case() != envoy::config::core::v3::DataSource::kInlineString) {
        return Status::error("not supported by remora: text_format_source: only inline_string");
      }
      auto parsed = FormatString::parse(source.inline_string());
      if (!parsed.ok()) return parsed.status().withPrefix("text_format_source.inline_string");
      return FormatterPtr(new TextFormatter(std::move(parsed.value()), omit));
    }
    case Config::kJsonFormat:
      return JsonFormatter::create(config.json_format(), /*typed=*/true, omit);
    case Config::FORMAT_NOT_SET:
      break;
  }
  return Status::error(
      "log_format: one of text_format, json_format, text_format_source is "
      "required");
}
#pragma GCC diagnostic pop

FormatterPtr createDefaultFormatter() {
  auto parsed = FormatString::parse(kDefaultFormat);
  RELEASE_ASSERT(parsed.ok(), "the default access log format must parse");
  return FormatterPtr(new TextFormatter(std::move(parsed.value()), false));
}

}  // namespace remora::access_log
