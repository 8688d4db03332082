#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "remoractl/command.h"
#include "remoractl/file_io.h"
#include "remoractl/flags.h"
#include "remoractl/mesh_network.h"
#include "remoractl/mesh_plan.h"
#include "remoractl/mesh_supervisor.h"

namespace remora::remoractl {
namespace {

namespace fs = std::filesystem;

constexpr char kMeshSummary[] =
    "a whole mesh on this machine: pods as network namespaces, each with its sidecar and capture "
    "rules, configured by remora-pilot (up, down, status, exec, apply)";

std::string selfPath() {
  std::error_code ec;
  const auto self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "remoractl" : self.string();
}

std::string configDir() { return std::string(kMeshRunDir) + "/config"; }
std::string sourcePath() { return std::string(kMeshRunDir) + "/source"; }

// The manifests of DIR (its *.yaml, *.yml and *.json, not its subdirectories, as kubectl apply
// -f DIR), or of one file.
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

// Writes aside and renames, so remora-pilot never reads half a file.
Status writeConfigFile(const std::string& name, const std::string& text) {
  const std::string path = configDir() + "/" + name;
  RETURN_IF_ERROR(writeFile(path + ".tmp", text));
  std::error_code ec;
  fs::rename(path + ".tmp", path, ec);
  if (ec) return Status::error(fmt::format("cannot write {}: {}", path, ec.message()));
  return {};
}

struct PodStatus {
  std::string name, ip, phase;
  int restarts = 0;
  bool sidecar_ready = false;
};

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

void printStatus(const std::vector<PodStatus>& pods, std::ostream& out) {
  out << fmt::format("{:<28} {:<15} {:<11} {:>8}  {}\n", "NAME", "IP", "PHASE", "RESTARTS",
                     "SIDECAR");
  for (const auto& pod : pods) {
    out << fmt::format("{:<28} {:<15} {:<11} {:>8}  {}\n", pod.name, pod.ip, pod.phase,
                       pod.restarts, pod.sidecar_ready ? "ready" : "not ready");
  }
}

bool supervisorAlive(pid_t* pid_out = nullptr) {
  std::ifstream in(meshSupervisorPidPath());
  pid_t pid = 0;
  if (!(in >> pid) || pid <= 0) return false;
  if (pid_out != nullptr) *pid_out = pid;
  return ::kill(pid, 0) == 0;
}

int requireRoot(const std::string& what, std::ostream& err) {
  if (geteuid() == 0) return 0;
  err << "remoractl mesh " << what << ": must run as root (network namespaces, iptables)\n";
  return 1;
}

int meshUp(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string dir, pilot, wait = "120";
  FlagSet flags("mesh up");
  flags.addString("filename", 'f', &dir, "a directory of manifests (or one file)");
  flags.addString("pilot", 0, &pilot,
                  "remora-pilot to run in the node namespace (default: the one next to "
                  "remoractl; 'none': run none)");
  flags.addString("wait", 0, &wait, "seconds to wait for every pod to be running");
  if (Status s = flags.parse(args); !s.ok()) {
    err << "remoractl " << s.message() << "\n";
    return kUsageError;
  }
  if (flags.helpRequested()) {
    out << flags.usage("bring a mesh up from a directory of Kubernetes manifests");
    return 0;
  }
  if (dir.empty()) {
    err << "remoractl mesh up: -f DIR is required\n";
    return kUsageError;
  }
  if (int rc = requireRoot("up", err)) return rc;
  if (fs::exists(kMeshRunDir)) {
    err << "remoractl mesh up: a mesh is already up (" << kMeshRunDir
        << " exists); run `remoractl mesh down` first\n";
    return 1;
  }
  auto manifests = readManifests(dir);
  if (!manifests.ok()) {
    err << "remoractl mesh up: " << manifests.status().message() << "\n";
    return 1;
  }
  MeshPlanOptions plan_options;
  plan_options.remoractl = selfPath();
  auto plan = planMesh(manifests.value(), plan_options);
  if (!plan.ok()) {
    err << "remoractl mesh up: " << plan.status().message() << "\n";
    return 1;
  }
  if (pilot.empty()) {
    const auto sibling = fs::path(selfPath()).parent_path() / "remora-pilot";
    pilot = access(sibling.c_str(), X_OK) == 0 ? sibling.string() : "none";
  }
  const std::string source =
      fs::absolute(fs::is_directory(dir) ? fs::path(dir) : fs::path(dir).parent_path()).string();
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
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(std::stoi(wait));
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
  printStatus(pods, out);
  if (!settled) {
    err << "remoractl mesh up: not every pod is running after " << wait << "s; logs are in "
        << kMeshRunDir << "/logs (the mesh stays up: `remoractl mesh down` removes it)\n";
    return 1;
  }
  return 0;
}

int meshDown(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  FlagSet flags("mesh down");
  if (Status s = flags.parse(args); !s.ok()) {
    err << "remoractl " << s.message() << "\n";
    return kUsageError;
  }
  if (flags.helpRequested()) {
    out << flags.usage("stop every pod and remove the mesh's namespaces, files and processes");
    return 0;
  }
  if (int rc = requireRoot("down", err)) return rc;
  pid_t pid = 0;
  if (supervisorAlive(&pid)) {
    ::kill(pid, SIGTERM);  // it stops the pods and tears down itself
    for (int i = 0; i < 600 && ::kill(pid, 0) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (::kill(pid, 0) == 0) ::kill(pid, SIGKILL);
  }
  teardownMesh();  // whatever a crashed or interrupted run left
  out << "mesh down\n";
  return 0;
}

int meshStatus(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string output;
  FlagSet flags("mesh status");
  flags.addString("output", 'o', &output, "'json': the supervisor's record as it is");
  if (Status s = flags.parse(args); !s.ok()) {
    err << "remoractl " << s.message() << "\n";
    return kUsageError;
  }
  if (flags.helpRequested()) {
    out << flags.usage("list the mesh's pods: IP, phase, restarts, sidecar readiness");
    return 0;
  }
  if (!fs::exists(kMeshRunDir)) {
    err << "remoractl mesh status: no mesh is up\n";
    return 1;
  }
  if (output == "json") {
    auto text = readInput(meshStatusPath());
    out << (text.ok() ? text.value() : "[]\n");
    return 0;
  }
  printStatus(readStatus(), out);
  if (!supervisorAlive()) err << "remoractl mesh status: the supervisor is not running\n";
  return 0;
}

int meshExec(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  FlagSet flags("mesh exec");
  if (Status s = flags.parse(args, /*allow_rest=*/true); !s.ok() && args.empty()) {
    err << "remoractl " << s.message() << "\n";
    return kUsageError;
  }
  // `mesh exec POD -- CMD...`
  auto dashes = std::find(args.begin(), args.end(), "--");
  if (args.empty() || args[0] == "--" || dashes == args.end() || dashes + 1 == args.end() ||
      dashes != args.begin() + 1) {
    err << "remoractl mesh exec: usage: remoractl mesh exec POD -- COMMAND [ARGS...]\n";
    return kUsageError;
  }
  const std::string& pod = args[0];
  const auto pods = readMeshRecordPods();
  if (std::find(pods.begin(), pods.end(), pod) == pods.end()) {
    err << "remoractl mesh exec: no pod " << pod << " in the mesh\n";
    return 1;
  }
  if (int rc = requireRoot("exec", err)) return rc;
  auto argv = inNamespace(pod, std::vector<std::string>(dashes + 1, args.end()));
  std::vector<char*> raw;
  for (auto& arg : argv) raw.push_back(arg.data());
  raw.push_back(nullptr);
  out.flush();
  execvp(raw[0], raw.data());
  err << "remoractl mesh exec: cannot run ip: " << std::strerror(errno) << "\n";
  return 1;
}

int meshApply(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string file;
  FlagSet flags("mesh apply");
  flags.addString("filename", 'f', &file, "manifests to apply ('-': stdin)");
  if (Status s = flags.parse(args); !s.ok()) {
    err << "remoractl " << s.message() << "\n";
    return kUsageError;
  }
  if (flags.helpRequested()) {
    out << flags.usage("apply Services, Istio rules and other objects to the running mesh");
    return 0;
  }
  if (file.empty()) {
    err << "remoractl mesh apply: -f FILE is required\n";
    return kUsageError;
  }
  if (!fs::exists(configDir())) {
    err << "remoractl mesh apply: no mesh is up\n";
    return 1;
  }
  auto text = readInput(file);
  if (!text.ok()) {
    err << "remoractl mesh apply: " << text.status().message() << "\n";
    return 1;
  }
  std::map<std::string, std::string> current;
  for (const auto& entry : fs::directory_iterator(configDir())) {
    if (entry.path().extension() != ".yaml") continue;
    auto content = readInput(entry.path().string());
    if (content.ok()) current[entry.path().filename().string()] = content.value();
  }
  auto writes = planApply({file, text.value()}, current);
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

int runMesh(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  static const std::map<std::string,
                        int (*)(const std::vector<std::string>&, std::ostream&, std::ostream&)>
      kSubcommands = {{"up", &meshUp},
                      {"down", &meshDown},
                      {"status", &meshStatus},
                      {"exec", &meshExec},
                      {"apply", &meshApply}};
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    out << "Usage: remoractl mesh <up|down|status|exec|apply> [flags]\n\n" << kMeshSummary << "\n";
    return args.empty() ? kUsageError : 0;
  }
  auto it = kSubcommands.find(args[0]);
  if (it == kSubcommands.end()) {
    err << "remoractl mesh: unknown subcommand '" << args[0] << "'\n";
    return kUsageError;
  }
  return it->second(std::vector<std::string>(args.begin() + 1, args.end()), out, err);
}

const RegisterCommand kRegisterMesh{{"mesh", kMeshSummary, &runMesh}};

}  // namespace
}  // namespace remora::remoractl
