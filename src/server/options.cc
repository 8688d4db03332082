#include "server/options.h"

#include <sched.h>
#include <unistd.h>

#include <charconv>
#include <string_view>

#include "common/logger.h"

namespace remora::server {

namespace {

uint32_t availableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<uint32_t>(n);
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<uint32_t>(n) : 1;
}

StatusOr<uint64_t> parseUnsigned(std::string_view flag, std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Status::error("invalid value for " + std::string(flag) + ": '" + std::string(text) + "'");
  }
  return value;
}

}  // namespace

const char* remoraVersion() { return "remora/0.1.0"; }

std::string Options::usage() {
  return R"(usage: remora [options]
  -c, --config-path FILE        Envoy v3 bootstrap, YAML (.yaml/.yml) or JSON (.json)
      --config-yaml YAML        bootstrap YAML merged over the file
      --mode serve|validate     validate checks the config and exits 0/1 without binding
      --concurrency N           worker threads (default: CPUs available)
  -l, --log-level LEVEL         trace|debug|info|warning|error|critical|off
      --service-node NAME       node id (overrides bootstrap node.id)
      --service-cluster NAME    node cluster (overrides bootstrap node.cluster)
      --service-zone NAME       node locality zone
      --drain-time-s N          seconds to drain connections on shutdown (default 600)
      --parent-shutdown-time-s N  hot restart only: must stay at its default (900)
      --base-id N               hot restart only: must be 0
      --restart-epoch N         hot restart only: must be 0
      --version                 print the version and exit
)";
}

StatusOr<Options> Options::parse(int argc, char** argv) {
  Options o;
  o.concurrency = availableCpus();
  for (int i = 0; i < argc; ++i) o.argv.emplace_back(argv[i]);

  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    bool has_inline = false;
    if (arg.starts_with("--")) {
      auto eq = arg.find('=');
      if (eq != std::string_view::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        has_inline = true;
      }
    }
    auto next = [&](std::string_view flag) -> StatusOr<std::string_view> {
      if (has_inline) return value;
      if (i + 1 >= argc) return Status::error("missing value for " + std::string(flag));
      return std::string_view(argv[++i]);
    };
#define REMORA_NEXT(flag)                 \
  auto v_or = next(flag);                 \
  if (!v_or.ok()) return v_or.status();   \
  std::string_view v = *v_or

    if (arg == "-c" || arg == "--config-path") {
      REMORA_NEXT(arg);
      o.config_path = v;
    } else if (arg == "--config-yaml") {
      REMORA_NEXT(arg);
      o.config_yaml = v;
    } else if (arg == "--mode") {
      REMORA_NEXT(arg);
      if (v == "serve") {
        o.mode = Mode::Serve;
      } else if (v == "validate") {
        o.mode = Mode::Validate;
      } else {
        return Status::error("--mode must be serve or validate (init_only is not supported by remora), got '" + std::string(v) + "'");
      }
    } else if (arg == "--concurrency") {
      REMORA_NEXT(arg);
      auto n = parseUnsigned(arg, v);
      if (!n.ok()) return n.status();
      if (*n == 0 || *n > 256) return Status::error("--concurrency must be between 1 and 256");
      o.concurrency = static_cast<uint32_t>(*n);
    } else if (arg == "-l" || arg == "--log-level") {
      REMORA_NEXT(arg);
      if (!log::parseLevel(v, o.log_level)) {
        return Status::error("invalid log level '" + std::string(v) + "'");
      }
    } else if (arg == "--service-node") {
      REMORA_NEXT(arg);
      o.service_node = v;
    } else if (arg == "--service-cluster") {
      REMORA_NEXT(arg);
      o.service_cluster = v;
    } else if (arg == "--service-zone") {
      REMORA_NEXT(arg);
      o.service_zone = v;
    } else if (arg == "--drain-time-s") {
      REMORA_NEXT(arg);
      auto n = parseUnsigned(arg, v);
      if (!n.ok()) return n.status();
      o.drain_time = std::chrono::seconds(*n);
    } else if (arg == "--parent-shutdown-time-s") {
      REMORA_NEXT(arg);
      auto n = parseUnsigned(arg, v);
      if (!n.ok()) return n.status();
      // Only meaningful for hot restart, which remora does not have yet.
      if (*n != 900) return Status::error("--parent-shutdown-time-s: not supported by remora (no hot restart); only the default 900 is accepted");
      o.parent_shutdown_time = std::chrono::seconds(*n);
    } else if (arg == "--base-id") {
      REMORA_NEXT(arg);
      auto n = parseUnsigned(arg, v);
      if (!n.ok()) return n.status();
      if (*n != 0) return Status::error("--base-id: not supported by remora (no hot restart); only 0 is accepted");
    } else if (arg == "--restart-epoch") {
      REMORA_NEXT(arg);
      auto n = parseUnsigned(arg, v);
      if (!n.ok()) return n.status();
      if (*n != 0) return Status::error("--restart-epoch: not supported by remora (no hot restart); only 0 is accepted");
    } else if (arg == "-h" || arg == "--help") {
      o.help = true;
      return o;
    } else if (arg == "--version") {
      o.version = true;
      return o;
    } else {
      return Status::error("unknown flag '" + std::string(argv[i]) + "'");
    }
#undef REMORA_NEXT
  }
  if (o.config_path.empty() && o.config_yaml.empty()) {
    return Status::error("no configuration: give -c FILE or --config-yaml YAML");
  }
  return o;
}

}  // namespace remora::server
