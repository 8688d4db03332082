#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace remora::remoractl {

struct ProcessResult {
  int exit_code = 0;  // 128 + signal when killed by one, as a shell reports it
  std::string out;
  std::string err;
};

// Runs argv[0] (searched in PATH) with `input` on its stdin, collecting stdout and stderr.
// An error Status only when it could not be started at all.
StatusOr<ProcessResult> runProcess(const std::vector<std::string>& argv, const std::string& input);

// The full path of an executable found in PATH, or empty.
std::string findInPath(const std::string& name);

}  // namespace remora::remoractl
