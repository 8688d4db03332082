#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace remora::remoractl {

// GET http://<host>:<port><path> (HTTP/1.1, Connection: close) and return the body of a 200;
// anything else is an error with the status line. With `netns`, the request is made from inside
// that network namespace (by a child process, so this one's stays as it is), which is how
// remoractl reaches a pod's sidecar admin or remora-pilot's monitoring port. Gives up after
// `timeout_ms`.
StatusOr<std::string> httpGet(const std::string& host, uint16_t port, const std::string& path,
                              const std::string& netns = "", int timeout_ms = 5000);

}  // namespace remora::remoractl
