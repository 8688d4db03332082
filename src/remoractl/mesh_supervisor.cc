#include "remoractl/mesh_supervisor.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>

#include "common/json_string.h"
#include "remoractl/file_io.h"
#include "remoractl/mesh_network.h"

namespace remora::remoractl {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr seconds kFirstBackOff{10};
constexpr seconds kMaxBackOff{300};
constexpr milliseconds kTick{200};
constexpr milliseconds kProbePeriod{1000};
constexpr seconds kStopGrace{10};

// One process the supervisor runs: a container, or remora-pilot.
struct Process {
  std::string name;
  std::vector<std::string> argv;  // already wrapped in `ip netns exec`
  std::vector<std::pair<std::string, std::string>> env;
  std::string log_path;
  pid_t pid = -1;
  int restarts = 0;
  int last_exit = 0;
  bool exited = false;  // ran and exited (for init containers and completed applications)
  Clock::time_point next_start = Clock::time_point::min();
  seconds back_off = kFirstBackOff;

  bool running() const { return pid > 0; }
  void scheduleRestart() {
    ++restarts;
    next_start = Clock::now() + back_off;
    back_off = std::min(back_off * 2, kMaxBackOff);
  }
};

struct ContainerRun {
  const MeshContainer* spec;
  Process process;
  bool sidecar = false;  // has a readiness probe and starts before the applications
  bool ready = false;
  bool stop_sent = false;  // a completed job's sidecar was told to drain
  Clock::time_point next_probe = Clock::time_point::min();
};

struct PodRun {
  const MeshPod* pod;
  std::vector<ContainerRun> init;
  std::vector<ContainerRun> containers;
  size_t next_init = 0;
  std::string phase = "Pending";

  int restarts() const {
    int total = 0;
    for (const auto* list : {&init, &containers}) {
      for (const auto& c : *list) total += c.process.restarts;
    }
    return total;
  }
};

std::string logPath(const std::string& pod, const std::string& container) {
  return fmt::format("{}/logs/{}.{}.log", kMeshRunDir, pod, container);
}

pid_t start(Process& p, const std::string& cwd) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  // Child: its own process group (stopped as a whole), the log as stdout and stderr, default
  // signal handling, the container's environment.
  setpgid(0, 0);
  const int log = open(p.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null >= 0) dup2(null, 0);
  if (log >= 0) {
    dup2(log, 1);
    dup2(log, 2);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
  clearenv();
  setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
  setenv("HOME", "/tmp", 1);
  for (const auto& [name, value] : p.env) setenv(name.c_str(), value.c_str(), 1);
  std::vector<char*> args;
  for (const auto& arg : p.argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  _exit(127);
}

class Supervisor {
 public:
  Supervisor(const MeshPlan& plan, const MeshSupervisorOptions& options) : options_(options) {
    for (const auto& pod : plan.pods) {
      PodRun run{&pod};
      for (const auto& c : pod.init_containers) run.init.push_back(containerRun(pod, c));
      for (const auto& c : pod.containers) run.containers.push_back(containerRun(pod, c));
      pods_.push_back(std::move(run));
    }
    if (!options_.pilot_binary.empty()) {
      pilot_ = Process{"remora-pilot",
                       inNamespace(kMeshNodeNamespace,
                                   {options_.pilot_binary, "--config-dir", options_.config_dir})};
      pilot_->log_path = fmt::format("{}/logs/remora-pilot.log", kMeshRunDir);
    }
  }

  int run() {
    sigset_t signals;
    sigemptyset(&signals);
    for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, s);
    sigprocmask(SIG_BLOCK, &signals, nullptr);
    while (!stopping_) {
      tick();
      timespec timeout{0, std::chrono::duration_cast<std::chrono::nanoseconds>(kTick).count()};
      siginfo_t info;
      const int sig = sigtimedwait(&signals, &info, &timeout);
      if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) stopping_ = true;
      reap();
    }
    stopAll();
    teardownMesh();
    return 0;
  }

 private:
  ContainerRun containerRun(const MeshPod& pod, const MeshContainer& c) {
    ContainerRun run{&c};
    const int uid = c.run_as_user ? static_cast<int>(*c.run_as_user) : -1;
    const int gid = c.run_as_group ? static_cast<int>(*c.run_as_group) : uid;
    // Root needs no setpriv; anything else drops to its ids inside the namespace.
    run.process.name = c.name;
    run.process.argv = inNamespace(pod.name, c.argv, uid > 0 ? uid : -1, uid > 0 ? gid : -1);
    run.process.env = c.env;
    run.process.log_path = logPath(pod.name, c.name);
    run.sidecar = c.readiness_port != 0;
    return run;
  }

  void tick() {
    const auto now = Clock::now();
    if (pilot_ && !pilot_->running() && now >= pilot_->next_start) launch(*pilot_);
    for (auto& pod : pods_) advance(pod, now);
    writeStatus();
  }

