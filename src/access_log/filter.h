#pragma once

#include "access_log/access_log.h"
#include "common/status.h"
#include "envoy/config/accesslog/v3/accesslog.pb.h"

namespace remora::access_log {

// Builds a filter from its config: status_code_filter, duration_filter, not_health_check_filter,
// response_flag_filter, header_filter, and_filter, or_filter. Anything else is "not supported by
// remora". ComparisonFilter values use default_value: remora has no runtime layer, so a
// runtime_key never overrides it. Errors carry the field path below `path`.
StatusOr<FilterPtr> createFilter(const envoy::config::accesslog::v3::AccessLogFilter& config,
                                 const std::string& path);

}  // namespace remora::access_log
