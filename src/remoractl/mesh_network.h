#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "remoractl/mesh_plan.h"

namespace remora::remoractl {

// The mesh's machinery on this host. Everything lives under one directory and in network
// namespaces the mesh creates: the node namespace (the bridge 198.18.0.1/16 and remora-pilot) and
// one per pod (lo up, eth0 on a veth to the bridge, default route via the bridge). Nothing is
// linked to the host's own namespace.
inline constexpr char kMeshRunDir[] = "/run/remora-mesh";
inline constexpr char kMeshNodeNamespace[] = "remora-node";
inline constexpr char kMeshBridge[] = "rmesh0";

// The record `mesh down` works from, written before anything is created, so an interrupted or
// failed run is still cleaned up: one line per pod, "<name> <ip> <veth>".
std::string meshRecordPath();
Status writeMeshRecord(const MeshPlan& plan);
std::vector<std::string> readMeshRecordPods();

// Creates the node namespace and bridge, then each pod's namespace, veth, address, route and
// /etc/netns/<pod>/hosts. Stops at the first failure (the caller tears down).
Status createMeshNetwork(const MeshPlan& plan);

// Removes every process, namespace, /etc/netns/<pod> and the run directory the record names (and
// the node namespace), ignoring what is already gone. Safe to run any number of times.
void teardownMesh();

// argv to run a command inside a network namespace with its /etc/hosts, as `ip netns exec` does
// (a bare setns() would not see the hosts bind mount), as uid/gid when given.
std::vector<std::string> inNamespace(const std::string& netns, const std::vector<std::string>& argv,
                                     int uid = -1, int gid = -1);

// GET http://127.0.0.1:<port><path> from inside the namespace: true on a 200 within a second.
bool probeHttpInNamespace(const std::string& netns, uint32_t port, const std::string& path);

}  // namespace remora::remoractl
