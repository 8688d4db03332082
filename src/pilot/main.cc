// remora-pilot: the control plane. Reads Kubernetes and Istio objects from --config-dir (or a
// Kubernetes API server: --kubeconfig / --kube-api-server), translates them per connected proxy
// and serves them over ADS (gRPC, :15010); monitoring on :15014.
//
//   remora-pilot (--config-dir DIR | --kubeconfig FILE | --kube-api-server URL)
//                [--grpcAddr HOST:PORT] [--monitoringAddr HOST:PORT] [--debounce-ms N] [-l LEVEL]
//
// Prints one line `{"xds_port": N, "monitoring_port": M}` on stdout once both are listening.

#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "pilot/ads_server.h"
#include "pilot/dir_source.h"
#include "pilot/kube_source.h"
#include "pilot/monitoring.h"
#include "pilot/xds_hub.h"

namespace {

struct Flags {
  std::string config_dir;
  std::string kubeconfig;
  std::string kube_api_server;
  std::string grpc_addr = "0.0.0.0:15010";
  std::string monitoring_addr = "0.0.0.0:15014";
  int debounce_ms = 100;
  std::string log_level = "info";
};

int usage(const char* error) {
  std::fprintf(stderr,
               "remora-pilot: %s\nusage: remora-pilot (--config-dir DIR | --kubeconfig FILE | "
               "--kube-api-server URL) [--grpcAddr HOST:PORT] [--monitoringAddr HOST:PORT] "
               "[--debounce-ms N] [-l LEVEL]\n",
               error);
  return 2;
}

// "host:port" or ":port" (all addresses).
bool splitAddress(const std::string& addr, std::string& host, int& port) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos) return false;
  host = colon == 0 ? "0.0.0.0" : addr.substr(0, colon);
  try {
    port = std::stoi(addr.substr(colon + 1));
  } catch (...) {
    return false;
  }
  return port >= 0 && port <= 65535;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace remora::pilot;
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (arg == "--config-dir" && (v = value()))
      flags.config_dir = v;
    else if (arg == "--kubeconfig" && (v = value()))
      flags.kubeconfig = v;
    else if (arg == "--kube-api-server" && (v = value()))
      flags.kube_api_server = v;
    else if (arg == "--grpcAddr" && (v = value()))
      flags.grpc_addr = v;
    else if (arg == "--monitoringAddr" && (v = value()))
      flags.monitoring_addr = v;
    else if (arg == "--debounce-ms" && (v = value()))
      flags.debounce_ms = std::atoi(v);
    else if ((arg == "-l" || arg == "--log-level") && (v = value()))
      flags.log_level = v;
    else
      return usage(("unknown or incomplete flag " + arg).c_str());
  }
  const int sources =
      !flags.config_dir.empty() + !flags.kubeconfig.empty() + !flags.kube_api_server.empty();
  if (sources != 1)
    return usage("exactly one of --config-dir, --kubeconfig and --kube-api-server is required");
  if (!flags.config_dir.empty() && !std::filesystem::is_directory(flags.config_dir))
    return usage(("not a directory: " + flags.config_dir).c_str());
  std::unique_ptr<ConfigSource> source;
  if (!flags.config_dir.empty()) {
    source = std::make_unique<DirSource>(flags.config_dir);
  } else {
    auto target = flags.kubeconfig.empty() ? kubeApiServer(flags.kube_api_server)
                                           : loadKubeconfig(flags.kubeconfig);
    if (!target.ok()) return usage(target.status().message().c_str());
    source = std::make_unique<KubeSource>(std::move(*target));
  }
  std::string monitoring_host;
  int monitoring_port = 0;
  if (!splitAddress(flags.monitoring_addr, monitoring_host, monitoring_port))
    return usage("--monitoringAddr must be HOST:PORT");
  spdlog::set_level(spdlog::level::from_str(flags.log_level));
  spdlog::set_default_logger(spdlog::stderr_color_mt("pilot"));

  // Signals are taken synchronously by the main thread; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  XdsHub hub(std::chrono::milliseconds(flags.debounce_ms));
  source->start([&hub](SourceSnapshot snapshot) { hub.onSourceChange(std::move(snapshot)); });

  AdsServer ads(hub);
  int xds_port = ads.start(flags.grpc_addr);
  if (xds_port == 0) {
    spdlog::error("cannot listen for xDS on {}", flags.grpc_addr);
    return 1;
  }
  MonitoringServer monitoring(hub);
  int bound_monitoring = monitoring.start(monitoring_host, monitoring_port);
  if (bound_monitoring == 0) {
    spdlog::error("cannot listen for monitoring on {}", flags.monitoring_addr);
    return 1;
  }
  spdlog::info("serving xDS on port {}, monitoring on port {}", xds_port, bound_monitoring);
  std::printf("{\"xds_port\": %d, \"monitoring_port\": %d}\n", xds_port, bound_monitoring);
  std::fflush(stdout);

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {}: shutting down", sig);
  source->stop();
  monitoring.stop();
  ads.shutdown();
  return 0;
}
