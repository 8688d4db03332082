#include "pilot/generator.h"

namespace remora::pilot {

std::string outboundCluster(uint32_t port, const std::string& subset, const std::string& fqdn) {
  return "outbound|" + std::to_string(port) + "|" + subset + "|" + fqdn;
}

namespace {
std::string protocolOf(const ServicePort& port) {
  std::string p = port.app_protocol.value_or(port.name);
  auto dash = p.find('-');
  if (dash != std::string::npos) p = p.substr(0, dash);
  for (auto& c : p) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return p;
}
}  // namespace

bool isHttpPort(const ServicePort& port) {
  const std::string p = protocolOf(port);
  return p == "http" || p == "http2" || p == "grpc" || p == "h2c";
}

bool isHttp2Port(const ServicePort& port) {
  const std::string p = protocolOf(port);
  return p == "http2" || p == "grpc" || p == "h2c";
}

Resources generate(const Model& model, const Proxy& proxy, const std::string& type_url) {
  Resources out;
  if (type_url == kClusterType)
    generateClusters(model, proxy, out);
  else if (type_url == kEndpointType)
    generateEndpoints(model, proxy, out);
  else if (type_url == kListenerType && proxy.grpc)
    generateGrpcListeners(model, proxy, out);
  else if (type_url == kListenerType)
    generateSidecarListeners(model, proxy, out);
  else if (type_url == kRouteType && proxy.grpc)
    generateGrpcRoutes(model, proxy, out);
  else if (type_url == kRouteType)
    generateSidecarRoutes(model, proxy, out);
  return out;
}

}  // namespace remora::pilot
