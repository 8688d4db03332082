#include "router/route_config.h"

#include "config/pgv_validator.h"
#include "config/supported_fields.h"

namespace remora::router {
namespace {

using Known = std::set<std::string, std::less<>>;

// "host:port" → "host", "[::1]:80" → "[::1]"; a bare IPv6 literal or a non-numeric tail is
// left alone, as Envoy's stripPortFromHost does.
std::string_view stripPort(std::string_view host) {
  size_t colon = host.rfind(':');
  if (colon == std::string_view::npos) return host;
  if (host[0] == '[') {
    if (colon == 0 || host[colon - 1] != ']') return host;
  } else if (host.find(':') != colon) {
    return host;  // unbracketed IPv6
  }
  std::string_view port = host.substr(colon + 1);
  if (port.empty()) return host;
  for (char c : port) {
    if (c < '0' || c > '9') return host;
  }
  return host.substr(0, colon);
}

template <class Map>
const VirtualHost* findWildcard(const Map& by_length, std::string_view host, bool suffix) {
  for (const auto& [length, domains] : by_length) {
    // The wildcard must cover at least one character: "*.foo.com" does not match ".foo.com".
    if (length >= host.size()) continue;
    std::string_view fixed = suffix ? host.substr(host.size() - length) : host.substr(0, length);
    auto it = domains.find(std::string(fixed));
    if (it != domains.end()) return it->second;
  }
  return nullptr;
}

}  // namespace

StatusOr<std::unique_ptr<VirtualHost>> VirtualHost::create(
    const envoy::config::route::v3::VirtualHost& proto, const RouteConfig& config,
    const std::string& path, const Known* known_clusters, stats::Store* stats) {
  std::unique_ptr<VirtualHost> vhost(new VirtualHost());
  vhost->config_ = &config;
  vhost->name_ = proto.name();
  auto request = HeaderMutations::create(
      proto.request_headers_to_add(), proto.request_headers_to_remove(),
      path + ".request_headers_to_add", path + ".request_headers_to_remove");
  if (!request.ok()) return request.status();
  vhost->request_mutations_ = std::move(request.value());
  auto response = HeaderMutations::create(
      proto.response_headers_to_add(), proto.response_headers_to_remove(),
      path + ".response_headers_to_add", path + ".response_headers_to_remove");
  if (!response.ok()) return response.status();
  vhost->response_mutations_ = std::move(response.value());
  auto per_filter = toFilterConfigMap(proto.typed_per_filter_config(), path, stats);
  if (!per_filter.ok()) return per_filter.status();
  vhost->per_filter_config_ = std::move(per_filter.value());
  for (int i = 0; i < proto.routes_size(); ++i) {
    auto route = Route::create(proto.routes(i), *vhost, path + ".routes[" + std::to_string(i) + "]",
                               known_clusters, stats);
    if (!route.ok()) return route.status();
    vhost->routes_.push_back(std::move(route.value()));
  }
  return vhost;
}

const Route* VirtualHost::route(const http::HeaderMap& request, const SplitPath& split,
                                uint64_t random) const {
  for (const auto& route : routes_) {
    if (route->matches(request, split, random)) return route.get();
  }
  return nullptr;
}

StatusOr<std::shared_ptr<const RouteConfig>> RouteConfig::create(
    const envoy::config::route::v3::RouteConfiguration& proto, const Known* known_clusters,
    stats::Store* stats) {
  // An RDS resource arrives here without passing the bootstrap loader: run the same protocol
  // rules and supported-fields check, so nothing set is silently ignored.
  RETURN_IF_ERROR(config::validateMessage(proto));
  RETURN_IF_ERROR(config::checkSupportedFields(proto));
  if (proto.has_validate_clusters() && !proto.validate_clusters().value()) {
    known_clusters = nullptr;
  }
  std::shared_ptr<RouteConfig> config(new RouteConfig());
  config->name_ = proto.name();
  config->ignore_port_ = proto.ignore_port_in_host_matching();
  config->most_specific_wins_ = proto.most_specific_header_mutations_wins();
  auto request =
      HeaderMutations::create(proto.request_headers_to_add(), proto.request_headers_to_remove(),
                              "request_headers_to_add", "request_headers_to_remove");
  if (!request.ok()) return request.status();
  config->request_mutations_ = std::move(request.value());
  auto response =
      HeaderMutations::create(proto.response_headers_to_add(), proto.response_headers_to_remove(),
                              "response_headers_to_add", "response_headers_to_remove");
  if (!response.ok()) return response.status();
  config->response_mutations_ = std::move(response.value());
  auto per_filter = toFilterConfigMap(proto.typed_per_filter_config(), "", stats);
  if (!per_filter.ok()) return per_filter.status();
  config->per_filter_config_ = std::move(per_filter.value());
  for (int i = 0; i < proto.virtual_hosts_size(); ++i) {
    const std::string path = "virtual_hosts[" + std::to_string(i) + "]";
    auto vhost = VirtualHost::create(proto.virtual_hosts(i), *config, path, known_clusters, stats);
    if (!vhost.ok()) return vhost.status();
    RETURN_IF_ERROR(config->addDomains(proto.virtual_hosts(i), vhost.value().get(), path));
    config->vhosts_.push_back(std::move(vhost.value()));
  }
  return std::shared_ptr<const RouteConfig>(std::move(config));
}

Status RouteConfig::addDomains(const envoy::config::route::v3::VirtualHost& proto,
                               const VirtualHost* vhost, const std::string& path) {
  for (int j = 0; j < proto.domains_size(); ++j) {
    const std::string domain_path = path + ".domains[" + std::to_string(j) + "]";
    const std::string domain = toLower(proto.domains(j));
    auto duplicate = [&] {
      return Status::error(domain_path +
                           ": only unique values for domains are permitted; "
                           "duplicate entry of domain " +
                           domain);
    };
    if (domain == "*") {
      if (default_ != nullptr) {
        return Status::error(domain_path + ": only a single wildcard domain is permitted");
      }
      default_ = vhost;
    } else if (!domain.empty() && domain.front() == '*') {
      if (!suffix_[domain.size() - 1].emplace(domain.substr(1), vhost).second) return duplicate();
    } else if (!domain.empty() && domain.back() == '*') {
      if (!prefix_[domain.size() - 1].emplace(domain.substr(0, domain.size() - 1), vhost).second) {
        return duplicate();
      }
    } else if (!exact_.emplace(domain, vhost).second) {
      return duplicate();
    }
  }
  return Status();
}

const VirtualHost* RouteConfig::findVirtualHost(std::string_view authority) const {
  // Only "*": no name to fold and look up (the common single-virtual-host config).
  if (exact_.empty() && suffix_.empty() && prefix_.empty()) return default_;
  std::string host = toLower(ignore_port_ ? stripPort(authority) : authority);
  if (!exact_.empty()) {
    auto it = exact_.find(host);
    if (it != exact_.end()) return it->second;
  }
  if (const VirtualHost* v = findWildcard(suffix_, host, /*suffix=*/true)) return v;
  if (const VirtualHost* v = findWildcard(prefix_, host, /*suffix=*/false)) return v;
  return default_;
}

const Route* RouteConfig::route(const http::HeaderMap& request, uint64_t random) const {
  const VirtualHost* vhost = findVirtualHost(request.host());
  if (vhost == nullptr) return nullptr;
  return vhost->route(request, splitPath(request.path()), random);
}

}  // namespace remora::router
