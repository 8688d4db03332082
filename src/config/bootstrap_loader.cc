#include "config/bootstrap_loader.h"

#include <google/protobuf/util/json_util.h>

#include <fstream>
#include <sstream>

#include "config/json_schema_check.h"
#include "config/json_value.h"

namespace remora::config {
namespace {

using envoy::config::bootstrap::v3::Bootstrap;

bool endsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// protobuf 3.21 writes "(a.b[0].c): invalid value ..."; print it as every other error: "a.b[0].c:
// ...".
std::string reformatProtobufError(const std::string& message) {
  auto close = message.find("): ");
  if (message.rfind("(", 0) == 0 && close != std::string::npos) {
    return message.substr(1, close - 1) + ": " + message.substr(close + 3);
  }
  return "invalid config: " + message;
}

StatusOr<Bootstrap> bootstrapFromValue(const google::protobuf::Value& tree) {
  RETURN_IF_ERROR(checkJsonSchema(tree, Bootstrap::descriptor()));
  Bootstrap bootstrap;
  if (tree.has_null_value()) return bootstrap;  // an empty document is an empty bootstrap
  google::protobuf::util::JsonParseOptions parse_options;
  parse_options.ignore_unknown_fields = false;
  auto status =
      google::protobuf::util::JsonStringToMessage(valueToJson(tree), &bootstrap, parse_options);
  // The schema check has already caught what it can name by path; what remains are value errors
  // (bad duration text, out-of-range numbers), which protobuf reports with its own field path.
  if (!status.ok()) return Status::error(reformatProtobufError(std::string(status.message())));
  return bootstrap;
}

StatusOr<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error("cannot read config file " + path);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

void applyNodeOverrides(const server::Options& options, Bootstrap& bootstrap) {
  if (!options.service_node.empty()) bootstrap.mutable_node()->set_id(options.service_node);
  if (!options.service_cluster.empty())
    bootstrap.mutable_node()->set_cluster(options.service_cluster);
  if (!options.service_zone.empty()) {
    bootstrap.mutable_node()->mutable_locality()->set_zone(options.service_zone);
  }
}

}  // namespace

StatusOr<Bootstrap> bootstrapFromYaml(const std::string& yaml) {
  auto tree = yamlToValue(yaml);
  if (!tree.ok()) return tree.status();
  return bootstrapFromValue(*tree);
}

StatusOr<Bootstrap> bootstrapFromJson(const std::string& json) {
  auto tree = jsonToValue(json);
  if (!tree.ok()) return tree.status();
  return bootstrapFromValue(*tree);
}

StatusOr<Bootstrap> loadBootstrap(const server::Options& options) {
  if (options.config_path.empty() && options.config_yaml.empty()) {
    return Status::error("no configuration: give -c FILE and/or --config-yaml");
  }
  Bootstrap bootstrap;
  if (!options.config_path.empty()) {
    const std::string& path = options.config_path;
    const bool yaml = endsWith(path, ".yaml") || endsWith(path, ".yml");
    const bool json = endsWith(path, ".json");
    if (!yaml && !json) {
      return Status::error("unsupported config file extension: " + path +
                           " (accepted: .yaml, .yml, .json)");
    }
    auto text = readFile(path);
    if (!text.ok()) return text.status();
    auto parsed = yaml ? bootstrapFromYaml(*text) : bootstrapFromJson(*text);
    if (!parsed.ok()) return parsed.status().withPrefix(path);
    bootstrap = std::move(*parsed);
  }
  if (!options.config_yaml.empty()) {
    auto overlay = bootstrapFromYaml(options.config_yaml);
    if (!overlay.ok()) return overlay.status().withPrefix("--config-yaml");
    bootstrap.MergeFrom(*overlay);
  }
  applyNodeOverrides(options, bootstrap);
  return bootstrap;
}

}  // namespace remora::config
