#pragma once

// The pilot's input objects, decoded from Kubernetes and Istio manifests into plain structs. Only
// the fields the translation reads are kept; the parser rejects a malformed value with its path.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace remora::pilot {

using Labels = std::map<std::string, std::string>;

// kind/namespace/name: the identity two files may not both define.
struct ObjectKey {
  std::string kind;
  std::string ns;
  std::string name;
  auto operator<=>(const ObjectKey&) const = default;
  std::string str() const { return kind + "/" + ns + "/" + name; }
};

struct ServicePort {
  std::string name;
  uint32_t port = 0;
  std::string protocol = "TCP";  // Kubernetes' protocol (TCP/UDP/SCTP)
  std::optional<std::string> app_protocol;
  uint32_t target_port = 0;      // numeric targetPort, or 0
  std::string target_port_name;  // named targetPort
};

struct Service {
  std::string ns, name;
  std::string cluster_ip;  // "" or "None" for headless
  std::vector<ServicePort> ports;
  Labels selector;
};

// One address of an Endpoints or EndpointSlice object, with the ports it serves by port name.
struct EndpointAddress {
  std::string ip;
  std::string pod;  // targetRef of kind Pod, or ""
  bool ready = true;
};
struct EndpointPort {
  std::string name;
  uint32_t port = 0;
};
// A flat group: every address serves every port (Endpoints' subsets, an EndpointSlice).
struct EndpointGroup {
  std::vector<EndpointAddress> addresses;
  std::vector<EndpointPort> ports;
};
struct Endpoints {
  std::string ns, name;
  std::string service;  // the Service these belong to (Endpoints: its name; slices: the label)
  std::vector<EndpointGroup> groups;
};

struct Pod {
  std::string ns, name;
  std::string ip;
  Labels labels;
  std::string service_account;
};

// ---- Istio networking ----

struct StringMatch {
  enum class Kind { kExact, kPrefix, kRegex } kind = Kind::kExact;
  std::string value;
};

struct HttpMatch {
  std::optional<StringMatch> uri, method, authority;
  std::map<std::string, StringMatch> headers;
  std::map<std::string, StringMatch> without_headers;
  std::map<std::string, StringMatch> query_params;
  std::optional<uint32_t> port;
  bool ignore_uri_case = false;
  Labels source_labels;  // the route applies only to proxies whose workload has these labels
};

struct Destination {
  std::string host;
  std::string subset;
  std::optional<uint32_t> port;
};

struct RouteDestination {
  Destination destination;
  uint32_t weight = 0;
};

struct Percent {
  double value = 100;  // percentage 0..100
};

struct HttpFault {
  std::optional<uint64_t> delay_ms;
  Percent delay_percent;
  std::optional<uint32_t> abort_status;
  std::optional<uint32_t> abort_grpc_status;
  Percent abort_percent;
};

struct HttpRetry {
  uint32_t attempts = 0;
  std::optional<uint64_t> per_try_timeout_ms;
  std::string retry_on;
};

struct HeaderOps {
  std::map<std::string, std::string> set, add;
  std::vector<std::string> remove;
};

// Istio's CorsPolicy (allowOrigins as StringMatches; the deprecated allowOrigin as exact ones).
struct CorsPolicy {
  std::vector<StringMatch> allow_origins;
  std::vector<std::string> allow_methods, allow_headers, expose_headers;
  std::optional<uint64_t> max_age_ms;
  std::optional<bool> allow_credentials;
};

struct HttpRoute {
  std::string name;
  std::vector<HttpMatch> match;
  std::vector<RouteDestination> route;
  std::optional<uint64_t> timeout_ms;
  std::optional<HttpRetry> retries;
  std::optional<HttpFault> fault;
  std::optional<std::string> rewrite_uri, rewrite_authority;
  struct Redirect {
    std::string uri, authority;
    uint32_t code = 301;
  };
  std::optional<Redirect> redirect;
  std::optional<Destination> mirror;
  std::optional<double> mirror_percent;
  HeaderOps request_headers, response_headers;
  std::optional<CorsPolicy> cors;
  // delegate {name, namespace}: this route's matches narrow the delegate VirtualService's routes.
  struct Delegate {
    std::string name, ns;
  };
  std::optional<Delegate> delegate;
};

// L4MatchAttributes (tcp) and TLSMatchAttributes (tls, with sniHosts).
struct L4Match {
  std::vector<std::string> sni_hosts;
  std::vector<std::string> destination_subnets;
  std::optional<uint32_t> port;
  Labels source_labels;
};

// A `tcp` or `tls` route: its matches and weighted destinations.
struct L4Route {
  std::vector<L4Match> match;
  std::vector<RouteDestination> route;
};

