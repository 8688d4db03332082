#include "common/logger.h"

#include <spdlog/sinks/stdout_sinks.h>

namespace remora::log {

void init(spdlog::level::level_enum level) {
  auto logger = spdlog::stderr_logger_mt("remora");
  logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e][%t][%l] %v");
  spdlog::set_default_logger(logger);
  setLevel(level);
}

bool parseLevel(std::string_view name, spdlog::level::level_enum& out) {
  static constexpr std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warning", spdlog::level::warn},
      {"warn", spdlog::level::warn},   {"error", spdlog::level::err},
      {"critical", spdlog::level::critical}, {"off", spdlog::level::off}};
  for (const auto& [n, l] : kLevels) {
    if (n == name) {
      out = l;
      return true;
    }
  }
  return false;
}

void setLevel(spdlog::level::level_enum level) {
  spdlog::set_level(level);
  spdlog::flush_on(spdlog::level::warn);
}

spdlog::level::level_enum level() { return spdlog::get_level(); }

}  // namespace remora::log
