#pragma once

// Decodes Kubernetes and Istio manifests (multi-document YAML) into pilot Objects. Errors name the
// document and the field path; the caller adds the file name.

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "common/status.h"
#include "pilot/objects.h"

namespace remora::pilot {

// One parsed document, or the error that stopped it. `index` counts documents from 0.
struct ParsedDocument {
  size_t index = 0;
  std::optional<Object> object;
  std::optional<std::string> error;
};

// Every non-empty document of `yaml` in order. A YAML syntax error is one entry with index 0.
std::vector<ParsedDocument> parseManifests(const std::string& yaml);

// One object already read as YAML (a Kubernetes API list item or watch event object).
Status parseObject(const YAML::Node& doc, Object& out);

// The kinds accepted but not translated yet (listed as "not yet supported").
bool isUnsupportedKind(const std::string& api_group, const std::string& kind);

}  // namespace remora::pilot
