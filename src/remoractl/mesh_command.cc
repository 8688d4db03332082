#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "remoractl/command.h"
#include "remoractl/file_io.h"
#include "remoractl/flags.h"
#include "remoractl/mesh_demo.h"
#include "remoractl/mesh_lifecycle.h"
#include "remoractl/mesh_network.h"
#include "remoractl/mesh_plan.h"
#include "remoractl/mesh_supervisor.h"

namespace remora::remoractl {
namespace {

namespace fs = std::filesystem;

constexpr char kMeshSummary[] =
    "a whole mesh on this machine: pods as network namespaces, each with its sidecar and capture "
    "rules, configured by remora-pilot (up, down, status, exec, apply)";

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
  const std::string source =
      fs::absolute(fs::is_directory(dir) ? fs::path(dir) : fs::path(dir).parent_path()).string();
  return bringUp(manifests.value(), source, pilot, std::stoi(wait), out, err);
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
  bringDown();
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
    out << flags.usage(
        "list the mesh's pods: IP, phase, restarts, sidecar readiness and xDS sync state");
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
  auto pods = readStatus();
  addSyncState(pods);
  printStatus(pods, out);
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
  return applyManifests({file, text.value()}, out, err);
}

int runMesh(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  static const std::map<std::string,
                        int (*)(const std::vector<std::string>&, std::ostream&, std::ostream&)>
      kSubcommands = {{"up", &meshUp},     {"down", &meshDown},   {"status", &meshStatus},
                      {"exec", &meshExec}, {"apply", &meshApply}, {"demo", &runMeshDemo}};
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    out << "Usage: remoractl mesh <up|down|status|exec|apply|demo> [flags]\n\n"
        << kMeshSummary << "\n";
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
