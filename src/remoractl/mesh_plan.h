#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace remora::remoractl {

// What `remoractl mesh` runs, planned from a directory of Kubernetes manifests before anything is
// touched: the mesh plays the API server (VIPs for Services, Pod and EndpointSlice objects for
// remora-pilot) and the kubelet (each pod's containers, after `remoractl inject`, run as local
// programs). Pure: no file, namespace or process is touched here.

// One manifest file as read: its name (for errors) and text.
struct ManifestFile {
  std::string name;
  std::string text;
};

// A container as the mesh runs it: a local program, its environment resolved (the downward API
// filled in for its pod), and who it runs as.
struct MeshContainer {
  std::string name;
  std::vector<std::string> argv;  // command + args
  std::vector<std::pair<std::string, std::string>> env;
  std::optional<uint32_t> run_as_user, run_as_group;
  // readinessProbe.httpGet, when set: the container is ready once GET path on port answers 200.
  uint32_t readiness_port = 0;
  std::string readiness_path;
};

// A pod volume as the mesh provides it: a directory under /etc/netns/<pod>/ that `ip netns exec`
// binds over /etc/<top> for every process of the pod (so mount paths must be under /etc), holding
// `files` (a downwardAPI volume's items) or nothing (an emptyDir, writable by every uid).
struct MeshMount {
  std::string mount_path;  // e.g. /etc/remora/proxy
  std::map<std::string, std::string> files;
};

struct MeshPod {
  std::string name;  // <workload>-<index>, also its network namespace's name
  std::string ns;
  std::string owner;  // "Deployment/reviews-v1"
  std::string service_account = "default";
  std::map<std::string, std::string> labels;
  std::string ip;    // in 198.18.0.0/16
  std::string veth;  // the bridge side of its veth pair, in the node namespace (<= 15 chars)
  bool run_to_completion = false;  // Job and CronJob pods: their sidecar stops when the app exits
  std::vector<MeshContainer> init_containers;
  std::vector<MeshContainer> containers;  // the sidecar (istio-proxy) first, then the application
  std::vector<MeshMount> mounts;
};

struct MeshServicePort {
  std::string name;
  uint32_t port = 0;
  std::string target_port;  // a number or a container port's name
  std::string protocol = "TCP";
};

struct MeshService {
  std::string name;
  std::string ns;
  std::string vip;  // spec.clusterIP, given one from 198.19.0.0/16 when it had none
  std::map<std::string, std::string> selector;
  std::vector<MeshServicePort> ports;
};

// Where things are on the mesh's network.
inline constexpr char kMeshBridgeAddress[] = "198.18.0.1";
inline constexpr char kMeshPilotHost[] = "remora-pilot.remora-system.svc";

struct MeshPlan {
  std::vector<MeshService> services;
  std::vector<MeshPod> pods;
  // The files remora-pilot's config directory gets: every input object in a file of its own
  // (`<kind>.<namespace>.<name>.yaml`, so `mesh apply` replaces one object by writing one file),
  // Services with their VIPs, and one Pod per pod and one EndpointSlice per Service.
  std::map<std::string, std::string> config_files;
  // /etc/hosts for every pod: Services by name, name.ns and FQDN, and remora-pilot.
  std::string hostsFor(const MeshPod& pod) const;
};

struct MeshPlanOptions {
  std::string remoractl = "remoractl";  // what `remoractl` in an injected container runs
  std::string proxy_image = "remora/proxy:latest";
};

StatusOr<MeshPlan> planMesh(const std::vector<ManifestFile>& manifests,
                            const MeshPlanOptions& options);

// `mesh apply -f FILE` on a running mesh, as `kubectl apply`: the config files to write (each
// object replacing the earlier one of the same kind, namespace and name). `current` is the config
// directory's files by name, so a Service keeps its VIP and a new one gets a free one. Workloads
// are refused (pods are fixed while the mesh is up), as is what remora cannot serve yet (mutual
// TLS in a DestinationRule).
struct AppliedObject {
  std::string kind, name;
  std::string file;  // meshObjectFileName
  std::string text;
};
StatusOr<std::vector<AppliedObject>> planApply(const ManifestFile& file,
                                               const std::map<std::string, std::string>& current);

// The config file name an object is stored under: `<kind>.<namespace>.<name>.yaml`, lower case.
std::string meshObjectFileName(const std::string& kind, const std::string& ns,
                               const std::string& name);

}  // namespace remora::remoractl
