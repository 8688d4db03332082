#include "pilot/inbound.h"

#include <map>

#include "pilot/generator.h"

namespace remora::pilot {

std::vector<InboundPort> inboundPorts(const Model& model, const Proxy& proxy) {
  std::map<uint32_t, InboundPort> ports;
  if (proxy.ip.empty()) return {};
  for (const auto& at : model.endpointsAt(proxy.ip)) {
    InboundPort& in = ports[at.endpoint_port];
    in.port = at.endpoint_port;
    in.http = in.http || isHttpPort(*at.port);
    in.http2 = in.http2 || isHttp2Port(*at.port);
  }
  std::vector<InboundPort> out;
  for (const auto& [port, in] : ports) out.push_back(in);
  return out;
}

}  // namespace remora::pilot
