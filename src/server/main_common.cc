#include "server/main_common.h"

#include <cstdio>

#include "common/logger.h"
#include "server/options.h"

namespace remora::server {

int mainCommon(int argc, char** argv) {
  auto options = Options::parse(argc, argv);
  if (!options.ok()) {
    std::fprintf(stderr, "remora: %s\n%s", options.status().message().c_str(), Options::usage().c_str());
    return 1;
  }
  if (options->help) {
    std::fputs(Options::usage().c_str(), stdout);
    return 0;
  }
  if (options->version) {
    std::printf("%s\n", remoraVersion());
    return 0;
  }
  log::init(options->log_level);
  return 0;
}

}  // namespace remora::server
