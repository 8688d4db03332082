#pragma once

#include <string>

#include "remoractl/mesh_plan.h"

namespace remora::remoractl {

struct MeshSupervisorOptions {
  std::string source_dir;    // where containers run (relative commands resolve here)
  std::string pilot_binary;  // remora-pilot, run in the node namespace; empty: none
  std::string config_dir;    // what remora-pilot watches
};

// The mesh's kubelet, run as a daemon by `mesh up` until `mesh down` (SIGTERM). For each pod:
// its init containers in order (each to completion, retried with back-off on failure), then its
// sidecar, then — once the sidecar's readiness probe answers 200 — its applications. Every
// process starts through `ip netns exec <pod>` (so it sees the pod's /etc/hosts), as the
// container's runAsUser/runAsGroup, in the source directory, with its log in
// /run/remora-mesh/logs/<pod>.<container>.log. An application that exits is restarted after a
// back-off (10 s, doubling, at most 5 min) while the sidecar stays up; in a Job or CronJob pod the
// sidecar is stopped (it drains) once the applications have exited. remora-pilot runs in the node
// namespace and is restarted the same way. The pods' state is kept in /run/remora-mesh/status
// (JSON) for `mesh status`. On SIGTERM every process is stopped and the network torn down.
int runMeshSupervisor(const MeshPlan& plan, const MeshSupervisorOptions& options);

// Where the supervisor writes the pods' state, and its pid.
std::string meshStatusPath();
std::string meshSupervisorPidPath();

}  // namespace remora::remoractl
