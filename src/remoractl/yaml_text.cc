#include "remoractl/yaml_text.h"

#include <map>
#include <sstream>
#include <vector>

namespace remora::remoractl {
namespace {

void emitNode(YAML::Emitter& out, const YAML::Node& node, const std::set<std::string>& sorted_under,
              bool sort_keys) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      // Nodes are handles whose assignment writes through, so they are never assigned or sorted
      // in place: std::map copies them once, in key order.
      std::vector<std::pair<std::string, YAML::Node>> in_order;
      std::map<std::string, YAML::Node> sorted;
      for (const auto& entry : node) {
        if (sort_keys) {
          sorted.emplace(entry.first.as<std::string>(), entry.second);
        } else {
          in_order.emplace_back(entry.first.as<std::string>(), entry.second);
        }
      }
      out << YAML::BeginMap;
      auto emit_entry = [&](const std::string& key, const YAML::Node& value) {
        out << YAML::Key << key << YAML::Value;
        emitNode(out, value, sorted_under, sort_keys || sorted_under.contains(key));
      };
      for (const auto& [key, value] : in_order) emit_entry(key, value);
      for (const auto& [key, value] : sorted) emit_entry(key, value);
      out << YAML::EndMap;
      break;
    }
    case YAML::NodeType::Sequence:
      out << YAML::BeginSeq;
      for (const auto& item : node) emitNode(out, item, sorted_under, sort_keys);
      out << YAML::EndSeq;
      break;
    case YAML::NodeType::Scalar:
      if (node.Tag() == "!") {
        out << YAML::DoubleQuoted << node.Scalar();
      } else {
        out << node.Scalar();
      }
      break;
    default:
      out << YAML::Null;
  }
}

}  // namespace

void emitYaml(YAML::Emitter& out, const YAML::Node& node,
              const std::set<std::string>& sorted_under) {
  emitNode(out, node, sorted_under, false);
}

std::vector<std::string> splitYamlDocuments(const std::string& text) {
  std::vector<std::string> documents(1);
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const bool separator =
        line.starts_with("---") && (line.size() == 3 || line[3] == ' ' || line[3] == '\t');
    if (separator && !documents.back().empty()) documents.emplace_back();
    documents.back() += line;
    if (!in.eof()) documents.back() += '\n';
  }
  return documents;
}

YAML::Node quotedScalar(const std::string& value) {
  YAML::Node node(value);
  node.SetTag("!");
  return node;
}

}  // namespace remora::remoractl
