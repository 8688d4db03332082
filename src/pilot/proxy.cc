#include "pilot/proxy.h"

#include <vector>

namespace remora::pilot {

Proxy proxyFromNode(const envoy::config::core::v3::Node& node) {
  Proxy proxy;
  proxy.id = node.id();
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t tilde = node.id().find('~', start);
    parts.push_back(node.id().substr(start, tilde == std::string::npos ? tilde : tilde - start));
    if (tilde == std::string::npos) break;
    start = tilde + 1;
  }
  if (parts.size() == 4) {
    proxy.type = parts[0];
    proxy.ip = parts[1];
    auto dot = parts[2].find('.');
    proxy.pod = parts[2].substr(0, dot);
    if (dot != std::string::npos) proxy.ns = parts[2].substr(dot + 1);
  }
  const auto& fields = node.metadata().fields();
  auto it = fields.find("GENERATOR");
  proxy.grpc = it != fields.end() && it->second.string_value() == "grpc";
  auto ns = fields.find("NAMESPACE");
  if (ns != fields.end() && !ns->second.string_value().empty())
    proxy.ns = ns->second.string_value();
  return proxy;
}

}  // namespace remora::pilot
