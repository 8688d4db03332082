#include "pilot/k8s_parser.h"

namespace remora::pilot {
namespace {

Status parsePorts(const Field& ports, std::vector<ServicePort>& out) {
  RETURN_IF_ERROR(ports.expectList());
  for (size_t i = 0; i < ports.size(); ++i) {
    Field p = ports.at(i);
    RETURN_IF_ERROR(p.expectMap());
    ServicePort port;
    RETURN_IF_ERROR(p["name"].getString(port.name));
    RETURN_IF_ERROR(p["port"].getUint(port.port));
    if (port.port == 0 || port.port > 65535) return p["port"].error("expected a port 1-65535");
    RETURN_IF_ERROR(p["protocol"].getString(port.protocol));
    std::string app_protocol;
    RETURN_IF_ERROR(p["appProtocol"].getString(app_protocol));
    if (!app_protocol.empty()) port.app_protocol = app_protocol;
    Field target = p["targetPort"];
    if (target.present()) {
      if (!target.node.IsScalar()) return target.error("expected a port number or name");
      if (!target.getUint(port.target_port).ok()) port.target_port_name = target.node.Scalar();
    }
    if (port.target_port == 0 && port.target_port_name.empty()) port.target_port = port.port;
    out.push_back(port);
  }
  return Status();
}

Status parseEndpointPorts(const Field& ports, std::vector<EndpointPort>& out) {
  RETURN_IF_ERROR(ports.expectList());
  for (size_t i = 0; i < ports.size(); ++i) {
    Field p = ports.at(i);
    RETURN_IF_ERROR(p.expectMap());
    EndpointPort port;
    RETURN_IF_ERROR(p["name"].getString(port.name));
    RETURN_IF_ERROR(p["port"].getUint(port.port));
    if (port.port == 0 || port.port > 65535) return p["port"].error("expected a port 1-65535");
    out.push_back(port);
  }
  return Status();
}

Status parseTargetRef(const Field& ref, EndpointAddress& out) {
  if (!ref.present()) return Status();
  RETURN_IF_ERROR(ref.expectMap());
  std::string kind;
  RETURN_IF_ERROR(ref["kind"].getString(kind));
  if (kind == "Pod") RETURN_IF_ERROR(ref["name"].getString(out.pod));
  return Status();
}

Status parseAddresses(const Field& list, bool ready, EndpointGroup& group) {
  RETURN_IF_ERROR(list.expectList());
  for (size_t i = 0; i < list.size(); ++i) {
    Field a = list.at(i);
    RETURN_IF_ERROR(a.expectMap());
    EndpointAddress address;
    address.ready = ready;
    RETURN_IF_ERROR(a["ip"].getString(address.ip));
    if (address.ip.empty()) return a["ip"].error("required");
    RETURN_IF_ERROR(parseTargetRef(a["targetRef"], address));
    group.addresses.push_back(address);
  }
  return Status();
}

}  // namespace

Status parseService(const Field& doc, Service& out) {
  Field spec = doc["spec"];
  RETURN_IF_ERROR(spec["clusterIP"].getString(out.cluster_ip));
  RETURN_IF_ERROR(spec["selector"].getStringMap(out.selector));
  RETURN_IF_ERROR(parsePorts(spec["ports"], out.ports));
  return Status();
}

Status parseEndpoints(const Field& doc, Endpoints& out) {
  out.service = out.name;
  Field subsets = doc["subsets"];
  RETURN_IF_ERROR(subsets.expectList());
  for (size_t i = 0; i < subsets.size(); ++i) {
    Field s = subsets.at(i);
    RETURN_IF_ERROR(s.expectMap());
    EndpointGroup group;
    RETURN_IF_ERROR(parseAddresses(s["addresses"], true, group));
    RETURN_IF_ERROR(parseAddresses(s["notReadyAddresses"], false, group));
    RETURN_IF_ERROR(parseEndpointPorts(s["ports"], group.ports));
    out.groups.push_back(std::move(group));
  }
  return Status();
}

Status parseEndpointSlice(const Field& doc, Endpoints& out) {
  std::map<std::string, std::string> labels;
  RETURN_IF_ERROR(doc["metadata"]["labels"].getStringMap(labels));
  auto it = labels.find("kubernetes.io/service-name");
  if (it == labels.end())
    return doc["metadata"]["labels"].error(
        "an EndpointSlice needs the kubernetes.io/service-name label");
  out.service = it->second;
  std::string address_type = "IPv4";
  RETURN_IF_ERROR(doc["addressType"].getString(address_type));
  if (address_type != "IPv4" && address_type != "IPv6")
    return doc["addressType"].error("not supported by remora-pilot: " + address_type);
  EndpointGroup group;
  RETURN_IF_ERROR(parseEndpointPorts(doc["ports"], group.ports));
  Field endpoints = doc["endpoints"];
  RETURN_IF_ERROR(endpoints.expectList());
  for (size_t i = 0; i < endpoints.size(); ++i) {
    Field e = endpoints.at(i);
    RETURN_IF_ERROR(e.expectMap());
    bool ready = true;
    RETURN_IF_ERROR(e["conditions"]["ready"].getBool(ready));
    std::vector<std::string> addresses;
    RETURN_IF_ERROR(e["addresses"].getStringList(addresses));
    if (addresses.empty()) return e["addresses"].error("required");
    EndpointAddress address;
    address.ready = ready;
    address.ip = addresses[0];  // Kubernetes: consumers use the first address
    RETURN_IF_ERROR(parseTargetRef(e["targetRef"], address));
    group.addresses.push_back(address);
  }
  out.groups.push_back(std::move(group));
  return Status();
}

Status parsePod(const Field& doc, Pod& out) {
  RETURN_IF_ERROR(doc["metadata"]["labels"].getStringMap(out.labels));
  RETURN_IF_ERROR(doc["spec"]["serviceAccountName"].getString(out.service_account));
  RETURN_IF_ERROR(doc["status"]["podIP"].getString(out.ip));
  if (out.service_account.empty()) out.service_account = "default";
  return Status();
}

}  // namespace remora::pilot
