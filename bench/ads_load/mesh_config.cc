#include "mesh_config.h"

#include <fmt/format.h>

#include <fstream>
#include <stdexcept>

namespace remora::bench {
namespace fs = std::filesystem;

namespace {

std::string dotted(uint32_t base, int index) {
  const uint32_t a = base + static_cast<uint32_t>(index);
  return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

constexpr uint32_t kProxyBase = (198u << 24) | (18u << 16);              // 198.18.0.0
constexpr uint32_t kVipBase = (198u << 24) | (18u << 16) | (128u << 8);  // 198.18.128.0
constexpr uint32_t kEndpointBase = (198u << 24) | (19u << 16);           // 198.19.0.0

void writeFile(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  const fs::path tmp = path.parent_path() / ("." + path.filename().string() + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  }
  fs::rename(tmp, path);
}

std::string serviceYaml(const MeshShape& shape, int s) {
  return fmt::format(R"(apiVersion: v1
kind: Service
metadata:
  name: {0}
  namespace: {1}
spec:
  clusterIP: {2}
  selector:
    app: {0}
  ports:
  - name: http
    port: {3}
    targetPort: {4}
)",
                     serviceName(s), serviceNamespace(shape, s), dotted(kVipBase, s + 1),
                     kServicePort, kTargetPort);
}

std::string routingYaml(const MeshShape& shape, int s) {
  return fmt::format(R"(apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata:
  name: {0}
  namespace: {1}
spec:
  host: {0}
  trafficPolicy:
    loadBalancer:
      simple: LEAST_REQUEST
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: {0}
  namespace: {1}
spec:
  hosts:
  - {0}
  http:
  - match:
    - headers:
        end-user:
          exact: jason
    route:
    - destination:
        host: {0}
        subset: v2
  - route:
    - destination:
        host: {0}
        subset: v1
      weight: 50
    - destination:
        host: {0}
        subset: v2
      weight: 50
    timeout: 5s
)",
                     serviceName(s), serviceNamespace(shape, s));
}

std::string endpointsYaml(const MeshShape& shape, int s, uint32_t port) {
  std::string out = fmt::format(R"(apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {0}-abcde
  namespace: {1}
  labels:
    kubernetes.io/service-name: {0}
addressType: IPv4
ports:
- name: http
  port: {2}
endpoints:
)",
                                serviceName(s), serviceNamespace(shape, s), port);
  for (int e = 0; e < shape.endpoints; ++e)
    out += fmt::format("- addresses: [\"{}\"]\n  conditions: {{ready: true}}\n",
                       dotted(kEndpointBase, s * shape.endpoints + e + 1));
  return out;
}

}  // namespace

std::string serviceName(int service) { return fmt::format("svc-{}", service); }

std::string serviceNamespace(const MeshShape& shape, int service) {
  return fmt::format("ns-{}", service % shape.namespaces);
}

std::string serviceCluster(const MeshShape& shape, int service) {
  return fmt::format("outbound|{}||{}.{}.svc.cluster.local", kServicePort, serviceName(service),
                     serviceNamespace(shape, service));
}

std::string proxyIp(int index) { return dotted(kProxyBase, index + 1); }

void writeMesh(const fs::path& dir, const MeshShape& shape) {
  if (shape.services * shape.endpoints >= 65535 || shape.services >= 32767)
    throw std::runtime_error("mesh too large for its address ranges");
  for (int s = 0; s < shape.services; ++s) {
    writeFile(dir / "services" / (serviceName(s) + ".yaml"), serviceYaml(shape, s));
    writeEndpoints(dir, shape, s, kTargetPort);
    if (s < shape.routed)
      writeFile(dir / "routing" / (serviceName(s) + ".yaml"), routingYaml(shape, s));
  }
}

void writeEndpoints(const fs::path& dir, const MeshShape& shape, int service, uint32_t port) {
  writeFile(dir / "endpoints" / (serviceName(service) + ".yaml"),
            endpointsYaml(shape, service, port));
}

}  // namespace remora::bench
