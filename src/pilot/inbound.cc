#include "pilot/inbound.h"

#include <map>

#include "pilot/generator.h"

namespace remora::pilot {

std::vector<InboundPort> inboundPorts(const Model& model, const Proxy& proxy) {
  std::map<uint32_t, InboundPort> ports;
  if (proxy.ip.empty()) return {};
  for (const auto& service : model.services()) {
    if (service.from_service_entry) continue;
    for (const auto& port : service.ports) {
      for (const auto& e : model.endpoints(service, port)) {
        if (e.ip != proxy.ip) continue;
        InboundPort& in = ports[e.port];
        if (in.port == 0)
          in.destination_rule = model.destinationRule(service.fqdn, RuleScope{proxy.ns, nullptr});
        in.port = e.port;
        in.ipv6 = proxy.ip.find(':') != std::string::npos;
        in.http = in.http || isHttpPort(port);
        in.http2 = in.http2 || isHttp2Port(port);
      }
    }
  }
  std::vector<InboundPort> out;
  for (const auto& [port, in] : ports) out.push_back(in);
  return out;
}

}  // namespace remora::pilot
