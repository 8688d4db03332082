#include "config/semantic_checks.h"

#include <arpa/inet.h>

#include <map>
#include <set>
#include <string>

#include "config/reflection_util.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"
#include "envoy/extensions/network/dns_resolver/cares/v3/cares_dns_resolver.pb.h"
#include "upstream/health_checker.h"
#include "upstream/lb_config.h"
#include "upstream/outlier_detection.h"

namespace remora::config {
namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::config::core::v3::SocketAddress;
using envoy::config::listener::v3::FilterChain;
using envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy;

// The canonical text of a numeric IP literal ("::0" and "::" are the same address), or "".
std::string canonicalIp(const std::string& text) {
  char out[INET6_ADDRSTRLEN];
  in_addr v4;
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return inet_ntop(AF_INET, &v4, out, sizeof(out));
  in6_addr v6;
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1)
    return inet_ntop(AF_INET6, &v6, out, sizeof(out));
  return "";
}

Status checkIpLiteral(const SocketAddress& address, const std::string& path) {
  if (canonicalIp(address.address()).empty()) {
    return Status::error(path + ".address: malformed IP address: \"" + address.address() + "\"");
  }
  return Status();
}

Status checkTcpProxyClusters(const FilterChain& chain, const std::string& path,
                             const std::set<std::string>& clusters) {
  for (int i = 0; i < chain.filters_size(); ++i) {
    const auto& filter = chain.filters(i);
    if (typeNameFromUrl(filter.typed_config().type_url()) != TcpProxy::descriptor()->full_name())
      continue;
    TcpProxy proxy;
    if (!filter.typed_config().UnpackTo(&proxy)) continue;  // undecodable: caught when parsed
    const std::string base = indexPath(path + ".filters", i) + ".typed_config";
    if (proxy.has_cluster() || proxy.cluster_specifier_case() == TcpProxy::kCluster) {
      if (clusters.count(proxy.cluster()) == 0) {
        return Status::error(base + ".cluster: unknown cluster \"" + proxy.cluster() + "\"");
      }
    }
    for (int j = 0; j < proxy.weighted_clusters().clusters_size(); ++j) {
      const auto& name = proxy.weighted_clusters().clusters(j).name();
      if (clusters.count(name) == 0) {
        return Status::error(indexPath(base + ".weighted_clusters.clusters", j) +
                             ".name: unknown cluster \"" + name + "\"");
      }
    }
  }
  return Status();
}

