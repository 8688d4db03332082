#include "remoractl/proxy_config.h"

#include <fmt/format.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <vector>

namespace remora::remoractl {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

const Value& kNull = Value::default_instance();

const Value& field(const Value& v, const std::string& name) {
  if (v.kind_case() != Value::kStructValue) return kNull;
  const auto& fields = v.struct_value().fields();
  auto it = fields.find(name);
  return it == fields.end() ? kNull : it->second;
}

// v.a.b.c, or null where a step is missing.
const Value& path(const Value& v, std::initializer_list<const char*> names) {
  const Value* current = &v;
  for (const char* name : names) current = &field(*current, name);
  return *current;
}

std::string str(const Value& v) {
  switch (v.kind_case()) {
    case Value::kStringValue:
      return v.string_value();
    case Value::kNumberValue:
      return fmt::format("{}", static_cast<int64_t>(v.number_value()));
    case Value::kBoolValue:
      return v.bool_value() ? "true" : "false";
    default:
      return "";
  }
}

std::vector<const Value*> list(const Value& v) {
  std::vector<const Value*> out;
  if (v.kind_case() == Value::kListValue) {
    for (const auto& item : v.list_value().values()) out.push_back(&item);
  }
  return out;
}

std::string joined(const std::vector<std::string>& items, const std::string& sep = ",") {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : sep) + item;
  return out;
}

// The config dump's section of the given @type (ListenersConfigDump, ...).
const Value& section(const Value& dump, const std::string& type) {
  for (const Value* config : list(field(dump, "configs"))) {
    if (str(field(*config, "@type")).ends_with("." + type)) return *config;
  }
  return kNull;
}

std::string toJson(const Value& v) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(v, &out, options);
  return out;
}