  void advance(PodRun& pod, Clock::time_point now) {
    if (pod.phase == "Succeeded" || pod.phase == "Failed") return;
    // Init containers, one at a time, each to success.
    if (pod.next_init < pod.init.size()) {
      pod.phase = "Init";
      Process& p = pod.init[pod.next_init].process;
      if (p.exited) {
        p.exited = false;
        if (p.last_exit == 0) {
          ++pod.next_init;
        } else {
          p.scheduleRestart();
        }
      }
      if (pod.next_init < pod.init.size()) {
        Process& current = pod.init[pod.next_init].process;
        if (!current.running() && now >= current.next_start) launch(current);
        return;
      }
    }
    bool sidecars_ready = true;
    for (auto& c : pod.containers) {
      if (!c.sidecar) continue;
      if (c.process.exited) {  // the sidecar died: restart it after a back-off
        c.process.exited = false;
        c.ready = false;
        if (!completing(pod)) c.process.scheduleRestart();
      }
      if (!c.process.running() && !completing(pod) && now >= c.process.next_start) {
        launch(c.process);
      }
      if (c.process.running() && now >= c.next_probe) {
        c.ready =
            probeHttpInNamespace(pod.pod->name, c.spec->readiness_port, c.spec->readiness_path);
        c.next_probe = now + kProbePeriod;
      }
      sidecars_ready = sidecars_ready && c.ready;
    }
    bool apps_running = true, apps_done = true, apps_failed = false;
    for (auto& c : pod.containers) {
      if (c.sidecar) continue;
      if (c.process.exited && !pod.pod->run_to_completion) {
        c.process.exited = false;
        c.process.scheduleRestart();
      }
      if (!c.process.running() && !c.process.exited && sidecars_ready &&
          now >= c.process.next_start) {
        launch(c.process);
      }
      apps_running = apps_running && c.process.running();
      apps_done = apps_done && c.process.exited;
      apps_failed = apps_failed || (c.process.exited && c.process.last_exit != 0);
    }
    if (pod.pod->run_to_completion && apps_done) {
      // The job is over: its sidecar drains and exits, then the pod is done.
      bool sidecars_gone = true;
      for (auto& c : pod.containers) {
        if (c.sidecar && c.process.running()) {
          if (!c.stop_sent) ::kill(-c.process.pid, SIGTERM);
          c.stop_sent = true;
          sidecars_gone = false;
        }
      }
      pod.phase = sidecars_gone ? (apps_failed ? "Failed" : "Succeeded") : "Completing";
      return;
    }
    pod.phase = apps_running && sidecars_ready ? "Running" : "Starting";
  }

  static bool completing(const PodRun& pod) {
    if (!pod.pod->run_to_completion) return false;
    for (const auto& c : pod.containers) {
      if (!c.sidecar && !c.process.exited) return false;
    }
    return true;
  }

  void launch(Process& p) {
    p.pid = start(p, options_.source_dir);
    if (p.pid > 0) {
      by_pid_[p.pid] = &p;
    } else {
      p.pid = -1;
      p.scheduleRestart();
    }
  }

  void reap() {
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      auto it = by_pid_.find(pid);
      if (it == by_pid_.end()) continue;
      Process& p = *it->second;
      by_pid_.erase(it);
      p.pid = -1;
      p.exited = true;
      p.last_exit = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      if (&p == (pilot_ ? &*pilot_ : nullptr)) {
        p.exited = false;
        p.scheduleRestart();
      }
    }
  }

  // Applications first, so their last requests still pass through their sidecars; then the
  // sidecars and remora-pilot. Whatever is left after the grace period is killed.
  void stopAll() {
    auto signalAll = [&](bool sidecars, int sig) {
      for (auto& pod : pods_) {
        for (auto* list : {&pod.init, &pod.containers}) {
          for (auto& c : *list) {
            if (c.sidecar == sidecars && c.process.running()) ::kill(-c.process.pid, sig);
          }
        }
      }
    };
    auto waitAll = [&](Clock::time_point deadline) {
      while (!by_pid_.empty() && Clock::now() < deadline) {
        reap();
        usleep(50 * 1000);
      }
    };
    signalAll(false, SIGTERM);
    waitAll(Clock::now() + kStopGrace);
    signalAll(false, SIGKILL);
    signalAll(true, SIGTERM);
    if (pilot_ && pilot_->running()) ::kill(-pilot_->pid, SIGTERM);
    waitAll(Clock::now() + kStopGrace);
    for (const auto& [pid, process] : by_pid_) ::kill(-pid, SIGKILL);
    waitAll(Clock::now() + seconds(2));
  }

  void writeStatus() {
    std::string json = "[";
    for (const auto& pod : pods_) {
      if (json.size() > 1) json += ",";
      json += "{\"name\":";
      appendJsonString(json, pod.pod->name);
      json += ",\"namespace\":";
      appendJsonString(json, pod.pod->ns);
      json += ",\"ip\":";
      appendJsonString(json, pod.pod->ip);
      json += ",\"phase\":";
      appendJsonString(json, pod.phase);
      json += fmt::format(",\"restarts\":{},\"containers\":[", pod.restarts());
      bool first = true;
      for (const auto& c : pod.containers) {
        if (!first) json += ",";
        first = false;
        json += "{\"name\":";
        appendJsonString(json, c.spec->name);
        json += fmt::format(",\"pid\":{},\"restarts\":{},\"ready\":{}}}", c.process.pid,
                            c.process.restarts, c.sidecar ? c.ready : c.process.running());
      }
      json += "]}";
    }
    json += "]\n";
    if (json == last_status_) return;
    last_status_ = json;
    // Written aside and renamed, so a reader never sees half of it.
    const std::string tmp = meshStatusPath() + ".tmp";
    if (writeFile(tmp, json).ok()) std::filesystem::rename(tmp, meshStatusPath());
  }

  const MeshSupervisorOptions& options_;
  std::vector<PodRun> pods_;
  std::optional<Process> pilot_;
  std::map<pid_t, Process*> by_pid_;
  std::string last_status_;
  bool stopping_ = false;
};

}  // namespace

std::string meshStatusPath() { return std::string(kMeshRunDir) + "/status"; }
std::string meshSupervisorPidPath() { return std::string(kMeshRunDir) + "/supervisor.pid"; }

int runMeshSupervisor(const MeshPlan& plan, const MeshSupervisorOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(std::string(kMeshRunDir) + "/logs", ec);
  Supervisor supervisor(plan, options);
  return supervisor.run();
}

}  // namespace remora::remoractl
