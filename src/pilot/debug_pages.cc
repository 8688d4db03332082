// The hub's debug pages on the monitoring port: /debug/syncz (each proxy's sent and acked
// versions and nonces per type, with NACKs), /debug/config_dump?proxyID= (what the proxy is
// sent, as JSON) and /debug/registryz (the model: services, objects, errors, unsupported kinds).

#include <google/protobuf/util/json_util.h>

#include "common/json_string.h"
#include "pilot/xds_hub.h"

namespace remora::pilot {
namespace {

std::string quote(const std::string& s) {
  std::string out;
  appendJsonString(out, s);
  return out;
}

std::string anyToJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) return "null";
  return json;
}

const char* typeLabel(const std::string& type_url) {
  if (type_url == kClusterType) return "cluster";
  if (type_url == kListenerType) return "listener";
  if (type_url == kRouteType) return "route";
  if (type_url == kEndpointType) return "endpoint";
  return "other";
}

}  // namespace

std::string XdsHub::syncz() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out = "[";
  bool first = true;
  for (const auto& [stream, c] : connections_) {
    if (!first) out += ",";
    first = false;
    out += "{\"proxy\":" + quote(c.proxy.id) + ",\"connection_id\":" + quote(c.id) +
           ",\"proxy_type\":" + quote(c.proxy.grpc ? "grpc" : c.proxy.type) +
           ",\"protocol\":" + quote(c.delta ? "delta" : "sotw");
    for (const auto& [type, ts] : c.types) {
      const std::string label = typeLabel(type);
      out += ",\"" + label + "_sent\":" + quote(ts.sent_nonce) + ",\"" + label +
             "_acked\":" + quote(ts.acked_nonce) + ",\"" + label +
             "_version\":" + quote(ts.acked_version) + ",\"" + label +
             "_nacks\":" + std::to_string(ts.nacks);
      if (!ts.last_nack.empty()) out += ",\"" + label + "_nack\":" + quote(ts.last_nack);
    }
    out += "}";
  }
  return out + "]";
}

std::string XdsHub::configDump(const std::string& proxy_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Connection* found = nullptr;
  for (const auto& [stream, c] : connections_)
    if (c.proxy.id == proxy_id || c.id == proxy_id) found = &c;
  if (found == nullptr) return "";
  std::string out = "{\"proxy\":" + quote(found->proxy.id) + ",\"configs\":{";
  bool first_type = true;
  for (const auto& type : {kClusterType, kListenerType, kRouteType, kEndpointType}) {
    if (!first_type) out += ",";
    first_type = false;
    out += "\"" + std::string(typeLabel(type)) + "s\":[";
    bool first = true;
    for (const auto& [name, any] : generate(*model_, found->proxy, type)) {
      if (!first) out += ",";
      first = false;
      out += anyToJson(any);
    }
    out += "]";
  }
  return out + "}}";
}

std::string XdsHub::registryz() const {
  ModelPtr model = this->model();
  std::string out = "{\"version\":" + std::to_string(model->version()) + ",\"services\":[";
  bool first = true;
  for (const auto& s : model->services()) {
    if (!first) out += ",";
    first = false;
    out += "{\"hostname\":" + quote(s.fqdn) + ",\"namespace\":" + quote(s.ns) +
           ",\"address\":" + quote(s.vip) + ",\"ports\":[";
    for (size_t i = 0; i < s.ports.size(); ++i)
      out += (i ? "," : "") + std::string("{\"name\":") + quote(s.ports[i].name) +
             ",\"port\":" + std::to_string(s.ports[i].port) + "}";
    out += "],\"endpoints\":" +
           std::to_string(s.ports.empty() ? 0 : model->endpoints(s, s.ports[0]).size()) + "}";
  }
  out += "],\"objects\":[";
  first = true;
  for (const auto& [key, object] : model->objects()) {
    out += (first ? "" : ",") + quote(key.str());
    first = false;
  }
  out += "],\"not_yet_supported\":[";
  first = true;
  for (const auto& key : model->unsupported()) {
    out += (first ? "" : ",") + quote(key.str());
    first = false;
  }
  out += "],\"errors\":[";
  first = true;
  for (const auto& e : model->errors()) {
    out += (first ? "" : ",") + std::string("{\"file\":") + quote(e.file) +
           ",\"error\":" + quote(e.message) + "}";
    first = false;
  }
  return out + "]}";
}

}  // namespace remora::pilot
