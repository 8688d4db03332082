#pragma once

#include <string>

#include "common/status.h"
#include "envoy/config/bootstrap/v3/bootstrap.pb.h"
#include "server/options.h"

namespace remora::config {

// Reads the bootstrap as Envoy does: `-c FILE` by extension (.yaml/.yml as YAML, .json as JSON),
// then `--config-yaml` parsed alone and merged over it (proto MergeFrom), then the node overrides
// (--service-node, --service-cluster, --service-zone). Parses only: no validation beyond the schema
// (unknown fields, wrong types and unknown @type URLs are errors with their path).
StatusOr<envoy::config::bootstrap::v3::Bootstrap> loadBootstrap(const server::Options& options);

// Parses one YAML document into a Bootstrap (schema-checked, as above).
StatusOr<envoy::config::bootstrap::v3::Bootstrap> bootstrapFromYaml(const std::string& yaml);

// Parses one JSON document into a Bootstrap (schema-checked, as above).
StatusOr<envoy::config::bootstrap::v3::Bootstrap> bootstrapFromJson(const std::string& json);

}  // namespace remora::config
