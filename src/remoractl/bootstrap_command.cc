// `remoractl bootstrap` writes a sidecar's Envoy bootstrap; `remoractl sidecar` writes it and runs
// remora with it (pilot-agent's role), passing signals through.
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "config/bootstrap_loader.h"
#include "remoractl/bootstrap_builder.h"
#include "remoractl/command.h"
#include "remoractl/file_io.h"
#include "remoractl/flags.h"
#include "remoractl/process.h"

namespace remora::remoractl {
namespace {

constexpr const char* kBootstrapSummary =
    "Write a sidecar's Envoy v3 bootstrap (YAML): node identity and metadata from the pod facts\n"
    "(flags, or the env vars injection sets: POD_NAME, POD_NAMESPACE, INSTANCE_IP,\n"
    "SERVICE_ACCOUNT), admin on 127.0.0.1, ADS to the discovery address unless it is 'none',\n"
    "the --static file's listeners and clusters, /healthz/ready on the health port (200 only\n"
    "while the proxy is ready) and /stats/prometheus on the Prometheus port.";

constexpr const char* kSidecarSummary =
    "Write the sidecar bootstrap (as `remoractl bootstrap`) to --config-path and run remora with\n"
    "it; SIGTERM, SIGINT and SIGHUP are passed to remora, and remoractl exits with its status.\n"
    "Arguments after `--` are passed to remora.";

std::string envOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : std::move(fallback);
}

// Flags shared by `bootstrap` and `sidecar`, as strings until build().
struct BootstrapFlags {
  SidecarBootstrapOptions options;
  std::string labels, static_file;
  std::string admin_port = "15000", health_port = "15021", prometheus_port = "15090";

  void add(FlagSet& flags) {
    options.pod_name = envOr("POD_NAME", "");
    options.pod_namespace = envOr("POD_NAMESPACE", options.pod_namespace);
    options.instance_ip = envOr("INSTANCE_IP", "");
    options.service_account = envOr("SERVICE_ACCOUNT", options.service_account);
    flags.addString("pod-name", 0, &options.pod_name, "the pod's name (env POD_NAME)");
    flags.addString("pod-namespace", 0, &options.pod_namespace,
                    "the pod's namespace (env POD_NAMESPACE)");
    flags.addString("instance-ip", 0, &options.instance_ip,
                    "the pod's IP(s), comma-separated (env INSTANCE_IP)");
    flags.addString("service-account", 0, &options.service_account,
                    "the pod's service account (env SERVICE_ACCOUNT)");
    flags.addString("labels", 0, &labels, "the pod's labels, key=value,... (node metadata LABELS)");
    flags.addString("workload-name", 0, &options.workload_name,
                    "the workload (deployment) name (default: the pod name)");
    flags.addString("interception-mode", 0, &options.interception_mode,
                    "node metadata INTERCEPTION_MODE");
    flags.addString("discovery-address", 0, &options.discovery_address,
                    "ADS server host:port, or 'none' for no dynamic resources");
    flags.addString(
        "static", 0, &static_file,
        "a bootstrap file (YAML/JSON) whose static listeners and clusters are merged in");
    flags.addString("listen-address", 0, &options.listen_address,
                    "address of the health and Prometheus listeners");
    flags.addString("admin-port", 0, &admin_port, "admin port (on 127.0.0.1)");
    flags.addString("health-port", 0, &health_port, "port serving /healthz/ready");
    flags.addString("prometheus-port", 0, &prometheus_port, "port serving /stats/prometheus");
  }