// What the discovery types need: DNS clusters name their endpoints (LOGICAL_DNS exactly one)
// and may only use the c-ares resolver; EDS clusters read a file (other config sources come
// with ADS) and carry no endpoints of their own.
Status checkDiscovery(const Cluster& cluster, Cluster::DiscoveryType type,
                      const std::string& path) {
  const bool dns = type == Cluster::STRICT_DNS || type == Cluster::LOGICAL_DNS;
  if (dns) {
    const auto& endpoints = cluster.load_assignment().endpoints();
    if (type == Cluster::LOGICAL_DNS &&
        (endpoints.size() != 1 || endpoints[0].lb_endpoints_size() != 1)) {
      return Status::error(path +
                           ".load_assignment: LOGICAL_DNS clusters must have a single "
                           "locality_lb_endpoint and a single lb_endpoint");
    }
    for (int i = 0; i < endpoints.size(); ++i) {
      for (int j = 0; j < endpoints[i].lb_endpoints_size(); ++j) {
        const auto& address = endpoints[i].lb_endpoints(j).endpoint().address();
        const std::string at =
            indexPath(indexPath(path + ".load_assignment.endpoints", i) + ".lb_endpoints", j) +
            ".endpoint.address.socket_address";
        if (!address.has_socket_address() || address.socket_address().address().empty() ||
            address.socket_address().port_value() == 0) {
          return Status::error(at + ": a DNS cluster endpoint needs a name and a port_value");
        }
        if (endpoints[i].lb_endpoints(j).health_status() !=
            envoy::config::core::v3::HealthStatus::UNKNOWN) {
          return Status::error(at + ": health_status is for EDS, not DNS clusters");
        }
      }
    }
  }
  if (cluster.has_typed_dns_resolver_config()) {
    const std::string at = path + ".typed_dns_resolver_config";
    if (!dns) return Status::error(at + ": only STRICT_DNS and LOGICAL_DNS clusters resolve names");
    envoy::extensions::network::dns_resolver::cares::v3::CaresDnsResolverConfig cares;
    if (!cluster.typed_dns_resolver_config().typed_config().UnpackTo(&cares)) {
      return Status::error(at + ".typed_config: not supported by remora: " +
                           cluster.typed_dns_resolver_config().typed_config().type_url() +
                           " (only envoy.network.dns_resolver.cares)");
    }
    for (int i = 0; i < cares.resolvers_size(); ++i) {
      RETURN_IF_ERROR(
          checkIpLiteral(cares.resolvers(i).socket_address(),
                         indexPath(at + ".typed_config.resolvers", i) + ".socket_address"));
    }
  }
  if (type == Cluster::EDS) {
    const auto& source = cluster.eds_cluster_config().eds_config();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    const bool deprecated_path = !source.path().empty();  // Envoy still accepts it
#pragma GCC diagnostic pop
    if (!source.has_path_config_source() && !deprecated_path && !source.has_ads()) {
      return Status::error(path +
                           ".eds_cluster_config.eds_config: remora reads EDS from a file "
                           "(path_config_source or path) or the ADS stream (ads)");
    }
    if (cluster.has_load_assignment()) {
      return Status::error(path + ".load_assignment: EDS clusters take endpoints from eds_config");
    }
  } else if (cluster.has_eds_cluster_config()) {
    return Status::error(path + ".eds_cluster_config: only EDS clusters have one");
  }
  return Status();
}

Status checkCluster(const Cluster& cluster, const std::string& path) {
  const auto type =
      cluster.cluster_discovery_type_case() == Cluster::kType ? cluster.type() : Cluster::STATIC;
  const bool original_dst = type == Cluster::ORIGINAL_DST;
  const bool cluster_provided = cluster.lb_policy() == Cluster::CLUSTER_PROVIDED;
  if (original_dst && !cluster_provided) {
    return Status::error(
        path + ".lb_policy: " + Cluster::LbPolicy_Name(cluster.lb_policy()) +
        " is not valid for cluster type ORIGINAL_DST; only CLUSTER_PROVIDED is allowed");
  }
  if (!original_dst && cluster_provided) {
    return Status::error(path + ".lb_policy: CLUSTER_PROVIDED is not valid for cluster type " +
                         Cluster::DiscoveryType_Name(type));
  }
  if (original_dst && cluster.has_load_assignment()) {
    return Status::error(path +
                         ".load_assignment: ORIGINAL_DST clusters must have no load assignment");
  }
  if (cluster.has_upstream_bind_config()) {
    RETURN_IF_ERROR(checkIpLiteral(cluster.upstream_bind_config().source_address(),
                                   path + ".upstream_bind_config.source_address"));
  }
  auto lb_config = upstream::LbConfig::create(cluster, path);
  if (!lb_config.ok()) return lb_config.status();
  RETURN_IF_ERROR(upstream::validateHealthChecks(cluster, path));
  if (cluster.has_outlier_detection()) {
    // Its hosts are made per request on the workers and never join the cluster's members.
    if (original_dst) {
      return Status::error(path +
                           ".outlier_detection: not supported by remora for ORIGINAL_DST clusters");
    }
    auto outlier = upstream::outlier::DetectorConfig::create(cluster.outlier_detection(),
                                                             path + ".outlier_detection");
    if (!outlier.ok()) return outlier.status();
  }
  RETURN_IF_ERROR(checkDiscovery(cluster, type, path));
  if (cluster.common_lb_config().has_locality_weighted_lb_config() &&
      lb_config.value().usesHashKey()) {
    return Status::error(path +
                         ".common_lb_config.locality_weighted_lb_config: not supported by remora "
                         "with lb_policy " +
                         Cluster::LbPolicy_Name(cluster.lb_policy()));
  }
  if (type != Cluster::STATIC) return Status();
  const auto& endpoints = cluster.load_assignment().endpoints();
  for (int i = 0; i < endpoints.size(); ++i) {
    for (int j = 0; j < endpoints[i].lb_endpoints_size(); ++j) {
      const auto& address = endpoints[i].lb_endpoints(j).endpoint().address();
      if (!address.has_socket_address()) continue;
      std::string at =
          indexPath(indexPath(path + ".load_assignment.endpoints", i) + ".lb_endpoints", j) +
          ".endpoint.address.socket_address";
      RETURN_IF_ERROR(checkIpLiteral(address.socket_address(), at));
    }
  }
  return Status();
}

}  // namespace

