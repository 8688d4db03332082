#pragma once

#include <string>

#include "common/status.h"

namespace remora::remoractl {

// What kube-inject needs to know beyond the manifests.
struct InjectOptions {
  std::string proxy_image = "remora/proxy:latest";
  std::string discovery_address = "remora-pilot.remora-system.svc:15010";
  // A pod injected already is left as it is instead of refused (the mesh runs manifests that
  // may or may not have been through `remoractl inject`).
  bool keep_injected = false;
};

// `istioctl kube-inject` for Remora: every Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
// ReplicationController, Job and CronJob in a multi-document manifest (and in a `kind: List`) gets
// Istio's init container `istio-init` (running `remoractl iptables`, its flags taken from the
// pod's traffic annotations), the sidecar container `istio-proxy` (`remoractl sidecar`), their
// volumes, labels and the `sidecar.istio.io/status` annotation. Pods that opt out
// (`sidecar.istio.io/inject: "false"`) or use the host's network are left alone, and every other
// document is copied byte for byte. A pod already injected, an annotation Remora cannot honour or
// a malformed document is an error naming the object, and nothing is written.
StatusOr<std::string> injectManifests(const std::string& manifests, const InjectOptions& options);

}  // namespace remora::remoractl