  StatusOr<std::string> build() {
    for (auto [flag, text, target] :
         {std::tuple{"--admin-port", &admin_port, &options.admin_port},
          {"--health-port", &health_port, &options.health_port},
          {"--prometheus-port", &prometheus_port, &options.prometheus_port}}) {
      auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), *target);
      if (ec != std::errc() || end != text->data() + text->size()) {
        return Status::error(fmt::format("{}: not a port: '{}'", flag, *text));
      }
    }
    auto parsed_labels = parseLabels(labels);
    if (!parsed_labels.ok()) return parsed_labels.status();
    options.labels = parsed_labels.value();
    auto bootstrap = buildSidecarBootstrap(options);
    if (!bootstrap.ok()) return bootstrap.status();
    if (!static_file.empty()) {
      std::ifstream in(static_file);
      if (!in) return Status::error(fmt::format("--static: cannot read {}", static_file));
      const std::string text((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
      const bool json = static_file.ends_with(".json");
      auto extra = json ? config::bootstrapFromJson(text) : config::bootstrapFromYaml(text);
      if (!extra.ok()) return extra.status().withPrefix("--static " + static_file);
      RETURN_IF_ERROR(mergeStaticResources(bootstrap.value(), extra.value()));
    }
    return bootstrapToYaml(bootstrap.value());
  }
};

int runBootstrap(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  BootstrapFlags bootstrap_flags;
  std::string output = "-";
  FlagSet flags("bootstrap");
  bootstrap_flags.add(flags);
  flags.addString("output", 'o', &output, "where to write the bootstrap ('-': stdout)");
  if (Status s = flags.parse(args); !s.ok()) {
    err << "remoractl " << s.message() << "\n";
    return kUsageError;
  }
  if (flags.helpRequested()) {
    out << flags.usage(kBootstrapSummary);
    return 0;
  }
  return writeResult(bootstrap_flags.build(), output, "bootstrap", out, err);
}

// remora next to this binary (build/bin), else in PATH.
std::string defaultRemoraBinary() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto sibling = self.parent_path() / "remora";
    if (access(sibling.c_str(), X_OK) == 0) return sibling.string();
  }
  return findInPath("remora");
}

// Runs argv as a child and waits for it, forwarding termination signals to it. The signals are
// blocked before the fork and taken synchronously with sigwaitinfo, so none is lost between the
// fork and the wait; the child gets the default mask back before exec.
int superviseChild(const std::vector<std::string>& argv, std::ostream& err) {
  sigset_t forwarded, previous;
  sigemptyset(&forwarded);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&forwarded, sig);
  sigprocmask(SIG_BLOCK, &forwarded, &previous);
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t child = fork();
  if (child < 0) {
    err << "remoractl sidecar: fork: " << std::strerror(errno) << "\n";
    sigprocmask(SIG_SETMASK, &previous, nullptr);
    return 1;
  }
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &previous, nullptr);
    execv(args[0], args.data());
    fmt::print(stderr, "remoractl sidecar: exec {}: {}\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  for (;;) {
    siginfo_t info;
    const int sig = sigwaitinfo(&forwarded, &info);
    if (sig < 0) continue;  // EINTR
    if (sig != SIGCHLD) {
      kill(child, sig);
      continue;
    }
    int status = 0;
    const pid_t done = waitpid(child, &status, WNOHANG);
    if (done == child && (WIFEXITED(status) || WIFSIGNALED(status))) {
      sigprocmask(SIG_SETMASK, &previous, nullptr);
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
  }
}

int runSidecar(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  BootstrapFlags bootstrap_flags;
  std::string config_path = "/etc/remora/proxy/envoy-rev.yaml";
  std::string remora = defaultRemoraBinary();
  FlagSet flags("sidecar");
  bootstrap_flags.add(flags);
  flags.addString("config-path", 0, &config_path, "where the bootstrap is written");
  flags.addString("remora", 0, &remora, "the remora binary");
  if (Status s = flags.parse(args, /*allow_rest=*/true); !s.ok()) {
    err << "remoractl " << s.message() << "\n";
    return kUsageError;
  }
  if (flags.helpRequested()) {
    out << flags.usage(kSidecarSummary);
    return 0;
  }
  auto yaml = bootstrap_flags.build();
  if (!yaml.ok()) {
    err << "remoractl sidecar: " << yaml.status().message() << "\n";
    return 1;
  }
  if (remora.empty() || access(remora.c_str(), X_OK) != 0) {
    err << "remoractl sidecar: the remora binary was not found (--remora PATH)\n";
    return 1;
  }
  if (Status s = writeFile(config_path, yaml.value()); !s.ok()) {
    err << "remoractl sidecar: " << s.message() << "\n";
    return 1;
  }
  std::vector<std::string> argv = {remora, "-c", config_path};
  argv.insert(argv.end(), flags.rest().begin(), flags.rest().end());
  out.flush();
  return superviseChild(argv, err);
}

const RegisterCommand kRegisterBootstrap{
    {"bootstrap", "write a sidecar's Envoy bootstrap (pilot-agent's role)", &runBootstrap}};
const RegisterCommand kRegisterSidecar{
    {"sidecar", "write the sidecar bootstrap and run remora with it", &runSidecar}};

}  // namespace
}  // namespace remora::remoractl
