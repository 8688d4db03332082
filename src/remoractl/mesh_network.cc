#include "remoractl/mesh_network.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "remoractl/file_io.h"
#include "remoractl/http_get.h"
#include "remoractl/process.h"

namespace remora::remoractl {
namespace {

Status run(const std::vector<std::string>& argv) {
  auto result = runProcess(argv, "");
  if (!result.ok()) return result.status();
  if (result.value().exit_code != 0) {
    std::string command;
    for (const auto& arg : argv) command += (command.empty() ? "" : " ") + arg;
    return Status::error(fmt::format("{}: {}", command, result.value().err));
  }
  return {};
}

// Every process in a namespace: TERM, a short grace, then KILL.
void killNamespaceProcesses(const std::string& netns) {
  for (int signal_number : {SIGTERM, SIGKILL}) {
    auto pids = runProcess({"ip", "netns", "pids", netns}, "");
    if (!pids.ok() || pids.value().out.empty()) return;
    std::istringstream in(pids.value().out);
    pid_t pid;
    while (in >> pid) ::kill(pid, signal_number);
    if (signal_number == SIGTERM) {
      // Up to 3 s for them to go, checked every 50 ms.
      for (int i = 0; i < 60; ++i) {
        auto left = runProcess({"ip", "netns", "pids", netns}, "");
        if (!left.ok() || left.value().out.empty()) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }
}

void removeNamespace(const std::string& netns) {
  if (!std::filesystem::exists(std::string("/run/netns/") + netns)) return;
  killNamespaceProcesses(netns);
  (void)runProcess({"ip", "netns", "del", netns}, "");
}

// Host directories the mesh created as bind targets (/etc/<top> for a pod's /etc/<top>/... mount),
// removed on teardown when empty again.
std::string createdDirsPath() { return std::string(kMeshRunDir) + "/created-dirs"; }

Status createPodMounts(const MeshPod& pod) {
  namespace fs = std::filesystem;
  for (const auto& mount : pod.mounts) {
    const std::string relative = mount.mount_path.substr(std::string("/etc/").size());
    const std::string top = relative.substr(0, relative.find('/'));
    // `ip netns exec` binds /etc/netns/<pod>/<top> over /etc/<top>, which must exist.
    const fs::path target = fs::path("/etc") / top;
    std::error_code ec;
    if (!fs::exists(target)) {
      fs::create_directories(target, ec);
      if (ec)
        return Status::error(fmt::format("cannot create {}: {}", target.string(), ec.message()));
      std::ofstream(createdDirsPath(), std::ios::app) << target.string() << "\n";
    }
    const fs::path dir = fs::path("/etc/netns") / pod.name / relative;
    fs::create_directories(dir, ec);
    if (ec) return Status::error(fmt::format("cannot create {}: {}", dir.string(), ec.message()));
    // An emptyDir is writable by every container, whatever its uid.
    fs::permissions(dir, fs::perms::all, ec);
    for (const auto& [name, content] : mount.files) {
      RETURN_IF_ERROR(writeFile((dir / name).string(), content));
    }
  }
  return {};
}

}  // namespace

std::string meshRecordPath() { return std::string(kMeshRunDir) + "/pods"; }

Status writeMeshRecord(const MeshPlan& plan) {
  std::string record;
  for (const auto& pod : plan.pods) record += fmt::format("{} {} {}\n", pod.name, pod.ip, pod.veth);
  return writeFile(meshRecordPath(), record);
}

std::vector<std::string> readMeshRecordPods() {
  std::vector<std::string> pods;
  std::ifstream in(meshRecordPath());
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name;
    if (fields >> name) pods.push_back(name);
  }
  return pods;
}

Status createMeshNetwork(const MeshPlan& plan) {
  const std::string node = kMeshNodeNamespace;
  RETURN_IF_ERROR(run({"ip", "netns", "add", node}));
  RETURN_IF_ERROR(run({"ip", "-n", node, "link", "set", "lo", "up"}));
  RETURN_IF_ERROR(run({"ip", "-n", node, "link", "add", kMeshBridge, "type", "bridge"}));
  RETURN_IF_ERROR(run({"ip", "-n", node, "addr", "add", std::string(kMeshBridgeAddress) + "/16",
                       "dev", kMeshBridge}));
  RETURN_IF_ERROR(run({"ip", "-n", node, "link", "set", kMeshBridge, "up"}));
  if (!std::filesystem::exists("/etc/netns")) {
    std::ofstream(createdDirsPath(), std::ios::app) << "/etc/netns\n";
  }
  for (const auto& pod : plan.pods) {
    RETURN_IF_ERROR(run({"ip", "netns", "add", pod.name}));
    RETURN_IF_ERROR(run({"ip", "-n", pod.name, "link", "set", "lo", "up"}));
    // The pair is made in the node namespace, its far end moved into the pod as eth0.
    RETURN_IF_ERROR(run({"ip", "-n", node, "link", "add", pod.veth, "type", "veth", "peer", "name",
                         "eth0", "netns", pod.name}));
    RETURN_IF_ERROR(run({"ip", "-n", node, "link", "set", pod.veth, "master", kMeshBridge, "up"}));
    RETURN_IF_ERROR(run({"ip", "-n", pod.name, "addr", "add", pod.ip + "/16", "dev", "eth0"}));
    RETURN_IF_ERROR(run({"ip", "-n", pod.name, "link", "set", "eth0", "up"}));
    RETURN_IF_ERROR(
        run({"ip", "-n", pod.name, "route", "add", "default", "via", kMeshBridgeAddress}));
    RETURN_IF_ERROR(writeFile("/etc/netns/" + pod.name + "/hosts", plan.hostsFor(pod)));
    // Names come from the hosts file; a pod has no route to the machine's DNS servers, so point
    // the resolver at a closed local port that fails at once instead of timing out.
    RETURN_IF_ERROR(writeFile("/etc/netns/" + pod.name + "/resolv.conf",
                              "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"));
    RETURN_IF_ERROR(createPodMounts(pod));
  }
  return {};
}

void teardownMesh() {
  for (const auto& pod : readMeshRecordPods()) {
    removeNamespace(pod);
    std::error_code ec;
    std::filesystem::remove_all("/etc/netns/" + pod, ec);
  }
  removeNamespace(kMeshNodeNamespace);  // takes the bridge and the veths' node ends with it
  std::error_code ec;
  std::ifstream created(createdDirsPath());
  for (std::string dir; std::getline(created, dir);) {
    if (dir.starts_with("/etc/") && std::filesystem::is_empty(dir, ec))
      std::filesystem::remove(dir, ec);
  }
  std::filesystem::remove_all(kMeshRunDir, ec);
}

std::vector<std::string> inNamespace(const std::string& netns, const std::vector<std::string>& argv,
                                     int uid, int gid) {
  std::vector<std::string> full = {"ip", "netns", "exec", netns};
  if (uid >= 0) {
    full.insert(full.end(),
                {"setpriv", fmt::format("--reuid={}", uid),
                 fmt::format("--regid={}", gid >= 0 ? gid : uid), "--clear-groups", "--"});
  }
  full.insert(full.end(), argv.begin(), argv.end());
  return full;
}

bool probeHttpInNamespace(const std::string& netns, uint32_t port, const std::string& path) {
  return httpGet("127.0.0.1", static_cast<uint16_t>(port), path, netns, 1000).ok();
}

}  // namespace remora::remoractl
