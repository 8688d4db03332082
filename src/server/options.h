#pragma once

#include <spdlog/common.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace remora::server {

enum class Mode { Serve, Validate };

// Command-line options, named and defaulted as Envoy's.
struct Options {
  std::string config_path;        // -c / --config-path
  std::string config_yaml;        // --config-yaml, merged over the file
  Mode mode = Mode::Serve;        // --mode serve|validate
  uint32_t concurrency = 0;       // --concurrency; 0 before parse means "CPUs available"
  spdlog::level::level_enum log_level = spdlog::level::info;  // -l / --log-level
  std::string service_node;       // --service-node
  std::string service_cluster;    // --service-cluster
  std::string service_zone;       // --service-zone
  std::chrono::seconds drain_time{600};            // --drain-time-s
  std::chrono::seconds parent_shutdown_time{900};  // --parent-shutdown-time-s
  uint32_t base_id = 0;           // --base-id
  uint32_t restart_epoch = 0;     // --restart-epoch
  std::vector<std::string> argv;  // as given, for /server_info

  // Parses argv; errors name the flag. `--help` and `--version` set these and stop parsing.
  bool help = false;
  bool version = false;
  static StatusOr<Options> parse(int argc, char** argv);
  static std::string usage();
};

// The version string reported by --version and /server_info.
const char* remoraVersion();

}  // namespace remora::server
