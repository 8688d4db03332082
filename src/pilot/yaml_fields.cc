#include "pilot/yaml_fields.h"

#include <cmath>
#include <cstdlib>

namespace remora::pilot {

// yaml-cpp's non-const operator[] inserts missing keys and a missing key's node throws on use,
// so lookups go through a const node and an absent child becomes a fresh null node.
Field Field::operator[](const std::string& key) const {
  const std::string child_path = path.empty() ? key : path + "." + key;
  if (!node.IsDefined() || !node.IsMap()) return Field{YAML::Node(), child_path};
  const YAML::Node& map = node;
  YAML::Node child = map[key];
  return child.IsDefined() ? Field{child, child_path} : Field{YAML::Node(), child_path};
}

Field Field::at(size_t index) const {
  const std::string child_path = path + "[" + std::to_string(index) + "]";
  if (!node.IsDefined() || !node.IsSequence() || index >= node.size())
    return Field{YAML::Node(), child_path};
  const YAML::Node& list = node;
  return Field{list[index], child_path};
}

Status Field::expectMap() const {
  if (present() && !node.IsMap()) return error("expected a mapping");
  return Status();
}

Status Field::expectList() const {
  if (present() && !node.IsSequence()) return error("expected a list");
  return Status();
}

Status Field::getString(std::string& out) const {
  if (!present()) return Status();
  if (!node.IsScalar()) return error("expected a string");
  out = node.Scalar();
  return Status();
}

Status Field::getUint(uint32_t& out) const {
  if (!present()) return Status();
  if (!node.IsScalar()) return error("expected an unsigned integer");
  const std::string& s = node.Scalar();
  char* end = nullptr;
  unsigned long long v = s.empty() || s[0] == '-' ? 0 : std::strtoull(s.c_str(), &end, 10);
  if (s.empty() || s[0] == '-' || end == nullptr || *end != '\0' || v > UINT32_MAX)
    return error("expected an unsigned integer, got '" + s + "'");
  out = static_cast<uint32_t>(v);
  return Status();
}

Status Field::getBool(bool& out) const {
  if (!present()) return Status();
  if (!node.IsScalar() || (node.Scalar() != "true" && node.Scalar() != "false"))
    return error("expected true or false");
  out = node.Scalar() == "true";
  return Status();
}

Status Field::getDouble(double& out) const {
  if (!present()) return Status();
  char* end = nullptr;
  const std::string s = node.IsScalar() ? node.Scalar() : "";
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !std::isfinite(v)) return error("expected a number");
  out = v;
  return Status();
}

Status Field::getStringList(std::vector<std::string>& out) const {
  if (!present()) return Status();
  RETURN_IF_ERROR(expectList());
  for (size_t i = 0; i < size(); ++i) {
    std::string s;
    RETURN_IF_ERROR(at(i).getString(s));
    out.push_back(s);
  }
  return Status();
}

Status Field::getStringMap(std::map<std::string, std::string>& out) const {
  if (!present()) return Status();
  RETURN_IF_ERROR(expectMap());
  for (const auto& kv : node) {
    const std::string key = kv.first.Scalar();
    std::string value;
    RETURN_IF_ERROR((*this)[key].getString(value));
    out[key] = value;
  }
  return Status();
}

std::optional<uint64_t> parseDurationMs(const std::string& text) {
  if (text.empty()) return std::nullopt;
  double total_ms = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
      ++i;
    if (start == i) return std::nullopt;
    double value = std::strtod(text.substr(start, i - start).c_str(), nullptr);
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    const std::string unit = text.substr(unit_start, i - unit_start);
    double scale;
    if (unit == "h")
      scale = 3600e3;
    else if (unit == "m")
      scale = 60e3;
    else if (unit == "s")
      scale = 1e3;
    else if (unit == "ms")
      scale = 1;
    else if (unit == "us" || unit == "µs")
      scale = 1e-3;
    else if (unit == "ns")
      scale = 1e-6;
    else
      return std::nullopt;
    total_ms += value * scale;
  }
  return static_cast<uint64_t>(std::llround(total_ms));
}

Status Field::getDurationMs(std::optional<uint64_t>& out) const {
  if (!present()) return Status();
  if (!node.IsScalar()) return error("expected a duration such as \"1.5s\"");
  auto ms = parseDurationMs(node.Scalar());
  if (!ms) return error("expected a duration such as \"1.5s\", got '" + node.Scalar() + "'");
  out = *ms;
  return Status();
}

Status Field::getStringMatch(std::optional<StringMatch>& out) const {
  if (!present()) return Status();
  RETURN_IF_ERROR(expectMap());
  int kinds = 0;
  for (const auto& [key, kind] : {std::pair{"exact", StringMatch::Kind::kExact},
                                  std::pair{"prefix", StringMatch::Kind::kPrefix},
                                  std::pair{"regex", StringMatch::Kind::kRegex}}) {
    Field f = (*this)[key];
    if (!f.present()) continue;
    StringMatch m{kind, ""};
    RETURN_IF_ERROR(f.getString(m.value));
    out = m;
    ++kinds;
  }
  for (const auto& kv : node) {
    const std::string key = kv.first.Scalar();
    if (key != "exact" && key != "prefix" && key != "regex")
      return (*this)[key].error("unknown field (a StringMatch has exact, prefix or regex)");
  }
  if (kinds != 1) return error("a StringMatch needs exactly one of exact, prefix, regex");
  return Status();
}

Status Field::getStringMatchMap(std::map<std::string, StringMatch>& out) const {
  if (!present()) return Status();
  RETURN_IF_ERROR(expectMap());
  for (const auto& kv : node) {
    const std::string key = kv.first.Scalar();
    std::optional<StringMatch> m;
    Field f = (*this)[key];
    if (!(f.node.IsMap() && f.node.size() == 0)) RETURN_IF_ERROR(f.getStringMatch(m));
    // An empty matcher ({}) in Istio means "header present"; kept as a prefix match on "".
    out[key] = m.value_or(StringMatch{StringMatch::Kind::kPrefix, ""});
  }
  return Status();
}

}  // namespace remora::pilot
