#include "pilot/inbound.h"

#include <map>

#include "pilot/generator.h"

namespace remora::pilot {

std::vector<InboundPort> inboundPorts(const Model& model, const Proxy& proxy) {
  std::map<uint32_t, InboundPort> ports;
  if (proxy.ip.empty()) return {};
  for (const auto& at : model.endpointsAt(proxy.ip)) {
    InboundPort& in = ports[at.endpoint_port];
    if (in.port == 0)
      in.destination_rule = model.destinationRule(at.service->fqdn, RuleScope{proxy.ns, nullptr});
    in.port = at.endpoint_port;
    in.ipv6 = proxy.ip.find(':') != std::string::npos;
    in.http = in.http || isHttpPort(*at.port);
    in.http2 = in.http2 || isHttp2Port(*at.port);
  }
  std::vector<InboundPort> out;
  for (const auto& [port, in] : ports) out.push_back(in);
  return out;
}

}  // namespace remora::pilot
