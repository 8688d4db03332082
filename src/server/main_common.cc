#include "server/main_common.h"

#include <cstdio>

#include "common/logger.h"
#include "config/load_and_validate.h"
#include "server/options.h"
#include "server/server.h"

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

  auto bootstrap = config::loadAndValidate(*options);
  if (!bootstrap.ok()) {
    LOG_CRITICAL("error initializing configuration '{}': {}", options->config_path,
                 bootstrap.status().message());
    return 1;
  }
  Server server(*options, std::move(*bootstrap));
  Status status = options->mode == Mode::Validate ? server.validateOnly() : server.initialize();
  if (!status.ok()) {
    LOG_CRITICAL("error initializing configuration '{}': {}", options->config_path, status.message());
    return 1;
  }
  if (options->mode == Mode::Validate) {
    std::printf("configuration '%s' OK\n", options->config_path.c_str());
    return 0;
  }
  return server.run();
}

}  // namespace remora::server
