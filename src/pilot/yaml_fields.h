#pragma once

// Typed access to YAML manifest fields where every error names the field's path
// ("spec.http[0].route[1].weight: expected an unsigned integer"). Parsing stops at the first error.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"
#include "pilot/objects.h"

namespace remora::pilot {

// A YAML node with the path that reached it.
struct Field {
  YAML::Node node;
  std::string path;

  bool present() const { return node.IsDefined() && !node.IsNull(); }
  Field operator[](const std::string& key) const;
  Field at(size_t index) const;
  size_t size() const { return node.IsSequence() ? node.size() : 0; }

  Status error(const std::string& what) const { return Status::error(path + ": " + what); }
  Status expectMap() const;
  Status expectList() const;
  // Each is an error if present with the wrong type; absent leaves `out` unchanged.
  Status getString(std::string& out) const;
  Status getUint(uint32_t& out) const;
  Status getBool(bool& out) const;
  Status getDouble(double& out) const;
  Status getStringList(std::vector<std::string>& out) const;
  Status getStringMap(std::map<std::string, std::string>& out) const;
  // A Go/Istio duration ("7s", "0.5s", "100ms", "1m30s") in milliseconds.
  Status getDurationMs(std::optional<uint64_t>& out) const;
  // Istio's StringMatch: one of exact, prefix, regex.
  Status getStringMatch(std::optional<StringMatch>& out) const;
  Status getStringMatchMap(std::map<std::string, StringMatch>& out) const;
};

// Parses "1h2m3.5s"-style durations; nullopt when malformed.
std::optional<uint64_t> parseDurationMs(const std::string& text);

}  // namespace remora::pilot