struct VirtualService {
  std::string ns, name;
  std::string created;             // metadata.creationTimestamp (RFC 3339 sorts as text), or ""
  std::vector<std::string> hosts;  // empty for a delegate
  std::vector<std::string> gateways;
  std::vector<std::string> export_to;  // empty: every namespace
  std::vector<HttpRoute> http;
  std::vector<L4Route> tcp, tls;
};

// A Sidecar: which workloads it selects and what they may reach.
struct Sidecar {
  std::string ns, name;
  std::string created;
  std::optional<Labels> workload_selector;
  std::vector<std::string> egress_hosts;       // "ns/dnsName" of every egress listener
  std::optional<std::string> outbound_policy;  // REGISTRY_ONLY or ALLOW_ANY
  bool has_ingress = false;                    // accepted, not yet translated
};

// trafficPolicy.connectionPool: circuit breakers, connect timeout, and the upstream HTTP
// protocol options Istio sets (idle timeout, requests and duration per connection, h2).
struct ConnectionPool {
  std::optional<uint32_t> max_connections, max_pending_requests, max_requests, max_retries;
  std::optional<uint64_t> connect_timeout_ms;
  std::optional<uint64_t> http_idle_timeout_ms, tcp_idle_timeout_ms, max_connection_duration_ms;
  std::optional<uint32_t> max_requests_per_connection, max_concurrent_streams;
  std::string h2_upgrade_policy;  // "", DEFAULT, DO_NOT_UPGRADE, UPGRADE
  bool use_client_protocol = false;
};

// trafficPolicy.outlierDetection.
struct OutlierDetection {
  std::optional<uint32_t> consecutive_5xx, consecutive_gateway_errors, max_ejection_percent,
      min_health_percent;
  std::optional<uint64_t> interval_ms, base_ejection_time_ms;
};

// loadBalancer.consistentHash: the request property hashed (routes' hash_policy) and the ring
// (the cluster's RING_HASH or MAGLEV).
struct ConsistentHash {
  enum class Key { kHeader, kCookie, kSourceIp, kQueryParameter } key = Key::kHeader;
  std::string name;  // header, cookie or query parameter name
  std::string cookie_path;
  std::optional<uint64_t> cookie_ttl_ms;
  std::vector<std::pair<std::string, std::string>> cookie_attributes;  // name, value
  // ringHash / maglev, or neither: the deprecated minimumRingSize (a ring of 1024 by default).
  enum class Algorithm { kDefaultRing, kRingHash, kMaglev } algorithm = Algorithm::kDefaultRing;
  uint64_t size = 0;  // minimumRingSize or tableSize; 0 leaves Envoy's default
};

struct LoadBalancer {
  std::optional<std::string> simple;  // ROUND_ROBIN, LEAST_REQUEST, RANDOM, ...
  std::optional<ConsistentHash> consistent_hash;
};

// The parts of a TrafficPolicy that portLevelSettings and subsets replace wholesale.
struct PolicySettings {
  std::optional<LoadBalancer> load_balancer;
  std::optional<ConnectionPool> connection_pool;
  std::optional<OutlierDetection> outlier_detection;
};

struct PortTrafficPolicy : PolicySettings {
  uint32_t port = 0;
};

struct TrafficPolicy : PolicySettings {
  std::vector<PortTrafficPolicy> port_level;
};

struct Subset {
  std::string name;
  Labels labels;
  std::optional<TrafficPolicy> traffic_policy;
};

struct DestinationRule {
  std::string ns, name;
  std::string host;
  std::vector<Subset> subsets;
  std::optional<TrafficPolicy> traffic_policy;
  std::vector<std::string> export_to;       // empty: every namespace
  std::optional<Labels> workload_selector;  // matchLabels: only for these proxies of its namespace
};

struct ServiceEntry {
  std::string ns, name;
  std::vector<std::string> hosts;
  std::vector<std::string> addresses;
  std::vector<ServicePort> ports;
  std::string resolution = "NONE";  // NONE, STATIC, DNS
  struct Endpoint {
    std::string address;
    std::map<std::string, uint32_t> ports;
    Labels labels;
  };
  std::vector<Endpoint> endpoints;
  std::vector<std::string> export_to;
};

// A kind the pilot accepts but does not translate yet (Gateway, security.istio.io, ...).
struct UnsupportedObject {
  std::string api_version;
};

using ObjectBody = std::variant<Service, Endpoints, Pod, VirtualService, DestinationRule,
                                ServiceEntry, Sidecar, UnsupportedObject>;

struct Object {
  ObjectKey key;
  ObjectBody body;
};

}  // namespace remora::pilot
