#pragma once

#include <map>
#include <string>

#include "common/status.h"
#include "envoy/config/bootstrap/v3/bootstrap.pb.h"

namespace remora::remoractl {

// What pilot-agent knows when it writes a sidecar's bootstrap: the pod (from flags or the env vars
// injection sets) and where things listen. Ports default to Istio's.
struct SidecarBootstrapOptions {
  std::string pod_name;                     // POD_NAME
  std::string pod_namespace = "default";    // POD_NAMESPACE
  std::string instance_ip;                  // INSTANCE_IP (comma-separated for dual stack)
  std::string service_account = "default";  // SERVICE_ACCOUNT
  std::map<std::string, std::string> labels;
  std::string workload_name;  // default: the pod name
  std::string interception_mode = "REDIRECT";
  std::string discovery_address = "remora-pilot.remora-system.svc:15010";  // "none": no ADS
  std::string listen_address = "0.0.0.0";  // the health and Prometheus listeners
  uint32_t admin_port = 15000;
  uint32_t health_port = 15021;
  uint32_t prometheus_port = 15090;

  Status validate() const;
};

// The sidecar's Envoy v3 bootstrap, as Istio's template shapes it:
// - node id `sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local`, cluster `<workload>.<ns>`, metadata
//   NAMESPACE, LABELS, SERVICE_ACCOUNT, INSTANCE_IPS, INTERCEPTION_MODE, WORKLOAD_NAME;
// - admin on 127.0.0.1:<admin_port>;
// - unless discovery is "none": the `xds-grpc` cluster (HTTP/2, STRICT_DNS) and ADS for LDS/CDS;
// - `<listen>:<health_port>` routing /healthz/ready to the admin /ready (cluster `agent`), so it
//   answers 200 only while the proxy is LIVE;
// - `<listen>:<prometheus_port>` routing /stats/prometheus to the admin (cluster
//   `prometheus_stats`).
StatusOr<envoy::config::bootstrap::v3::Bootstrap> buildSidecarBootstrap(
    const SidecarBootstrapOptions& options);

// Appends `extra`'s static listeners and clusters (the --static file). Anything else set in it is
// an error, so nothing in the file is silently dropped.
Status mergeStaticResources(envoy::config::bootstrap::v3::Bootstrap& bootstrap,
                            const envoy::config::bootstrap::v3::Bootstrap& extra);

// The bootstrap as block YAML (field names as in the proto; strings quoted, so that a label value
// like "true" or "8080" stays a string).
StatusOr<std::string> bootstrapToYaml(const envoy::config::bootstrap::v3::Bootstrap& bootstrap);

// "app=reviews,version=v1" -> map; an item without '=' is an error.
StatusOr<std::map<std::string, std::string>> parseLabels(const std::string& value);

}  // namespace remora::remoractl
