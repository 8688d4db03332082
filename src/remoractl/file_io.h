#pragma once

#include <ostream>
#include <string>

#include "common/status.h"

namespace remora::remoractl {

// The whole file, or standard input for "-"; a clear error naming the path otherwise.
StatusOr<std::string> readInput(const std::string& path);
// Writes content to path (creating its directory), replacing what was there.
Status writeFile(const std::string& path, const std::string& content);

// A command's result, or its error as "remoractl <command>: <message>": the text goes to `out`
// for output "-", else to that file. Returns the exit code (0, or 1 on any error).
int writeResult(const StatusOr<std::string>& result, const std::string& output,
                const std::string& command, std::ostream& out, std::ostream& err);

}  // namespace remora::remoractl
