#include "config/load_and_validate.h"

#include "config/bootstrap_loader.h"
#include "config/extension_resolver.h"
#include "config/pgv_validator.h"
#include "config/semantic_checks.h"
#include "config/supported_fields.h"

namespace remora::config {

Status validateBootstrap(envoy::config::bootstrap::v3::Bootstrap& bootstrap) {
  RETURN_IF_ERROR(resolveExtensions(bootstrap));
  // PGV first: a config Envoy itself would reject is reported as invalid, not as unsupported.
  RETURN_IF_ERROR(validateMessage(bootstrap));
  RETURN_IF_ERROR(checkSupportedFields(bootstrap));
  return checkSemantics(bootstrap);
}

Status validateResource(google::protobuf::Message& resource) {
  RETURN_IF_ERROR(resolveExtensions(resource));
  RETURN_IF_ERROR(validateMessage(resource));
  RETURN_IF_ERROR(checkSupportedFields(resource));
  return checkResourceSemantics(resource);
}

StatusOr<envoy::config::bootstrap::v3::Bootstrap> loadAndValidate(const server::Options& options) {
  auto bootstrap = loadBootstrap(options);
  if (!bootstrap.ok()) return bootstrap.status();
  RETURN_IF_ERROR(validateBootstrap(*bootstrap));
  return bootstrap;
}

}  // namespace remora::config