Status checkSemantics(const envoy::config::bootstrap::v3::Bootstrap& bootstrap) {
  const auto& resources = bootstrap.static_resources();
  std::set<std::string> cluster_names;
  for (int i = 0; i < resources.clusters_size(); ++i) {
    const std::string path = indexPath("static_resources.clusters", i);
    const auto& cluster = resources.clusters(i);
    if (!cluster_names.insert(cluster.name()).second) {
      return Status::error(path + ".name: duplicate cluster name \"" + cluster.name() + "\"");
    }
    RETURN_IF_ERROR(checkCluster(cluster, path));
  }

  std::set<std::string> listener_names;
  std::map<std::string, std::string> bound;  // "ip:port" → first listener's name
  for (int i = 0; i < resources.listeners_size(); ++i) {
    const std::string path = indexPath("static_resources.listeners", i);
    const auto& listener = resources.listeners(i);
    if (!listener_names.insert(listener.name()).second) {
      return Status::error(path + ".name: duplicate listener name \"" + listener.name() + "\"");
    }
    if (listener.address().has_socket_address()) {
      const auto& sa = listener.address().socket_address();
      RETURN_IF_ERROR(checkIpLiteral(sa, path + ".address.socket_address"));
      std::string key = "[" + canonicalIp(sa.address()) + "]:" + std::to_string(sa.port_value());
      auto [it, inserted] = bound.emplace(key, listener.name());
      if (!inserted) {
        return Status::error(path + ".address: listener \"" + listener.name() +
                             "\" has the same address " + sa.address() + ":" +
                             std::to_string(sa.port_value()) + " as listener \"" + it->second +
                             "\"");
      }
    }
    for (int j = 0; j < listener.filter_chains_size(); ++j) {
      RETURN_IF_ERROR(checkTcpProxyClusters(listener.filter_chains(j),
                                            indexPath(path + ".filter_chains", j), cluster_names));
    }
    if (listener.has_default_filter_chain()) {
      RETURN_IF_ERROR(checkTcpProxyClusters(listener.default_filter_chain(),
                                            path + ".default_filter_chain", cluster_names));
    }
  }
  if (bootstrap.admin().address().has_socket_address()) {
    RETURN_IF_ERROR(checkIpLiteral(bootstrap.admin().address().socket_address(),
                                   "admin.address.socket_address"));
  }
  return Status();
}

Status checkResourceSemantics(const google::protobuf::Message& resource) {
  if (const auto* cluster = dynamic_cast<const Cluster*>(&resource)) {
    return checkCluster(*cluster, "cluster " + cluster->name());
  }
  if (const auto* listener =
          dynamic_cast<const envoy::config::listener::v3::Listener*>(&resource)) {
    if (listener->address().has_socket_address()) {
      return checkIpLiteral(listener->address().socket_address(),
                            "listener " + listener->name() + ".address.socket_address");
    }
  }
  return Status();
}

}  // namespace remora::config