class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string render() const {
    std::vector<size_t> widths(rows_[0].size(), 0);
    for (const auto& row : rows_) {
      for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
    }
    std::string out;
    for (const auto& row : rows_) {
      std::string line;
      for (size_t i = 0; i < row.size(); ++i) {
        line += row[i];
        if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
      }
      out += line + "\n";
    }
    return out;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

// Every listener / cluster / route config in a section, static and dynamic.
std::vector<const Value*> resources(const Value& sect, const char* static_key, const char* inner,
                                    bool active_state) {
  std::vector<const Value*> out;
  for (const Value* item : list(field(sect, static_key))) out.push_back(&field(*item, inner));
  const std::string dynamic_key = std::string("dynamic_active_") + inner + "s";
  const char* key = active_state ? "dynamic_listeners" : dynamic_key.c_str();
  for (const Value* item : list(field(sect, key))) {
    out.push_back(active_state ? &path(*item, {"active_state", "listener"}) : &field(*item, inner));
  }
  if (!active_state && std::string(inner) == "route_config") {
    for (const Value* item : list(field(sect, "dynamic_route_configs"))) {
      out.push_back(&field(*item, inner));
    }
  }
  return out;
}

std::string chainMatch(const Value& chain) {
  const Value& match = field(chain, "filter_chain_match");
  std::vector<std::string> parts;
  if (const std::string port = str(field(match, "destination_port")); !port.empty()) {
    parts.push_back("port " + port);
  }
  for (const Value* range : list(field(match, "prefix_ranges"))) {
    parts.push_back("addr " + str(field(*range, "address_prefix")) + "/" +
                    str(field(*range, "prefix_len")));
  }
  if (const std::string t = str(field(match, "transport_protocol")); !t.empty()) {
    parts.push_back("Trans: " + t);
  }
  std::vector<std::string> apps;
  for (const Value* app : list(field(match, "application_protocols"))) apps.push_back(str(*app));
  if (!apps.empty()) parts.push_back("App: " + joined(apps));
  std::vector<std::string> sni;
  for (const Value* name : list(field(match, "server_names"))) sni.push_back(str(*name));
  if (!sni.empty()) parts.push_back("SNI: " + joined(sni));
  return parts.empty() ? "ALL" : joined(parts, "; ");
}

std::string chainDestination(const Value& chain) {
  for (const Value* filter : list(field(chain, "filters"))) {
    const Value& config = field(*filter, "typed_config");
    const std::string type = str(field(config, "@type"));
    if (type.ends_with("HttpConnectionManager")) {
      if (const std::string rds = str(path(config, {"rds", "route_config_name"})); !rds.empty()) {
        return "Route: " + rds;
      }
      return "Inline Route: " + str(path(config, {"route_config", "name"}));
    }
    if (type.ends_with("TcpProxy")) {
      if (const std::string cluster = str(field(config, "cluster")); !cluster.empty()) {
        return "Cluster: " + cluster;
      }
      return "Weighted clusters";
    }
  }
  return "Non-HTTP/Non-TCP";
}

std::string listenersTable(const Value& dump) {
  Table table({"NAME", "ADDRESS", "PORT", "MATCH", "DESTINATION"});
  for (const Value* l :
       resources(section(dump, "ListenersConfigDump"), "static_listeners", "listener", true)) {
    const Value& address = path(*l, {"address", "socket_address"});
    std::vector<const Value*> chains = list(field(*l, "filter_chains"));
    if (field(*l, "default_filter_chain").kind_case() == Value::kStructValue) {
      chains.push_back(&field(*l, "default_filter_chain"));
    }
    if (chains.empty()) {
      table.add({str(field(*l, "name")), str(field(address, "address")),
                 str(field(address, "port_value")), "-", "-"});
    }
    for (const Value* chain : chains) {
      table.add({str(field(*l, "name")), str(field(address, "address")),
                 str(field(address, "port_value")), chainMatch(*chain), chainDestination(*chain)});
    }
  }
  return table.render();
}

std::string routeDestination(const Value& route) {
  const Value& action = field(route, "route");
  if (const std::string cluster = str(field(action, "cluster")); !cluster.empty()) return cluster;
  std::vector<std::string> weighted;
  for (const Value* c : list(path(action, {"weighted_clusters", "clusters"}))) {
    weighted.push_back(str(field(*c, "name")) + "=" + str(field(*c, "weight")));
  }
  if (!weighted.empty()) return joined(weighted);
  if (field(route, "redirect").kind_case() == Value::kStructValue) return "redirect";
  if (field(route, "direct_response").kind_case() == Value::kStructValue) {
    return "direct " + str(path(route, {"direct_response", "status"}));
  }
  return "-";
}

std::string routeMatch(const Value& route) {
  const Value& match = field(route, "match");
  for (const char* key : {"prefix", "path", "path_separated_prefix"}) {
    if (const std::string v = str(field(match, key));
        !v.empty() || field(match, key).has_string_value()) {
      return v.empty() ? "/*" : (std::string(key) == "prefix" ? v + "*" : v);
    }
  }
  if (const std::string regex = str(path(match, {"safe_regex", "regex"})); !regex.empty()) {
    return "regex " + regex;
  }
  return "-";
}

std::string routesTable(const Value& dump) {
  Table table({"NAME", "VHOST NAME", "DOMAINS", "MATCH", "DESTINATION"});
  std::vector<const Value*> configs =
      resources(section(dump, "RoutesConfigDump"), "static_route_configs", "route_config", false);
  // Route configs inlined in listeners' connection managers count too.
  for (const Value* l :
       resources(section(dump, "ListenersConfigDump"), "static_listeners", "listener", true)) {
    for (const Value* chain : list(field(*l, "filter_chains"))) {
      for (const Value* filter : list(field(*chain, "filters"))) {
        const Value& inline_config = path(*filter, {"typed_config", "route_config"});
        if (inline_config.kind_case() == Value::kStructValue) configs.push_back(&inline_config);
      }
    }
  }
  for (const Value* config : configs) {
    for (const Value* vhost : list(field(*config, "virtual_hosts"))) {
      std::vector<std::string> domains;
      for (const Value* d : list(field(*vhost, "domains"))) domains.push_back(str(*d));
      std::string shown = domains.empty() ? "-" : domains[0];
      if (domains.size() > 1) shown += fmt::format(" + {} more...", domains.size() - 1);
      for (const Value* route : list(field(*vhost, "routes"))) {
        table.add({str(field(*config, "name")), str(field(*vhost, "name")), shown,
                   routeMatch(*route), routeDestination(*route)});
      }
    }
  }
  return table.render();
}

std::string clustersTable(const Value& dump) {
  Table table({"SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE"});
  for (const Value* c :
       resources(section(dump, "ClustersConfigDump"), "static_clusters", "cluster", false)) {
    const std::string name = str(field(*c, "name"));
    std::string type = str(field(*c, "type"));
    if (type.empty())
      type = field(*c, "eds_cluster_config").kind_case() == Value::kStructValue ? "EDS" : "STATIC";
    // Istio's names: direction|port|subset|fqdn.
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t bar; (bar = name.find('|', start)) != std::string::npos; start = bar + 1) {
      parts.push_back(name.substr(start, bar - start));
    }
    parts.push_back(name.substr(start));
    if (parts.size() == 4) {
      table.add({parts[3].empty() ? "-" : parts[3], parts[1], parts[2].empty() ? "-" : parts[2],
                 parts[0], type});
    } else {
      table.add({name, "-", "-", "-", type});
    }
  }
  return table.render();
}

