#include "pilot/istio_parser.h"

#include <arpa/inet.h>

#include <algorithm>
#include <set>
#include <tuple>

namespace remora::pilot {
namespace {

// Fields of a mapping outside `known` are errors: either not Istio's, or not translated yet.
Status checkKeys(const Field& f, const std::set<std::string>& known,
                 const std::set<std::string>& not_yet = {}) {
  if (!f.node.IsMap()) return Status();
  for (const auto& kv : f.node) {
    const std::string key = kv.first.Scalar();
    if (known.count(key)) continue;
    if (not_yet.count(key)) return f[key].error("not yet supported by remora-pilot");
    return f[key].error("unknown field");
  }
  return Status();
}

// Sets `out` when the field is present.
Status optionalUint(const Field& f, std::optional<uint32_t>& out) {
  if (!f.present()) return Status();
  uint32_t v = 0;
  RETURN_IF_ERROR(f.getUint(v));
  out = v;
  return Status();
}

// Istio's Percent ({value: 50}) or the deprecated integer `percent`.
Status parsePercent(const Field& parent, Percent& out) {
  Field percentage = parent["percentage"];
  if (percentage.present()) {
    RETURN_IF_ERROR(percentage.expectMap());
    RETURN_IF_ERROR(percentage["value"].getDouble(out.value));
  } else {
    uint32_t percent = 100;
    RETURN_IF_ERROR(parent["percent"].getUint(percent));
    out.value = percent;
  }
  if (out.value < 0 || out.value > 100) return parent.error("a percentage must be 0-100");
  return Status();
}

Status parseDestination(const Field& f, Destination& out) {
  RETURN_IF_ERROR(f.expectMap());
  RETURN_IF_ERROR(checkKeys(f, {"host", "subset", "port"}));
  RETURN_IF_ERROR(f["host"].getString(out.host));
  if (out.host.empty()) return f["host"].error("required");
  RETURN_IF_ERROR(f["subset"].getString(out.subset));
  if (f["port"].present()) {
    uint32_t number = 0;
    RETURN_IF_ERROR(f["port"]["number"].getUint(number));
    if (number) out.port = number;
  }
  return Status();
}

// A match's `gateways` narrow it to some gateways: remora-pilot serves sidecars only, so a match
// must name "mesh" if it names any (a route for gateways alone is not yet supported).
Status checkMeshGateways(const Field& f) {
  std::vector<std::string> gateways;
  RETURN_IF_ERROR(f.getStringList(gateways));
  if (!gateways.empty() && std::find(gateways.begin(), gateways.end(), "mesh") == gateways.end())
    return f.error("a match for gateways other than mesh is not yet supported by remora-pilot");
  return Status();
}

Status parseRouteDestinations(const Field& route, std::vector<RouteDestination>& out) {
  RETURN_IF_ERROR(route.expectList());
  for (size_t i = 0; i < route.size(); ++i) {
    Field r = route.at(i);
    RETURN_IF_ERROR(r.expectMap());
    RETURN_IF_ERROR(checkKeys(r, {"destination", "weight"}, {"headers"}));
    RouteDestination d;
    if (!r["destination"].present()) return r["destination"].error("required");
    RETURN_IF_ERROR(parseDestination(r["destination"], d.destination));
    RETURN_IF_ERROR(r["weight"].getUint(d.weight));
    out.push_back(d);
  }
  if (out.size() > 1) {
    uint32_t total = 0;
    for (const auto& d : out) total += d.weight;
    if (total == 0) return route.error("weights of several destinations must not all be 0");
  }
  return Status();
}

Status parseMatch(const Field& f, HttpMatch& out) {
  RETURN_IF_ERROR(f.expectMap());
  RETURN_IF_ERROR(checkKeys(f,
                            {"name", "uri", "method", "authority", "headers", "withoutHeaders",
                             "queryParams", "port", "ignoreUriCase", "sourceLabels", "gateways"},
                            {"scheme", "sourceNamespace", "statPrefix"}));
  RETURN_IF_ERROR(f["uri"].getStringMatch(out.uri));
  RETURN_IF_ERROR(f["method"].getStringMatch(out.method));
  RETURN_IF_ERROR(f["authority"].getStringMatch(out.authority));
  RETURN_IF_ERROR(f["headers"].getStringMatchMap(out.headers));
  RETURN_IF_ERROR(f["withoutHeaders"].getStringMatchMap(out.without_headers));
  RETURN_IF_ERROR(f["queryParams"].getStringMatchMap(out.query_params));
  RETURN_IF_ERROR(f["ignoreUriCase"].getBool(out.ignore_uri_case));
  RETURN_IF_ERROR(f["sourceLabels"].getStringMap(out.source_labels));
  RETURN_IF_ERROR(checkMeshGateways(f["gateways"]));
  if (f["port"].present()) {
    uint32_t port = 0;
    RETURN_IF_ERROR(f["port"].getUint(port));
    out.port = port;
  }
  return Status();
}

Status parseFault(const Field& f, HttpFault& out) {
  RETURN_IF_ERROR(f.expectMap());
  RETURN_IF_ERROR(checkKeys(f, {"delay", "abort"}));
  Field delay = f["delay"];
  if (delay.present()) {
    RETURN_IF_ERROR(
        checkKeys(delay, {"fixedDelay", "percentage", "percent"}, {"exponentialDelay"}));
    RETURN_IF_ERROR(delay["fixedDelay"].getDurationMs(out.delay_ms));
    if (!out.delay_ms) return delay["fixedDelay"].error("required");
    RETURN_IF_ERROR(parsePercent(delay, out.delay_percent));
  }
  Field abort = f["abort"];
  if (abort.present()) {
    RETURN_IF_ERROR(
        checkKeys(abort, {"httpStatus", "grpcStatus", "percentage", "percent"}, {"http2Error"}));
    if (abort["httpStatus"].present()) {
      uint32_t status = 0;
      RETURN_IF_ERROR(abort["httpStatus"].getUint(status));
      if (status < 200 || status > 599) return abort["httpStatus"].error("expected 200-599");
      out.abort_status = status;
    } else if (abort["grpcStatus"].present()) {
      std::string code;
      RETURN_IF_ERROR(abort["grpcStatus"].getString(code));
      static const std::map<std::string, uint32_t> codes{{"OK", 0},
                                                         {"CANCELLED", 1},
                                                         {"UNKNOWN", 2},
                                                         {"INVALID_ARGUMENT", 3},
                                                         {"DEADLINE_EXCEEDED", 4},
                                                         {"NOT_FOUND", 5},
                                                         {"ALREADY_EXISTS", 6},
                                                         {"PERMISSION_DENIED", 7},
                                                         {"RESOURCE_EXHAUSTED", 8},
                                                         {"FAILED_PRECONDITION", 9},
                                                         {"ABORTED", 10},
                                                         {"OUT_OF_RANGE", 11},
                                                         {"UNIMPLEMENTED", 12},
                                                         {"INTERNAL", 13},
                                                         {"UNAVAILABLE", 14},
                                                         {"DATA_LOSS", 15},
                                                         {"UNAUTHENTICATED", 16}};
      auto it = codes.find(code);
      if (it == codes.end()) return abort["grpcStatus"].error("unknown gRPC status " + code);
      out.abort_grpc_status = it->second;
    } else {
      return abort.error("needs httpStatus or grpcStatus");
    }
    RETURN_IF_ERROR(parsePercent(abort, out.abort_percent));
  }
  return Status();
}

Status parseHeaderOps(const Field& f, HeaderOps& out) {
  if (!f.present()) return Status();
  RETURN_IF_ERROR(checkKeys(f, {"set", "add", "remove"}));
  RETURN_IF_ERROR(f["set"].getStringMap(out.set));
  RETURN_IF_ERROR(f["add"].getStringMap(out.add));
  RETURN_IF_ERROR(f["remove"].getStringList(out.remove));
  return Status();
}

Status parseHttpRoute(const Field& f, HttpRoute& out) {
  RETURN_IF_ERROR(f.expectMap());
  RETURN_IF_ERROR(checkKeys(
      f,
      {"name", "match", "route", "timeout", "retries", "fault", "rewrite", "redirect", "mirror",
       "mirrorPercentage", "mirror_percent", "mirrorPercent", "headers", "corsPolicy", "delegate"},
      {"directResponse", "mirrors"}));
  RETURN_IF_ERROR(f["name"].getString(out.name));
  Field match = f["match"];
  RETURN_IF_ERROR(match.expectList());
  for (size_t i = 0; i < match.size(); ++i) {
    HttpMatch m;
    RETURN_IF_ERROR(parseMatch(match.at(i), m));
    out.match.push_back(std::move(m));
  }
  RETURN_IF_ERROR(parseRouteDestinations(f["route"], out.route));
  Field delegate = f["delegate"];
  if (delegate.present()) {
    RETURN_IF_ERROR(checkKeys(delegate, {"name", "namespace"}));
    HttpRoute::Delegate d;
    RETURN_IF_ERROR(delegate["name"].getString(d.name));
    RETURN_IF_ERROR(delegate["namespace"].getString(d.ns));
    if (d.name.empty()) return delegate["name"].error("required");
    // Istio: a delegating route carries only match (and name): the delegate's routes act.
    if (!out.route.empty() || f["redirect"].present())
      return delegate.error("a delegating route has no route or redirect of its own");
    out.delegate = d;
  }
  RETURN_IF_ERROR(f["timeout"].getDurationMs(out.timeout_ms));
  Field retries = f["retries"];
  if (retries.present()) {
    RETURN_IF_ERROR(
        checkKeys(retries, {"attempts", "perTryTimeout", "retryOn"}, {"retryRemoteLocalities"}));
    HttpRetry retry;
    RETURN_IF_ERROR(retries["attempts"].getUint(retry.attempts));
    RETURN_IF_ERROR(retries["perTryTimeout"].getDurationMs(retry.per_try_timeout_ms));
    RETURN_IF_ERROR(retries["retryOn"].getString(retry.retry_on));
    out.retries = retry;
  }
  if (f["fault"].present()) {
    HttpFault fault;
    RETURN_IF_ERROR(parseFault(f["fault"], fault));
    out.fault = fault;
  }
  Field rewrite = f["rewrite"];
  if (rewrite.present()) {
    RETURN_IF_ERROR(checkKeys(rewrite, {"uri", "authority"}, {"uriRegexRewrite"}));
    std::string uri, authority;
    RETURN_IF_ERROR(rewrite["uri"].getString(uri));
    RETURN_IF_ERROR(rewrite["authority"].getString(authority));
    if (rewrite["uri"].present()) out.rewrite_uri = uri;
    if (!authority.empty()) out.rewrite_authority = authority;
  }
  Field redirect = f["redirect"];
  if (redirect.present()) {
    RETURN_IF_ERROR(checkKeys(redirect, {"uri", "authority", "redirectCode"},
                              {"port", "derivePort", "scheme"}));
    HttpRoute::Redirect r;
    RETURN_IF_ERROR(redirect["uri"].getString(r.uri));
    RETURN_IF_ERROR(redirect["authority"].getString(r.authority));
    RETURN_IF_ERROR(redirect["redirectCode"].getUint(r.code));
    if (r.code != 301 && r.code != 302 && r.code != 303 && r.code != 307 && r.code != 308)
      return redirect["redirectCode"].error("expected 301, 302, 303, 307 or 308");
    out.redirect = r;
    if (!out.route.empty()) return f.error("a route has either route or redirect, not both");
  }
  if (f["mirror"].present()) {
    Destination mirror;
    RETURN_IF_ERROR(parseDestination(f["mirror"], mirror));
    out.mirror = mirror;
    Percent percent;
    if (f["mirrorPercentage"].present()) {
      RETURN_IF_ERROR(f["mirrorPercentage"]["value"].getDouble(percent.value));
    } else {
      for (const char* legacy : {"mirror_percent", "mirrorPercent"}) {
        uint32_t p = 100;
        RETURN_IF_ERROR(f[legacy].getUint(p));
        if (f[legacy].present()) percent.value = p;
      }
    }
    out.mirror_percent = percent.value;
  }
  Field headers = f["headers"];
  if (headers.present()) {
    RETURN_IF_ERROR(checkKeys(headers, {"request", "response"}));
    RETURN_IF_ERROR(parseHeaderOps(headers["request"], out.request_headers));
    RETURN_IF_ERROR(parseHeaderOps(headers["response"], out.response_headers));
  }
  Field cors = f["corsPolicy"];
  if (cors.present()) {
    RETURN_IF_ERROR(checkKeys(cors,
                              {"allowOrigins", "allowOrigin", "allowMethods", "allowHeaders",
                               "exposeHeaders", "maxAge", "allowCredentials"},
                              {"unmatchedPreflights"}));
    CorsPolicy policy;
    Field origins = cors["allowOrigins"];
    RETURN_IF_ERROR(origins.expectList());
    for (size_t i = 0; i < origins.size(); ++i) {
      std::optional<StringMatch> m;
      RETURN_IF_ERROR(origins.at(i).getStringMatch(m));
      if (m) policy.allow_origins.push_back(*m);
    }
    std::vector<std::string> exact;
    RETURN_IF_ERROR(cors["allowOrigin"].getStringList(exact));
    for (auto& o : exact) policy.allow_origins.push_back({StringMatch::Kind::kExact, o});
    RETURN_IF_ERROR(cors["allowMethods"].getStringList(policy.allow_methods));
    RETURN_IF_ERROR(cors["allowHeaders"].getStringList(policy.allow_headers));
    RETURN_IF_ERROR(cors["exposeHeaders"].getStringList(policy.expose_headers));
    RETURN_IF_ERROR(cors["maxAge"].getDurationMs(policy.max_age_ms));
    if (cors["allowCredentials"].present()) {
      bool allow = false;
      RETURN_IF_ERROR(cors["allowCredentials"].getBool(allow));
      policy.allow_credentials = allow;
    }
    out.cors = std::move(policy);
  }
  if (out.route.empty() && !out.redirect && !out.delegate)
    return f.error("needs route, redirect or delegate");
  return Status();
}

// "10.0.0.0/8", "2001:db8::/32" or a bare address.
bool isCidr(const std::string& text) {
  auto slash = text.find('/');
  const std::string ip = text.substr(0, slash);
  unsigned char buf[sizeof(in6_addr)];
  const bool v6 = ip.find(':') != std::string::npos;
  if (inet_pton(v6 ? AF_INET6 : AF_INET, ip.c_str(), buf) != 1) return false;
  if (slash == std::string::npos) return true;
  const std::string len = text.substr(slash + 1);
  if (len.empty() || len.size() > 3 || !std::all_of(len.begin(), len.end(), ::isdigit))
    return false;
  return std::stoul(len) <= (v6 ? 128u : 32u);
}

// A `tcp` (tls = false) or `tls` route.
Status parseL4Route(const Field& f, bool tls, L4Route& out) {
  RETURN_IF_ERROR(f.expectMap());
  RETURN_IF_ERROR(checkKeys(f, {"match", "route"}));
  Field match = f["match"];
  RETURN_IF_ERROR(match.expectList());
  for (size_t i = 0; i < match.size(); ++i) {
    Field m = match.at(i);
    RETURN_IF_ERROR(m.expectMap());
    std::set<std::string> known{"destinationSubnets", "port", "sourceLabels", "gateways"};
    if (tls) known.insert("sniHosts");
    RETURN_IF_ERROR(checkKeys(m, known, {"sourceNamespace"}));
    L4Match l4;
    RETURN_IF_ERROR(m["sniHosts"].getStringList(l4.sni_hosts));
    if (tls && l4.sni_hosts.empty()) return m["sniHosts"].error("required");
    RETURN_IF_ERROR(m["destinationSubnets"].getStringList(l4.destination_subnets));
    for (size_t s = 0; s < l4.destination_subnets.size(); ++s)
      if (!isCidr(l4.destination_subnets[s]))
        return m["destinationSubnets"].at(s).error("expected an address or CIDR range");
    RETURN_IF_ERROR(optionalUint(m["port"], l4.port));
    RETURN_IF_ERROR(m["sourceLabels"].getStringMap(l4.source_labels));
    RETURN_IF_ERROR(checkMeshGateways(m["gateways"]));
    out.match.push_back(std::move(l4));
  }
  if (tls && out.match.empty()) return match.error("a tls route needs a match with sniHosts");
  RETURN_IF_ERROR(parseRouteDestinations(f["route"], out.route));
  if (out.route.empty()) return f["route"].error("required");
  return Status();
}

Status parseConnectionPool(const Field& f, std::optional<ConnectionPool>& out) {
  if (!f.present()) return Status();
  RETURN_IF_ERROR(checkKeys(f, {"tcp", "http"}));
  ConnectionPool pool;
  Field tcp = f["tcp"];
  // tcpKeepalive needs upstream_connection_options, which remora does not honour yet.
  RETURN_IF_ERROR(
      checkKeys(tcp, {"maxConnections", "connectTimeout", "maxConnectionDuration", "idleTimeout"},
                {"tcpKeepalive"}));
  RETURN_IF_ERROR(optionalUint(tcp["maxConnections"], pool.max_connections));
  RETURN_IF_ERROR(tcp["connectTimeout"].getDurationMs(pool.connect_timeout_ms));
  RETURN_IF_ERROR(tcp["maxConnectionDuration"].getDurationMs(pool.max_connection_duration_ms));
  RETURN_IF_ERROR(tcp["idleTimeout"].getDurationMs(pool.tcp_idle_timeout_ms));
  Field http = f["http"];
  RETURN_IF_ERROR(checkKeys(http, {"http1MaxPendingRequests", "http2MaxRequests", "maxRetries",
                                   "maxRequestsPerConnection", "idleTimeout", "h2UpgradePolicy",
                                   "useClientProtocol", "maxConcurrentStreams"}));
  RETURN_IF_ERROR(optionalUint(http["http1MaxPendingRequests"], pool.max_pending_requests));
  RETURN_IF_ERROR(optionalUint(http["http2MaxRequests"], pool.max_requests));
  RETURN_IF_ERROR(optionalUint(http["maxRetries"], pool.max_retries));
  RETURN_IF_ERROR(optionalUint(http["maxRequestsPerConnection"], pool.max_requests_per_connection));
  RETURN_IF_ERROR(optionalUint(http["maxConcurrentStreams"], pool.max_concurrent_streams));
  RETURN_IF_ERROR(http["idleTimeout"].getDurationMs(pool.http_idle_timeout_ms));
  RETURN_IF_ERROR(http["useClientProtocol"].getBool(pool.use_client_protocol));
  RETURN_IF_ERROR(http["h2UpgradePolicy"].getString(pool.h2_upgrade_policy));
  if (!pool.h2_upgrade_policy.empty() && pool.h2_upgrade_policy != "DEFAULT" &&
      pool.h2_upgrade_policy != "DO_NOT_UPGRADE" && pool.h2_upgrade_policy != "UPGRADE")
    return http["h2UpgradePolicy"].error("expected DEFAULT, DO_NOT_UPGRADE or UPGRADE");
  out = pool;
  return Status();
}

Status parseConsistentHash(const Field& f, std::optional<ConsistentHash>& out) {
  if (!f.present()) return Status();
  RETURN_IF_ERROR(f.expectMap());
  RETURN_IF_ERROR(
      checkKeys(f, {"httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName",
                    "ringHash", "maglev", "minimumRingSize"}));
  ConsistentHash hash;
  int keys = 0;
  if (f["httpHeaderName"].present()) {
    ++keys;
    hash.key = ConsistentHash::Key::kHeader;
    RETURN_IF_ERROR(f["httpHeaderName"].getString(hash.name));
  }
  if (Field cookie = f["httpCookie"]; cookie.present()) {
    ++keys;
    hash.key = ConsistentHash::Key::kCookie;
    RETURN_IF_ERROR(cookie.expectMap());
    RETURN_IF_ERROR(checkKeys(cookie, {"name", "path", "ttl", "attributes"}));
    RETURN_IF_ERROR(cookie["name"].getString(hash.name));
    if (hash.name.empty()) return cookie["name"].error("required");
    RETURN_IF_ERROR(cookie["path"].getString(hash.cookie_path));
    RETURN_IF_ERROR(cookie["ttl"].getDurationMs(hash.cookie_ttl_ms));
    Field attributes = cookie["attributes"];
    RETURN_IF_ERROR(attributes.expectList());
    for (size_t i = 0; i < attributes.size(); ++i) {
      Field a = attributes.at(i);
      RETURN_IF_ERROR(a.expectMap());
      RETURN_IF_ERROR(checkKeys(a, {"name", "value"}));
      std::string name, value;
      RETURN_IF_ERROR(a["name"].getString(name));
      if (name.empty()) return a["name"].error("required");
      RETURN_IF_ERROR(a["value"].getString(value));
      hash.cookie_attributes.emplace_back(name, value);
    }
  }
  if (f["useSourceIp"].present()) {
    bool use = false;
    RETURN_IF_ERROR(f["useSourceIp"].getBool(use));
    if (use) {
      ++keys;
      hash.key = ConsistentHash::Key::kSourceIp;
    }
  }
  if (f["httpQueryParameterName"].present()) {
    ++keys;
    hash.key = ConsistentHash::Key::kQueryParameter;
    RETURN_IF_ERROR(f["httpQueryParameterName"].getString(hash.name));
  }
  if (keys != 1)
    return f.error(
        "needs exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName");
  if ((hash.key == ConsistentHash::Key::kHeader ||
       hash.key == ConsistentHash::Key::kQueryParameter) &&
      hash.name.empty())
    return f.error("the hashed header or query parameter name is empty");
  if (f["ringHash"].present() && f["maglev"].present())
    return f.error("has either ringHash or maglev, not both");
  if (Field ring = f["ringHash"]; ring.present()) {
    RETURN_IF_ERROR(checkKeys(ring, {"minimumRingSize"}));
    hash.algorithm = ConsistentHash::Algorithm::kRingHash;
    std::optional<uint32_t> size;
    RETURN_IF_ERROR(optionalUint(ring["minimumRingSize"], size));
    hash.size = size.value_or(0);
  } else if (Field maglev = f["maglev"]; maglev.present()) {
    RETURN_IF_ERROR(checkKeys(maglev, {"tableSize"}));
    hash.algorithm = ConsistentHash::Algorithm::kMaglev;
    std::optional<uint32_t> size;
    RETURN_IF_ERROR(optionalUint(maglev["tableSize"], size));
    hash.size = size.value_or(0);
  } else {
    std::optional<uint32_t> size;  // deprecated
    RETURN_IF_ERROR(optionalUint(f["minimumRingSize"], size));
    hash.size = size.value_or(0);
  }
  out = hash;
  return Status();
}

Status parseLoadBalancer(const Field& f, std::optional<LoadBalancer>& out) {
  if (!f.present()) return Status();
  RETURN_IF_ERROR(f.expectMap());
  // localityLbSetting needs endpoint localities remora-pilot does not model; warmupDurationSecs
  // needs slow_start_config, which remora does not honour.
  RETURN_IF_ERROR(
      checkKeys(f, {"simple", "consistentHash"}, {"localityLbSetting", "warmupDurationSecs"}));
  LoadBalancer lb;
  std::string simple;
  RETURN_IF_ERROR(f["simple"].getString(simple));
  if (simple == "PASSTHROUGH")
    return f["simple"].error("PASSTHROUGH is not yet supported by remora-pilot");
  if (!simple.empty() && simple != "UNSPECIFIED" && simple != "ROUND_ROBIN" &&
      simple != "LEAST_CONN" && simple != "LEAST_REQUEST" && simple != "RANDOM")
    return f["simple"].error("unknown load balancer " + simple);
  if (!simple.empty()) lb.simple = simple;
  RETURN_IF_ERROR(parseConsistentHash(f["consistentHash"], lb.consistent_hash));
  if (lb.simple && lb.consistent_hash)
    return f.error("has either simple or consistentHash, not both");
  out = lb;
  return Status();
}

Status parseOutlierDetection(const Field& f, std::optional<OutlierDetection>& out) {
  if (!f.present()) return Status();
  RETURN_IF_ERROR(
      checkKeys(f,
                {"consecutive5xxErrors", "consecutiveErrors", "consecutiveGatewayErrors",
                 "interval", "baseEjectionTime", "maxEjectionPercent", "minHealthPercent"},
                {"splitExternalLocalOriginErrors", "consecutiveLocalOriginFailures"}));
  OutlierDetection od;
  RETURN_IF_ERROR(optionalUint(f["consecutiveErrors"], od.consecutive_5xx));  // deprecated name
  RETURN_IF_ERROR(optionalUint(f["consecutive5xxErrors"], od.consecutive_5xx));
  RETURN_IF_ERROR(optionalUint(f["consecutiveGatewayErrors"], od.consecutive_gateway_errors));
  RETURN_IF_ERROR(optionalUint(f["maxEjectionPercent"], od.max_ejection_percent));
  RETURN_IF_ERROR(optionalUint(f["minHealthPercent"], od.min_health_percent));
  RETURN_IF_ERROR(f["interval"].getDurationMs(od.interval_ms));
  RETURN_IF_ERROR(f["baseEjectionTime"].getDurationMs(od.base_ejection_time_ms));
  if (od.max_ejection_percent && *od.max_ejection_percent > 100)
    return f["maxEjectionPercent"].error("expected 0-100");
  out = od;
  return Status();
}

// The four parts portLevelSettings may carry (tls accepted, not applied: no mesh mTLS yet).
Status parsePolicySettings(const Field& f, PolicySettings& out) {
  RETURN_IF_ERROR(parseConnectionPool(f["connectionPool"], out.connection_pool));
  RETURN_IF_ERROR(parseOutlierDetection(f["outlierDetection"], out.outlier_detection));
  RETURN_IF_ERROR(parseLoadBalancer(f["loadBalancer"], out.load_balancer));
  return Status();
}

Status parseTrafficPolicy(const Field& f, std::optional<TrafficPolicy>& out) {
  if (!f.present()) return Status();
  RETURN_IF_ERROR(f.expectMap());
  RETURN_IF_ERROR(checkKeys(
      f, {"loadBalancer", "tls", "connectionPool", "outlierDetection", "portLevelSettings"},
      {"tunnel", "proxyProtocol"}));
  TrafficPolicy policy;
  RETURN_IF_ERROR(parsePolicySettings(f, policy));
  Field ports = f["portLevelSettings"];
  RETURN_IF_ERROR(ports.expectList());
  for (size_t i = 0; i < ports.size(); ++i) {
    Field p = ports.at(i);
    RETURN_IF_ERROR(p.expectMap());
    RETURN_IF_ERROR(
        checkKeys(p, {"port", "loadBalancer", "connectionPool", "outlierDetection", "tls"}));
    PortTrafficPolicy port;
    RETURN_IF_ERROR(checkKeys(p["port"], {"number"}));
    RETURN_IF_ERROR(p["port"]["number"].getUint(port.port));
    if (port.port == 0 || port.port > 65535)
      return p["port"]["number"].error("expected a port 1-65535");
    RETURN_IF_ERROR(parsePolicySettings(p, port));
    policy.port_level.push_back(std::move(port));
  }
  out = std::move(policy);
  return Status();
}

}  // namespace

Status parseVirtualService(const Field& spec, VirtualService& out) {
  RETURN_IF_ERROR(checkKeys(spec, {"hosts", "gateways", "http", "exportTo", "tcp", "tls"}));
  // No hosts: a delegate, used only through a root VirtualService's http delegate.
  RETURN_IF_ERROR(spec["hosts"].getStringList(out.hosts));
  RETURN_IF_ERROR(spec["gateways"].getStringList(out.gateways));
  RETURN_IF_ERROR(spec["exportTo"].getStringList(out.export_to));
  Field http = spec["http"];
  RETURN_IF_ERROR(http.expectList());
  for (size_t i = 0; i < http.size(); ++i) {
    HttpRoute route;
    RETURN_IF_ERROR(parseHttpRoute(http.at(i), route));
    if (route.delegate && out.hosts.empty())
      return http.at(i)["delegate"].error("a delegate VirtualService cannot delegate further");
    out.http.push_back(std::move(route));
  }
  for (auto [key, tls, routes] : {std::tuple{"tcp", false, &out.tcp}, {"tls", true, &out.tls}}) {
    Field list = spec[key];
    RETURN_IF_ERROR(list.expectList());
    if (list.size() > 0 && out.hosts.empty())
      return list.error("a delegate VirtualService has http routes only");
    for (size_t i = 0; i < list.size(); ++i) {
      L4Route route;
      RETURN_IF_ERROR(parseL4Route(list.at(i), tls, route));
      routes->push_back(std::move(route));
    }
  }
  return Status();
}

Status parseSidecar(const Field& spec, Sidecar& out) {
  RETURN_IF_ERROR(checkKeys(spec,
                            {"workloadSelector", "egress", "ingress", "outboundTrafficPolicy"},
                            {"inboundConnectionPool"}));
  Field selector = spec["workloadSelector"];
  if (selector.present()) {
    RETURN_IF_ERROR(checkKeys(selector, {"labels"}));
    Labels labels;
    RETURN_IF_ERROR(selector["labels"].getStringMap(labels));
    out.workload_selector = labels;
  }
  Field egress = spec["egress"];
  RETURN_IF_ERROR(egress.expectList());
  for (size_t i = 0; i < egress.size(); ++i) {
    Field e = egress.at(i);
    RETURN_IF_ERROR(e.expectMap());
    // A port-specific egress listener (own bind address or capture mode) is not translated yet.
    RETURN_IF_ERROR(checkKeys(e, {"hosts"}, {"port", "bind", "captureMode"}));
    std::vector<std::string> hosts;
    RETURN_IF_ERROR(e["hosts"].getStringList(hosts));
    if (hosts.empty()) return e["hosts"].error("at least one host is required");
    for (size_t h = 0; h < hosts.size(); ++h) {
      auto slash = hosts[h].find('/');
      if (slash == std::string::npos || slash == 0 || slash + 1 == hosts[h].size())
        return e["hosts"].at(h).error("expected namespace/dnsName");
      out.egress_hosts.push_back(hosts[h]);
    }
  }
  Field ingress = spec["ingress"];
  RETURN_IF_ERROR(ingress.expectList());
  out.has_ingress = ingress.size() > 0;
  Field policy = spec["outboundTrafficPolicy"];
  if (policy.present()) {
    RETURN_IF_ERROR(checkKeys(policy, {"mode"}, {"egressProxy"}));
    std::string mode;
    RETURN_IF_ERROR(policy["mode"].getString(mode));
    if (mode != "REGISTRY_ONLY" && mode != "ALLOW_ANY")
      return policy["mode"].error("expected REGISTRY_ONLY or ALLOW_ANY");
    out.outbound_policy = mode;
  }
  return Status();
}

Status parseDestinationRule(const Field& spec, DestinationRule& out) {
  RETURN_IF_ERROR(
      checkKeys(spec, {"host", "subsets", "trafficPolicy", "exportTo", "workloadSelector"}));
  RETURN_IF_ERROR(spec["host"].getString(out.host));
  if (out.host.empty()) return spec["host"].error("required");
  RETURN_IF_ERROR(spec["exportTo"].getStringList(out.export_to));
  if (Field selector = spec["workloadSelector"]; selector.present()) {
    RETURN_IF_ERROR(checkKeys(selector, {"matchLabels"}));
    Labels labels;
    RETURN_IF_ERROR(selector["matchLabels"].getStringMap(labels));
    out.workload_selector = std::move(labels);
  }
  Field subsets = spec["subsets"];
  RETURN_IF_ERROR(subsets.expectList());
  for (size_t i = 0; i < subsets.size(); ++i) {
    Field s = subsets.at(i);
    RETURN_IF_ERROR(checkKeys(s, {"name", "labels", "trafficPolicy"}));
    Subset subset;
    RETURN_IF_ERROR(s["name"].getString(subset.name));
    if (subset.name.empty()) return s["name"].error("required");
    RETURN_IF_ERROR(s["labels"].getStringMap(subset.labels));
    RETURN_IF_ERROR(parseTrafficPolicy(s["trafficPolicy"], subset.traffic_policy));
    out.subsets.push_back(std::move(subset));
  }
  return parseTrafficPolicy(spec["trafficPolicy"], out.traffic_policy);
}

Status parseServiceEntry(const Field& spec, ServiceEntry& out) {
  RETURN_IF_ERROR(checkKeys(
      spec, {"hosts", "addresses", "ports", "location", "resolution", "endpoints", "exportTo"},
      {"workloadSelector", "subjectAltNames"}));
  RETURN_IF_ERROR(spec["hosts"].getStringList(out.hosts));
  if (out.hosts.empty()) return spec["hosts"].error("at least one host is required");
  RETURN_IF_ERROR(spec["addresses"].getStringList(out.addresses));
  RETURN_IF_ERROR(spec["exportTo"].getStringList(out.export_to));
  RETURN_IF_ERROR(spec["resolution"].getString(out.resolution));
  Field ports = spec["ports"];
  RETURN_IF_ERROR(ports.expectList());
  for (size_t i = 0; i < ports.size(); ++i) {
    Field p = ports.at(i);
    ServicePort port;
    RETURN_IF_ERROR(p["number"].getUint(port.port));
    if (port.port == 0 || port.port > 65535) return p["number"].error("expected a port 1-65535");
    RETURN_IF_ERROR(p["name"].getString(port.name));
    RETURN_IF_ERROR(p["protocol"].getString(port.protocol));
    RETURN_IF_ERROR(p["targetPort"].getUint(port.target_port));
    if (port.target_port == 0) port.target_port = port.port;
    out.ports.push_back(port);
  }
  Field endpoints = spec["endpoints"];
  RETURN_IF_ERROR(endpoints.expectList());
  for (size_t i = 0; i < endpoints.size(); ++i) {
    Field e = endpoints.at(i);
    ServiceEntry::Endpoint endpoint;
    RETURN_IF_ERROR(e["address"].getString(endpoint.address));
    RETURN_IF_ERROR(e["labels"].getStringMap(endpoint.labels));
    Field eports = e["ports"];
    RETURN_IF_ERROR(eports.expectMap());
    if (eports.present()) {
      for (const auto& kv : eports.node) {
        uint32_t port = 0;
        RETURN_IF_ERROR(eports[kv.first.Scalar()].getUint(port));
        endpoint.ports[kv.first.Scalar()] = port;
      }
    }
    out.endpoints.push_back(endpoint);
  }
  return Status();
}

}  // namespace remora::pilot
