#pragma once

#include <sys/types.h>

#include <ostream>
#include <string>
#include <vector>

#include "common/status.h"
#include "remoractl/mesh_plan.h"

namespace remora::remoractl {

// What `mesh up`, `mesh down`, `mesh apply`, `mesh status` and `mesh demo` share.

std::string selfPath();   // this remoractl
std::string configDir();  // what remora-pilot watches

// DIR's *.yaml, *.yml and *.json (not its subdirectories, as kubectl apply -f DIR), or one file.
StatusOr<std::vector<ManifestFile>> readManifests(const std::string& path);

// Plans the mesh, records it, writes the config files, builds the network and starts the
// supervisor daemon; then waits up to wait_seconds for every pod to run and prints the pods.
// Returns the exit code (1 if the mesh could not come up or not every pod runs; the mesh stays
// up in the latter case).
int bringUp(const std::vector<ManifestFile>& manifests, const std::string& source,
            std::string pilot, int wait_seconds, std::ostream& out, std::ostream& err);

// Stops the supervisor (which stops the pods and tears down) and tears down whatever is left.
void bringDown();

// `kubectl apply` for the running mesh; prints "<kind>/<name> created|configured" per object.
int applyManifests(const ManifestFile& file, std::ostream& out, std::ostream& err);

// remora-pilot's /debug/syncz: from `address` (IPv4:port) when given, else from the local mesh's
// node namespace (198.18.0.1:15014).
StatusOr<std::string> pilotSyncz(const std::string& address = "");

// The supervisor's record of the pods.
struct PodStatus {
  std::string name, ip, phase;
  int restarts = 0;
  bool sidecar_ready = false;
  std::string sync = "-";  // the sidecar's overall xDS sync state (proxy-status), if connected
};
std::vector<PodStatus> readStatus();
// Fills each pod's `sync` from remora-pilot, when it answers.
void addSyncState(std::vector<PodStatus>& pods);
void printStatus(const std::vector<PodStatus>& pods, std::ostream& out);
bool supervisorAlive(pid_t* pid_out = nullptr);

}  // namespace remora::remoractl
