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

// The same checks for one resource delivered at run time (a Listener, Cluster or
// RouteConfiguration from LDS, CDS or RDS): extensions resolved, PGV rules, fields remora
// honours, and the semantic rules that apply to it alone. An error is a NACK.
Status validateResource(google::protobuf::Message& resource);

// The same pipeline minus loading, for a bootstrap already parsed (tests, --config-yaml only).
Status validateBootstrap(envoy::config::bootstrap::v3::Bootstrap& bootstrap);

}  // namespace remora::config
