#include "remoractl/proxy_status.h"

#include <fmt/format.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>

namespace remora::remoractl {
namespace {

using google::protobuf::Value;

// syncz's labels and istioctl's column names.
constexpr std::pair<const char*, const char*> kTypes[] = {
    {"cluster", "CDS"}, {"listener", "LDS"}, {"endpoint", "EDS"}, {"route", "RDS"}};

std::string field(const google::protobuf::Map<std::string, Value>& fields, const std::string& key) {
  auto it = fields.find(key);
  if (it == fields.end()) return "";
  if (it->second.has_number_value()) return fmt::format("{}", it->second.number_value());
  return it->second.string_value();
}

}  // namespace

std::string ProxySync::overall() const {
  for (const char* state : {"NACK", "STALE", "NOT SENT"}) {
    for (const auto& [type, value] : types) {
      if (value == state) return state;
    }
  }
  return "SYNCED";
}

StatusOr<std::vector<ProxySync>> parseSyncz(const std::string& json) {
  Value root;
  auto parsed = google::protobuf::util::JsonStringToMessage(json, &root);
  if (!parsed.ok() || !root.has_list_value()) {
    return Status::error("remora-pilot's /debug/syncz is not a JSON list");
  }
  std::vector<ProxySync> proxies;
  for (const auto& entry : root.list_value().values()) {
    const auto& f = entry.struct_value().fields();
    ProxySync proxy;
    const std::string id = field(f, "proxy");
    proxy.name = id;
    proxy.protocol = field(f, "protocol");
    // sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local
    if (std::count(id.begin(), id.end(), '~') == 3) {
      const size_t second = id.find('~', id.find('~') + 1);
      proxy.name = id.substr(second + 1, id.find('~', second + 1) - second - 1);
      proxy.pod = proxy.name.substr(0, proxy.name.find('.'));
    }
    for (const auto& [label, column] : kTypes) {
      const std::string sent = field(f, std::string(label) + "_sent");
      const std::string acked = field(f, std::string(label) + "_acked");
      const std::string nack = field(f, std::string(label) + "_nack");
      std::string state = "NOT SENT";
      if (!sent.empty()) {
        state = acked == sent ? "SYNCED" : (!nack.empty() ? "NACK" : "STALE");
      }
      if (state == "NACK") proxy.nacks.push_back(std::string(column) + ": " + nack);
      proxy.types[column] = state;
    }
    proxies.push_back(std::move(proxy));
  }
  std::sort(proxies.begin(), proxies.end(),
            [](const ProxySync& a, const ProxySync& b) { return a.name < b.name; });
  return proxies;
}

std::string renderProxyStatus(const std::vector<ProxySync>& proxies) {
  size_t width = 4;
  for (const auto& p : proxies) width = std::max(width, p.name.size());
  std::string out = fmt::format("{:<{}}  {:<9} {:<9} {:<9} {:<9} {}\n", "NAME", width, "CDS", "LDS",
                                "EDS", "RDS", "PROTOCOL");
  for (const auto& p : proxies) {
    out += fmt::format("{:<{}}  {:<9} {:<9} {:<9} {:<9} {}\n", p.name, width, p.types.at("CDS"),
                       p.types.at("LDS"), p.types.at("EDS"), p.types.at("RDS"), p.protocol);
  }
  for (const auto& p : proxies) {
    for (const auto& nack : p.nacks) out += fmt::format("{} NACK {}\n", p.name, nack);
  }
  return out;
}

}  // namespace remora::remoractl
