// ads_load: the load generator of bench/pilot_scale.sh. Simulated Istio sidecars speaking ADS to
// remora-pilot (sim_proxy.h), and the endpoint changes whose convergence it measures.
//
//   ads_load write-config --dir DIR [shape]
//   ads_load run --xds HOST:PORT --dir DIR [shape] [--proxies N] [--changes N]
//                [--sync-timeout-s S] [--change-timeout-s S] [--pilot-pid PID] [--connect-batch N]
//   shape: [--services N] [--endpoints N] [--namespaces N] [--routed N]
//
// `run` connects every proxy (one gRPC channel, so one TCP connection, each), waits until all are
// synced (CDS, EDS for every cluster, LDS, RDS for every route), then makes the changes one at a
// time: it rewrites one service's EndpointSlice file in DIR with a new port and waits until every
// proxy has ACKed an EDS response carrying it. Convergence is measured from just before the file
// is renamed into place to the last proxy's ACK (one clock, this process). With --pilot-pid it also
// reads the pilot's CPU seconds (during the sync, during the changes) and RSS from /proc. Prints
// one JSON object.

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "mesh_config.h"
#include "sim_proxy.h"

namespace {

using namespace remora::bench;

struct Options {
  std::string mode;
  std::string dir;
  std::string xds;
  MeshShape shape;
  int proxies = 2000;
  int changes = 100;
  int sync_timeout_s = 300;
  int change_timeout_s = 30;
  int pilot_pid = 0;
  int connect_batch = 100;
};

// A process's user+system CPU seconds and peak RSS (VmHWM, MiB) from /proc; zeros without one.
struct ProcessUsage {
  double cpu_s = 0;
  double hwm_mib = 0;
  double rss_mib = 0;
};

ProcessUsage usageOf(int pid) {
  ProcessUsage u;
  if (pid <= 0) return u;
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string line;
  std::getline(stat, line);
  auto paren = line.rfind(')');
  if (paren != std::string::npos) {
    std::istringstream fields(line.substr(paren + 2));
    std::string f;
    double utime = 0, stime = 0;
    // After the command: state is field 3; utime and stime are fields 14 and 15.
    for (int i = 3; i <= 15 && fields >> f; ++i) {
      if (i == 14) utime = std::stod(f);
      if (i == 15) stime = std::stod(f);
    }
    u.cpu_s = (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) u.hwm_mib = std::stod(line.substr(6)) / 1024;
    if (line.rfind("VmRSS:", 0) == 0) u.rss_mib = std::stod(line.substr(6)) / 1024;
  }
  return u;
}

int usage(const std::string& error) {
  fmt::print(stderr,
             "ads_load: {}\nusage: ads_load write-config --dir DIR [shape]\n"
             "       ads_load run --xds HOST:PORT --dir DIR [shape] [--proxies N] [--changes N] "
             "[--sync-timeout-s S] [--change-timeout-s S] [--pilot-pid PID] [--connect-batch N]\n"
             "shape: [--services N] [--endpoints N] [--namespaces N] [--routed N]\n",
             error);
  return 2;
}

bool parse(int argc, char** argv, Options& o, std::string& error) {
  if (argc < 2) return error = "a mode is required", false;
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc) return error = "missing value for " + arg, false;
    std::string v = argv[++i];
    auto number = [&](int& out) {
      out = std::atoi(v.c_str());
      return out > 0 || v == "0";
    };
    bool ok = true;
    if (arg == "--dir")
      o.dir = v;
    else if (arg == "--xds")
      o.xds = v;
    else if (arg == "--services")
      ok = number(o.shape.services) && o.shape.services > 0;
    else if (arg == "--endpoints")
      ok = number(o.shape.endpoints) && o.shape.endpoints > 0;
    else if (arg == "--namespaces")
      ok = number(o.shape.namespaces) && o.shape.namespaces > 0;
    else if (arg == "--routed")
      ok = number(o.shape.routed);
    else if (arg == "--proxies")
      ok = number(o.proxies) && o.proxies > 0;
    else if (arg == "--changes")
      ok = number(o.changes);
    else if (arg == "--sync-timeout-s")
      ok = number(o.sync_timeout_s);
    else if (arg == "--change-timeout-s")
      ok = number(o.change_timeout_s);
    else if (arg == "--connect-batch")
      ok = number(o.connect_batch) && o.connect_batch > 0;
    else if (arg == "--pilot-pid")
      ok = number(o.pilot_pid);
    else
      return error = "unknown flag " + arg, false;
    if (!ok) return error = "bad value for " + arg + ": " + v, false;
  }
  if (o.dir.empty()) return error = "--dir is required", false;
  if (o.mode == "run" && o.xds.empty()) return error = "--xds is required", false;
  return true;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  // Nearest rank: the smallest value with at least p% of the values at or below it.
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Which service change `k` edits: spread over the mesh, deterministic.
int changedService(const MeshShape& shape, int k) {
  return static_cast<int>((static_cast<int64_t>(k) * 7919 + 13) % shape.services);
}

