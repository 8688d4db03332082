#include "remoractl/mesh_lifecycle.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "remoractl/file_io.h"
#include "remoractl/http_get.h"
#include "remoractl/mesh_network.h"
#include "remoractl/mesh_supervisor.h"
#include "remoractl/proxy_status.h"

namespace remora::remoractl {

namespace fs = std::filesystem;

std::string selfPath() {
  std::error_code ec;
  const auto self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "remoractl" : self.string();
}

std::string configDir() { return std::string(kMeshRunDir) + "/config"; }
namespace {
std::string sourcePath() { return std::string(kMeshRunDir) + "/source"; }

// The manifests of DIR (its *.yaml, *.yml and *.json, not its subdirectories, as kubectl apply
// -f DIR), or of one file.
}  // namespace

StatusOr<std::vector<ManifestFile>> readManifests(const std::string& path) {
  std::vector<ManifestFile> files;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    auto text = readInput(path);
    if (!text.ok()) return text.status();
    files.push_back({path, std::move(text).value()});
    return files;
  }
  std::vector<fs::path> paths;
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    const auto ext = entry.path().extension();
    if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
      paths.push_back(entry.path());
    }
  }
  if (ec) return Status::error(fmt::format("cannot read {}: {}", path, ec.message()));
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) {
    auto text = readInput(p.string());
    if (!text.ok()) return text.status();
    files.push_back({p.filename().string(), std::move(text).value()});
  }
  if (files.empty())
    return Status::error(fmt::format("{}: no manifests (*.yaml, *.yml, *.json)", path));
  return files;
}

namespace {
// Writes aside and renames, so remora-pilot never reads half a file.
Status writeConfigFile(const std::string& name, const std::string& text) {
  const std::string path = configDir() + "/" + name;
  RETURN_IF_ERROR(writeFile(path + ".tmp", text));
  std::error_code ec;
  fs::rename(path + ".tmp", path, ec);
  if (ec) return Status::error(fmt::format("cannot write {}: {}", path, ec.message()));
  return {};
}

}  // namespace

StatusOr<std::string> pilotSyncz(const std::string& address) {
  if (address.empty()) {
    return httpGet(kMeshBridgeAddress, 15014, "/debug/syncz", kMeshNodeNamespace, 2000);
  }
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return Status::error("expected IPv4:port, got " + address);
  return httpGet(address.substr(0, colon),
                 static_cast<uint16_t>(std::stoul(address.substr(colon + 1))), "/debug/syncz");
}

std::vector<PodStatus> readStatus() {
  std::vector<PodStatus> pods;
  std::ifstream in(meshStatusPath());
  if (!in) return pods;
  std::stringstream text;
  text << in.rdbuf();
  try {
    for (const auto& pod : YAML::Load(text.str())) {
      PodStatus status{pod["name"].Scalar(), pod["ip"].Scalar(), pod["phase"].Scalar(),
                       pod["restarts"].as<int>()};
      for (const auto& c : pod["containers"]) {
        if (c["name"].Scalar() == "istio-proxy") status.sidecar_ready = c["ready"].as<bool>();
      }
      pods.push_back(status);
    }
  } catch (const YAML::Exception&) {
  }
  return pods;
}

void addSyncState(std::vector<PodStatus>& pods) {
  auto syncz = pilotSyncz();
  if (!syncz.ok()) return;
  auto proxies = parseSyncz(syncz.value());
  if (!proxies.ok()) return;
  for (auto& pod : pods) {
    for (const auto& proxy : proxies.value()) {
      if (proxy.pod == pod.name) pod.sync = proxy.overall();
    }
  }
}

void printStatus(const std::vector<PodStatus>& pods, std::ostream& out) {
  out << fmt::format("{:<28} {:<15} {:<11} {:>8}  {:<10} {}\n", "NAME", "IP", "PHASE", "RESTARTS",
                     "SIDECAR", "SYNC");
  for (const auto& pod : pods) {
    out << fmt::format("{:<28} {:<15} {:<11} {:>8}  {:<10} {}\n", pod.name, pod.ip, pod.phase,
                       pod.restarts, pod.sidecar_ready ? "ready" : "not ready", pod.sync);
  }
}

bool supervisorAlive(pid_t* pid_out) {
  std::ifstream in(meshSupervisorPidPath());
  pid_t pid = 0;
  if (!(in >> pid) || pid <= 0) return false;
  if (pid_out != nullptr) *pid_out = pid;
  return ::kill(pid, 0) == 0;
}

