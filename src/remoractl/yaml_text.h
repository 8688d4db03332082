#pragma once

#include <yaml-cpp/yaml.h>

#include <set>
#include <string>
#include <vector>

namespace remora::remoractl {

// Emits a YAML tree as block YAML. Quoted scalars (tag "!": quoted in the source, loaded from
// JSON strings, or made by quotedScalar) stay double-quoted, so "true" or "8080" stays a string.
// Maps keep their order, except the maps under a key named in `sorted_under` (and everything
// below it), which print sorted so output built from hash maps is stable.
void emitYaml(YAML::Emitter& out, const YAML::Node& node,
              const std::set<std::string>& sorted_under = {});

// A string scalar that will be emitted quoted.
YAML::Node quotedScalar(const std::string& value);

// A multi-document YAML text split at its `---` lines, each piece its raw text (with its own
// separator line), so documents nobody changes can be copied byte for byte.
std::vector<std::string> splitYamlDocuments(const std::string& text);

}  // namespace remora::remoractl
