#pragma once

#include "common/status.h"
#include "envoy/config/bootstrap/v3/bootstrap.pb.h"
#include "server/options.h"

namespace remora::config {

// The one entry point from flags to a bootstrap the runtime can build from. In order, first error
// wins: load and schema-check (bootstrap_loader.h), resolve extensions (extension_resolver.h),
// protoc-gen-validate rules (pgv_validator.h), fields remora honours (supported_fields.h),
// cross-field rules (semantic_checks.h).
StatusOr<envoy::config::bootstrap::v3::Bootstrap> loadAndValidate(const server::Options& options);

// The same pipeline minus loading, for a bootstrap already parsed (tests, --config-yaml only).
Status validateBootstrap(envoy::config::bootstrap::v3::Bootstrap& bootstrap);

}  // namespace remora::config
