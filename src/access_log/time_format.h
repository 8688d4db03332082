#pragma once

#include <string>
#include <string_view>

#include "stream_info/stream_info.h"

namespace remora::access_log {

// Formats a point in time as %START_TIME(...)% does, always in UTC. `format` is strftime's
// language plus Envoy's extensions: %s (seconds since the Epoch), %f / %1f..%9f (fractional
// seconds, default 9 digits, truncated) and absl's %E0S..%E9S (seconds with that many fractional
// digits). An empty format is Envoy's default, "%Y-%m-%dT%H:%M:%E3SZ".
std::string formatTime(std::string_view format, stream_info::SystemTime time);

}  // namespace remora::access_log
