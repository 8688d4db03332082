#pragma once

#include <string>

#include "common/status.h"

namespace remora::remoractl {

// The whole file, or standard input for "-"; a clear error naming the path otherwise.
StatusOr<std::string> readInput(const std::string& path);
// Writes content to path (creating its directory), replacing what was there.
Status writeFile(const std::string& path, const std::string& content);

}  // namespace remora::remoractl