int run(const Options& o) {
  // Each change moves a service's endpoints to a port no earlier change (of this run, or likely
  // of an earlier run on the same directory) used, so every write is a real change.
  if (o.changes > 40000) throw std::runtime_error("at most 40000 changes");
  const auto salt = static_cast<uint32_t>(Clock::now().time_since_epoch().count() / 1000);
  std::vector<WatchedChange> changes;
  for (int k = 0; k < o.changes; ++k)
    changes.push_back({serviceCluster(o.shape, changedService(o.shape, k)),
                       20000 + (salt + static_cast<uint32_t>(k)) % 40000});
  LoadState state(o.proxies, changes);
  const ProcessUsage before = usageOf(o.pilot_pid);

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  // A connection per proxy, as real sidecars have: no subchannel sharing between channels.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<envoy::service::discovery::v3::AggregatedDiscoveryService::Stub>>
      stubs;
  std::vector<std::unique_ptr<SimProxy>> proxies;
  std::vector<std::unique_ptr<SimProxy>> failed;  // ended streams, kept until the end
  int reconnects = 0;
  auto proxyNamespace = [&](int i) { return fmt::format("ns-{}", i % o.shape.namespaces); };
  // A stream that failed gets a new one on the same channel, as Envoy reconnects.
  auto replaceFailed = [&] {
    for (size_t i = 0; i < proxies.size(); ++i) {
      if (!proxies[i]->failed()) continue;
      proxies[i]->wait();
      failed.push_back(std::move(proxies[i]));
      const int index = static_cast<int>(i);
      proxies[i] = std::make_unique<SimProxy>(state, index, proxyNamespace(index), *stubs[i]);
      ++reconnects;
    }
  };
  // Waits up to `limit` for `wait` (a bounded LoadState wait) to succeed, replacing failed
  // streams meanwhile.
  auto await = [&](auto wait, std::chrono::seconds limit) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (wait(std::chrono::milliseconds(200))) return true;
      replaceFailed();
    }
    return false;
  };
  auto finish = [&](int code) {
    for (auto& p : proxies) p->cancel();
    for (auto& p : proxies) p->wait();
    return code;
  };

  // Proxies connect in batches, each batch's connections established before the next starts
  // (thousands of simultaneous SYNs overflow the listen queue; real sidecars come up over time
  // and retry). Their streams sync concurrently.
  const auto start = Clock::now();
  for (int first = 0; first < o.proxies; first += o.connect_batch) {
    const int last = std::min(o.proxies, first + o.connect_batch);
    for (int i = first; i < last; ++i) {
      channels.push_back(
          grpc::CreateCustomChannel(o.xds, grpc::InsecureChannelCredentials(), args));
      stubs.push_back(
          envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channels.back()));
      proxies.push_back(std::make_unique<SimProxy>(state, i, proxyNamespace(i), *stubs.back()));
    }
    const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(30);
    for (int i = first; i < last; ++i) {
      if (!channels[i]->WaitForConnected(deadline)) {
        fmt::print(stderr, "ads_load: proxy {} could not connect within 30 s\n", i);
        return finish(1);
      }
    }
  }

  if (!await([&](auto t) { return state.waitSynced(o.proxies, t); },
             std::chrono::seconds(o.sync_timeout_s))) {
    fmt::print(stderr, "ads_load: {} of {} proxies synced within {} s ({} stream failures)\n",
               state.synced(), o.proxies, o.sync_timeout_s, state.failures());
    return finish(1);
  }
  const double initial_sync = seconds(state.lastEvent() - start);
  const ProcessUsage synced = usageOf(o.pilot_pid);
  fmt::print(stderr, "ads_load: {} proxies synced in {:.3f} s\n", o.proxies, initial_sync);

  std::vector<double> convergence;
  for (int k = 0; k < o.changes; ++k) {
    const int service = changedService(o.shape, k);
    state.startChange(k);
    const auto written = Clock::now();
    writeEndpoints(o.dir, o.shape, service, changes[k].port);
    if (!await([&](auto t) { return state.waitAcked(o.proxies, t); },
               std::chrono::seconds(o.change_timeout_s))) {
      fmt::print(stderr, "ads_load: change {} ({}): {} of {} proxies ACKed within {} s\n", k,
                 changes[k].cluster, state.acked(), o.proxies, o.change_timeout_s);
      return finish(1);
    }
    convergence.push_back(seconds(state.lastEvent() - written));
  }

  const ProcessUsage after = usageOf(o.pilot_pid);
  double sum = 0;
  for (double c : convergence) sum += c;
  fmt::print(
      "{{\"proxies\": {}, \"services\": {}, \"endpoints\": {}, \"initial_sync_s\": {:.3f}, "
      "\"changes\": {}, \"convergence_p50_s\": {:.4f}, \"convergence_p99_s\": {:.4f}, "
      "\"convergence_max_s\": {:.4f}, \"convergence_mean_s\": {:.4f}, "
      "\"pilot_cpu_sync_s\": {:.2f}, \"pilot_cpu_changes_s\": {:.2f}, "
      "\"pilot_rss_synced_mib\": {:.1f}, \"pilot_peak_rss_mib\": {:.1f}, \"reconnects\": {}}}\n",
      o.proxies, o.shape.services, o.shape.endpoints, initial_sync, convergence.size(),
      percentile(convergence, 50), percentile(convergence, 99), percentile(convergence, 100),
      convergence.empty() ? 0 : sum / static_cast<double>(convergence.size()),
      synced.cpu_s - before.cpu_s, after.cpu_s - synced.cpu_s, synced.rss_mib, after.hwm_mib,
      reconnects);
  std::fflush(stdout);
  return finish(0);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string error;
  if (!parse(argc, argv, o, error)) return usage(error);
  try {
    if (o.mode == "write-config") {
      writeMesh(o.dir, o.shape);
      return 0;
    }
    if (o.mode == "run") return run(o);
  } catch (const std::exception& e) {
    fmt::print(stderr, "ads_load: {}\n", e.what());
    return 1;
  }
  return usage("unknown mode " + o.mode);
}
