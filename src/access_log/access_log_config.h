#pragma once

#include "access_log/access_log.h"
#include "common/status.h"
#include "envoy/config/accesslog/v3/accesslog.pb.h"

namespace remora::access_log {

// Builds one access log from its config: finds the logger extension by typed_config type (or by
// name when no typed_config is given), builds its filter and formatter, and opens its output.
// Call on the main thread; the result is shared read-only by all workers.
StatusOr<InstanceSharedPtr> createAccessLog(const envoy::config::accesslog::v3::AccessLog& config);

}  // namespace remora::access_log