std::string endpointsTable(const Value& clusters) {
  Table table({"ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER"});
  for (const Value* c : list(field(clusters, "cluster_statuses"))) {
    for (const Value* h : list(field(*c, "host_statuses"))) {
      const Value& address = path(*h, {"address", "socket_address"});
      const Value& health = field(*h, "health_status");
      std::string status = str(field(health, "eds_health_status"));
      if (status.empty()) status = "HEALTHY";
      if (field(health, "failed_active_health_check").bool_value()) status = "UNHEALTHY";
      table.add({str(field(address, "address")) + ":" + str(field(address, "port_value")), status,
                 field(health, "failed_outlier_check").bool_value() ? "FAILED" : "OK",
                 str(field(*c, "name"))});
    }
  }
  return table.render();
}

}  // namespace

StatusOr<ProxyConfigView> parseProxyConfigView(const std::string& name) {
  if (name == "listeners" || name == "listener" || name == "l") return ProxyConfigView::Listeners;
  if (name == "routes" || name == "route" || name == "r") return ProxyConfigView::Routes;
  if (name == "clusters" || name == "cluster" || name == "c") return ProxyConfigView::Clusters;
  if (name == "endpoints" || name == "endpoint" || name == "ep") return ProxyConfigView::Endpoints;
  if (name == "bootstrap" || name == "b") return ProxyConfigView::Bootstrap;
  return Status::error(
      fmt::format("unknown view '{}' (listeners, routes, clusters, endpoints, bootstrap)", name));
}

const char* proxyConfigAdminPath(ProxyConfigView view) {
  return view == ProxyConfigView::Endpoints ? "/clusters?format=json" : "/config_dump";
}

StatusOr<std::string> renderProxyConfig(ProxyConfigView view, const std::string& admin_json,
                                        bool json) {
  Value root;
  auto parsed = google::protobuf::util::JsonStringToMessage(admin_json, &root);
  if (!parsed.ok()) {
    return Status::error(
        fmt::format("the admin answer is not JSON: {}", std::string(parsed.message())));
  }
  switch (view) {
    case ProxyConfigView::Listeners:
      return json ? toJson(section(root, "ListenersConfigDump")) : listenersTable(root);
    case ProxyConfigView::Routes:
      return json ? toJson(section(root, "RoutesConfigDump")) : routesTable(root);
    case ProxyConfigView::Clusters:
      return json ? toJson(section(root, "ClustersConfigDump")) : clustersTable(root);
    case ProxyConfigView::Endpoints:
      return json ? toJson(root) : endpointsTable(root);
    case ProxyConfigView::Bootstrap:
      return toJson(field(section(root, "BootstrapConfigDump"), "bootstrap"));
  }
  return Status::error("unknown view");
}

}  // namespace remora::remoractl
