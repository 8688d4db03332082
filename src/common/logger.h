#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace remora::log {

// Log lines go to stderr in Envoy's format: [time][thread][level][component] message.
// Levels are Envoy's names: trace, debug, info, warning (warn), error, critical, off.
void init(spdlog::level::level_enum level);

// Parses an Envoy level name; false when the name is unknown.
bool parseLevel(std::string_view name, spdlog::level::level_enum& out);

// Sets the level of every logger at once (admin POST /logging?level=...).
void setLevel(spdlog::level::level_enum level);
spdlog::level::level_enum level();

}  // namespace remora::log

#define LOG_TRACE(...) SPDLOG_TRACE(__VA_ARGS__)
#define LOG_DEBUG(...) \
  do { if (spdlog::should_log(spdlog::level::debug)) spdlog::debug(__VA_ARGS__); } while (false)
#define LOG_INFO(...) spdlog::info(__VA_ARGS__)
#define LOG_WARN(...) spdlog::warn(__VA_ARGS__)
#define LOG_ERROR(...) spdlog::error(__VA_ARGS__)
#define LOG_CRITICAL(...) spdlog::critical(__VA_ARGS__)
