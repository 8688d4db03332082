#include "remoractl/bootstrap_builder.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <yaml-cpp/yaml.h>

#include <map>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb.h"
#include "remoractl/flags.h"
#include "remoractl/yaml_text.h"

namespace remora::remoractl {
namespace {

using envoy::config::bootstrap::v3::Bootstrap;
using envoy::config::cluster::v3::Cluster;
using envoy::config::listener::v3::Listener;
using HttpConnectionManager =
    envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;

void setSocketAddress(envoy::config::core::v3::Address* address, const std::string& host,
                      uint32_t port) {
  address->mutable_socket_address()->set_address(host);
  address->mutable_socket_address()->set_port_value(port);
}

// A cluster of one endpoint, named and typed as Istio's bootstrap has it.
Cluster oneEndpointCluster(const std::string& name, Cluster::DiscoveryType type,
                           const std::string& host, uint32_t port, int64_t connect_timeout_ms) {
  Cluster cluster;
  cluster.set_name(name);
  cluster.set_type(type);
  cluster.mutable_connect_timeout()->set_seconds(connect_timeout_ms / 1000);
  cluster.mutable_connect_timeout()->set_nanos((connect_timeout_ms % 1000) * 1000000);
  auto* assignment = cluster.mutable_load_assignment();
  assignment->set_cluster_name(name);
  setSocketAddress(
      assignment->add_endpoints()->add_lb_endpoints()->mutable_endpoint()->mutable_address(), host,
      port);
  return cluster;
}

// `<listen>:<port>`, one HTTP connection manager whose only route sends `prefix` to `cluster`
// (optionally rewriting the prefix).
Listener adminRouteListener(const std::string& listen, uint32_t port,
                            const std::string& stat_prefix, const std::string& prefix,
                            const std::string& rewrite, const std::string& cluster) {
  Listener listener;
  listener.set_name(fmt::format("{}_{}", listen, port));
  setSocketAddress(listener.mutable_address(), listen, port);
  HttpConnectionManager hcm;
  hcm.set_stat_prefix(stat_prefix);
  auto* vhost = hcm.mutable_route_config()->add_virtual_hosts();
  vhost->set_name("backend");
  vhost->add_domains("*");
  auto* route = vhost->add_routes();
  route->mutable_match()->set_prefix(prefix);
  route->mutable_route()->set_cluster(cluster);
  if (!rewrite.empty()) route->mutable_route()->set_prefix_rewrite(rewrite);
  auto* router = hcm.add_http_filters();
  router->set_name("envoy.filters.http.router");
  router->mutable_typed_config()->PackFrom(envoy::extensions::filters::http::router::v3::Router());
  auto* filter = listener.add_filter_chains()->add_filters();
  filter->set_name("envoy.filters.network.http_connection_manager");
  filter->mutable_typed_config()->PackFrom(hcm);
  return listener;
}

// "host:port" (host a name, an IPv4 address or a [bracketed] IPv6 address).
StatusOr<std::pair<std::string, uint32_t>> splitHostPort(const std::string& value) {
  const auto colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == value.size()) {
    return Status::error(fmt::format("--discovery-address: expected host:port, got '{}'", value));
  }
  std::string host = value.substr(0, colon);
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  uint32_t port = 0;
  for (char c : value.substr(colon + 1)) {
    if (c < '0' || c > '9' || port > 65535) {
      return Status::error(fmt::format("--discovery-address: bad port in '{}'", value));
    }
    port = port * 10 + (c - '0');
  }
  if (port == 0 || port > 65535) {
    return Status::error(fmt::format("--discovery-address: bad port in '{}'", value));
  }
  return std::pair{host, port};
}

bool isIp(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

}  // namespace

Status SidecarBootstrapOptions::validate() const {
  if (pod_name.empty()) return Status::error("the pod name is required (--pod-name or POD_NAME)");
  if (pod_namespace.empty()) {
    return Status::error("the namespace is required (--pod-namespace or POD_NAMESPACE)");
  }
  if (splitList(instance_ip).empty()) {
    return Status::error("the pod IP is required (--instance-ip or INSTANCE_IP)");
  }
  for (const auto& ip : splitList(instance_ip)) {
    if (!isIp(ip)) return Status::error(fmt::format("--instance-ip: not an IP address: '{}'", ip));
  }
  if (!isIp(listen_address)) {
    return Status::error(fmt::format("--listen-address: not an IP address: '{}'", listen_address));
  }
  for (auto [flag, port] : {std::pair{"--admin-port", admin_port},
                            {"--health-port", health_port},
                            {"--prometheus-port", prometheus_port}}) {
    if (port == 0 || port > 65535) return Status::error(fmt::format("{}: not a port", flag));
  }
  if (interception_mode != "REDIRECT") {
    return Status::error(
        fmt::format("--interception-mode: '{}' is not supported (REDIRECT)", interception_mode));
  }
  return {};
}

StatusOr<Bootstrap> buildSidecarBootstrap(const SidecarBootstrapOptions& options) {
  RETURN_IF_ERROR(options.validate());
  const auto ips = splitList(options.instance_ip);
  const std::string workload =
      options.workload_name.empty() ? options.pod_name : options.workload_name;
  const std::string& ns = options.pod_namespace;

  Bootstrap bootstrap;
  auto* node = bootstrap.mutable_node();
  node->set_id(
      fmt::format("sidecar~{}~{}.{}~{}.svc.cluster.local", ips[0], options.pod_name, ns, ns));
  node->set_cluster(fmt::format("{}.{}", workload, ns));
  auto& meta = *node->mutable_metadata()->mutable_fields();
  meta["NAMESPACE"].set_string_value(ns);
  auto& labels = *meta["LABELS"].mutable_struct_value()->mutable_fields();
  for (const auto& [key, value] : options.labels) labels[key].set_string_value(value);
  meta["SERVICE_ACCOUNT"].set_string_value(options.service_account);
  meta["INSTANCE_IPS"].set_string_value(fmt::format("{}", fmt::join(ips, ",")));
  meta["INTERCEPTION_MODE"].set_string_value(options.interception_mode);
  meta["WORKLOAD_NAME"].set_string_value(workload);

  setSocketAddress(bootstrap.mutable_admin()->mutable_address(), "127.0.0.1", options.admin_port);

  auto* resources = bootstrap.mutable_static_resources();
  // Both helper clusters reach the admin listener: /ready for readiness, /stats/prometheus.
  *resources->add_clusters() =
      oneEndpointCluster("prometheus_stats", Cluster::STATIC, "127.0.0.1", options.admin_port, 250);
  *resources->add_clusters() =
      oneEndpointCluster("agent", Cluster::STATIC, "127.0.0.1", options.admin_port, 250);

  if (options.discovery_address != "none") {
    auto host_port = splitHostPort(options.discovery_address);
    if (!host_port.ok()) return host_port.status();
    const auto& [host, port] = host_port.value();
    Cluster xds = oneEndpointCluster("xds-grpc", isIp(host) ? Cluster::STATIC : Cluster::STRICT_DNS,
                                     host, port, 1000);
    envoy::extensions::upstreams::http::v3::HttpProtocolOptions h2;
    h2.mutable_explicit_http_config()->mutable_http2_protocol_options();
    (*xds.mutable_typed_extension_protocol_options())
        ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
            .PackFrom(h2);
    *resources->add_clusters() = std::move(xds);

    auto* dynamic = bootstrap.mutable_dynamic_resources();
    for (auto* source : {dynamic->mutable_lds_config(), dynamic->mutable_cds_config()}) {
      source->mutable_ads();
      source->set_resource_api_version(envoy::config::core::v3::V3);
    }
    auto* ads = dynamic->mutable_ads_config();
    ads->set_api_type(envoy::config::core::v3::ApiConfigSource::GRPC);
    ads->set_transport_api_version(envoy::config::core::v3::V3);
    ads->set_set_node_on_first_message_only(true);
    ads->add_grpc_services()->mutable_envoy_grpc()->set_cluster_name("xds-grpc");
  }

  *resources->add_listeners() = adminRouteListener(options.listen_address, options.health_port,
                                                   "agent", "/healthz/ready", "/ready", "agent");
  *resources->add_listeners() =
      adminRouteListener(options.listen_address, options.prometheus_port, "stats",
                         "/stats/prometheus", "", "prometheus_stats");
  return bootstrap;
}

Status mergeStaticResources(Bootstrap& bootstrap, const Bootstrap& extra) {
  Bootstrap rest = extra;
  rest.mutable_static_resources()->clear_listeners();
  rest.mutable_static_resources()->clear_clusters();
  if (rest.static_resources().ByteSizeLong() == 0) rest.clear_static_resources();
  if (rest.ByteSizeLong() != 0) {
    return Status::error(
        "--static: only static_resources.listeners and static_resources.clusters are merged; "
        "the file sets more: " +
        rest.ShortDebugString());
  }
  for (const auto& listener : extra.static_resources().listeners()) {
    *bootstrap.mutable_static_resources()->add_listeners() = listener;
  }
  for (const auto& cluster : extra.static_resources().clusters()) {
    *bootstrap.mutable_static_resources()->add_clusters() = cluster;
  }
  return {};
}

StatusOr<std::string> bootstrapToYaml(const Bootstrap& bootstrap) {
  google::protobuf::util::JsonPrintOptions json_options;
  json_options.preserve_proto_field_names = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(bootstrap, &json, json_options);
  if (!status.ok()) return Status::error(std::string(status.message()));
  YAML::Emitter out;
  // Node metadata is a Struct, printed in hash-map order: sort it for stable output.
  emitYaml(out, YAML::Load(json), {"metadata"});
  return std::string(out.c_str()) + "\n";
}

StatusOr<std::map<std::string, std::string>> parseLabels(const std::string& value) {
  std::map<std::string, std::string> labels;
  for (const auto& item : splitList(value)) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::error(fmt::format("--labels: expected key=value, got '{}'", item));
    }
    labels[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return labels;
}

}  // namespace remora::remoractl