int bringUp(const std::vector<ManifestFile>& manifests, const std::string& source,
            std::string pilot, int wait_seconds, std::ostream& out, std::ostream& err) {
  if (fs::exists(kMeshRunDir)) {
    err << "remoractl mesh up: a mesh is already up (" << kMeshRunDir
        << " exists); run `remoractl mesh down` first\n";
    return 1;
  }
  MeshPlanOptions plan_options;
  plan_options.remoractl = selfPath();
  auto plan = planMesh(manifests, plan_options);
  if (!plan.ok()) {
    err << "remoractl mesh up: " << plan.status().message() << "\n";
    return 1;
  }
  if (pilot.empty()) {
    const auto sibling = fs::path(selfPath()).parent_path() / "remora-pilot";
    pilot = access(sibling.c_str(), X_OK) == 0 ? sibling.string() : "none";
  }
  // The record first: whatever happens next, `mesh down` knows what to remove.
  Status setup = writeMeshRecord(plan.value());
  if (setup.ok()) setup = writeFile(sourcePath(), source + "\n");
  for (const auto& [name, text] : plan.value().config_files) {
    if (setup.ok()) setup = writeConfigFile(name, text);
  }
  if (setup.ok()) setup = createMeshNetwork(plan.value());
  if (!setup.ok()) {
    teardownMesh();
    err << "remoractl mesh up: " << setup.message() << "\n";
    return 1;
  }
  out.flush();
  const pid_t daemon = fork();
  if (daemon < 0) {
    teardownMesh();
    err << "remoractl mesh up: fork failed\n";
    return 1;
  }
  if (daemon == 0) {
    setsid();
    fs::create_directories(std::string(kMeshRunDir) + "/logs");
    const std::string log = std::string(kMeshRunDir) + "/logs/supervisor.log";
    freopen("/dev/null", "r", stdin);
    freopen(log.c_str(), "a", stdout);
    freopen(log.c_str(), "a", stderr);
    (void)writeFile(meshSupervisorPidPath(), std::to_string(getpid()) + "\n");
    MeshSupervisorOptions options{source, pilot == "none" ? "" : pilot, configDir()};
    _exit(runMeshSupervisor(plan.value(), options));
  }
  // Wait for every pod to run (or a Job's to finish), showing where things stand at the end.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
  std::vector<PodStatus> pods;
  bool settled = false;
  while (std::chrono::steady_clock::now() < deadline) {
    pods = readStatus();
    settled = pods.size() == plan.value().pods.size() &&
              std::all_of(pods.begin(), pods.end(), [](const PodStatus& p) {
                return p.phase == "Running" || p.phase == "Succeeded";
              });
    if (settled || waitpid(daemon, nullptr, WNOHANG) == daemon) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  addSyncState(pods);
  printStatus(pods, out);
  if (!settled) {
    err << "remoractl mesh up: not every pod is running after " << wait_seconds << "s; logs are in "
        << kMeshRunDir << "/logs (the mesh stays up: `remoractl mesh down` removes it)\n";
    return 1;
  }
  return 0;
}

void bringDown() {
  pid_t pid = 0;
  if (supervisorAlive(&pid)) {
    ::kill(pid, SIGTERM);  // it stops the pods and tears down itself
    for (int i = 0; i < 600 && ::kill(pid, 0) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (::kill(pid, 0) == 0) ::kill(pid, SIGKILL);
  }
  teardownMesh();  // whatever a crashed or interrupted run left
}

int applyManifests(const ManifestFile& file, std::ostream& out, std::ostream& err) {
  std::map<std::string, std::string> current;
  for (const auto& entry : fs::directory_iterator(configDir())) {
    if (entry.path().extension() != ".yaml") continue;
    auto content = readInput(entry.path().string());
    if (content.ok()) current[entry.path().filename().string()] = content.value();
  }
  auto writes = planApply(file, current);
  if (!writes.ok()) {
    err << "remoractl mesh apply: " << writes.status().message() << "\n";
    return 1;
  }
  for (const auto& object : writes.value()) {
    if (Status s = writeConfigFile(object.file, object.text); !s.ok()) {
      err << "remoractl mesh apply: " << s.message() << "\n";
      return 1;
    }
    std::string kind = object.kind;
    std::transform(kind.begin(), kind.end(), kind.begin(), ::tolower);
    out << kind << "/" << object.name
        << (current.contains(object.file) ? " configured" : " created") << "\n";
  }
  return 0;
}

}  // namespace remora::remoractl
