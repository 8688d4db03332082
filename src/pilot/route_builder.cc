#include "pilot/route_builder.h"

#include <sstream>

#include "envoy/extensions/filters/http/cors/v3/cors.pb.h"
#include "envoy/extensions/filters/http/fault/v3/fault.pb.h"
#include "envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.pb.h"
#include "pilot/generator.h"
#include "pilot/traffic_policy.h"
#include "pilot/vs_merge.h"

namespace remora::pilot {

std::string destinationCluster(const Model& model, const VirtualService& vs, const Destination& d,
                               uint32_t port) {
  const std::string fqdn = Model::resolveHost(d.host, vs.ns);
  uint32_t number = port;
  if (d.port) {
    number = *d.port;
  } else if (const ServiceView* target = model.findService(fqdn);
             target && target->ports.size() == 1) {
    number = target->ports[0].port;
  }
  return outboundCluster(number, d.subset, fqdn);
}

envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy tcpProxyTo(
    const Model& model, const VirtualService& vs, const std::vector<RouteDestination>& route,
    uint32_t port, const std::string& stat_prefix) {
  envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy tcp;
  tcp.set_stat_prefix(stat_prefix);
  std::vector<const RouteDestination*> destinations;
  for (const auto& d : route)
    if (route.size() == 1 || d.weight > 0) destinations.push_back(&d);
  if (destinations.size() == 1) {
    tcp.set_cluster(destinationCluster(model, vs, destinations[0]->destination, port));
    return tcp;
  }
  for (const auto* d : destinations) {
    auto* c = tcp.mutable_weighted_clusters()->add_clusters();
    c->set_name(destinationCluster(model, vs, d->destination, port));
    c->set_weight(d->weight);
  }
  return tcp;
}

namespace {

namespace route = envoy::config::route::v3;
using envoy::type::v3::FractionalPercent;

// Istio's default when a route has no retries: two attempts on connection-level failures.
constexpr const char* kDefaultRetryOn =
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

void setFraction(double percent, FractionalPercent& out) {
  out.set_numerator(static_cast<uint32_t>(percent * 10000 + 0.5));
  out.set_denominator(FractionalPercent::MILLION);
}

void setDurationMs(uint64_t ms, google::protobuf::Duration& out) {
  out.set_seconds(static_cast<int64_t>(ms / 1000));
  out.set_nanos(static_cast<int32_t>((ms % 1000) * 1000000));
}

void setStringMatch(const StringMatch& m, envoy::type::matcher::v3::StringMatcher& out) {
  switch (m.kind) {
    case StringMatch::Kind::kExact:
      out.set_exact(m.value);
      break;
    case StringMatch::Kind::kPrefix:
      out.set_prefix(m.value);
      break;
    case StringMatch::Kind::kRegex:
      out.mutable_safe_regex()->set_regex(m.value);
      break;
  }
}

void addHeader(route::RouteMatch& match, const std::string& name, const StringMatch& m,
               bool invert) {
  auto* h = match.add_headers();
  h->set_name(name);
  if (m.kind == StringMatch::Kind::kPrefix && m.value.empty())
    h->set_present_match(true);
  else
    setStringMatch(m, *h->mutable_string_match());
  if (invert) h->set_invert_match(true);
}

route::RouteMatch buildMatch(const HttpMatch* m) {
  route::RouteMatch match;
  if (m == nullptr || !m->uri) {
    match.set_prefix("/");
  } else {
    switch (m->uri->kind) {
      case StringMatch::Kind::kExact:
        match.set_path(m->uri->value);
        break;
      case StringMatch::Kind::kPrefix:
        match.set_prefix(m->uri->value);
        break;
      case StringMatch::Kind::kRegex:
        match.mutable_safe_regex()->set_regex(m->uri->value);
        break;
    }
  }
  if (m == nullptr) return match;
  if (m->ignore_uri_case) match.mutable_case_sensitive()->set_value(false);
  for (const auto& [name, sm] : m->headers) addHeader(match, name, sm, false);
  for (const auto& [name, sm] : m->without_headers) addHeader(match, name, sm, true);
  if (m->method) addHeader(match, ":method", *m->method, false);
  if (m->authority) addHeader(match, ":authority", *m->authority, false);
  for (const auto& [name, sm] : m->query_params) {
    auto* q = match.add_query_parameters();
    q->set_name(name);
    setStringMatch(sm, *q->mutable_string_match());
  }
  return match;
}

// `hashed`: the route hashes consistently, so retries must not avoid previous hosts (Istio).
void setRetries(const std::optional<HttpRetry>& retries, route::RouteAction& action,
                const RouteOptions& options, bool hashed = false) {
  if (options.grpc_client && !retries) return;
  uint32_t attempts = retries ? retries->attempts : 2;
  if (attempts == 0) return;
  auto* policy = action.mutable_retry_policy();
  policy->mutable_num_retries()->set_value(attempts);
  std::string retry_on =
      retries && !retries->retry_on.empty() ? retries->retry_on : kDefaultRetryOn;
  // Istio lets retryOn list status codes ("503,connect-failure"): they become
  // retriable_status_codes under retriable-status-codes.
  std::stringstream in(retry_on);
  std::string item, policies;
  bool has_codes = false;
  while (std::getline(in, item, ',')) {
    if (!item.empty() && std::all_of(item.begin(), item.end(), ::isdigit)) {
      policy->add_retriable_status_codes(static_cast<uint32_t>(std::stoul(item)));
      has_codes = true;
      continue;
    }
    if (item == "retriable-status-codes")
      has_codes = true;
    else if (!item.empty())
      policies += (policies.empty() ? "" : ",") + item;
  }
  if (has_codes) {
    policies += (policies.empty() ? "" : ",") + std::string("retriable-status-codes");
    if (policy->retriable_status_codes_size() == 0) policy->add_retriable_status_codes(503);
  }
  policy->set_retry_on(policies);
  if (retries && retries->per_try_timeout_ms)
    setDurationMs(*retries->per_try_timeout_ms, *policy->mutable_per_try_timeout());
  if (!options.grpc_client && !hashed) {
    auto* predicate = policy->add_retry_host_predicate();
    predicate->set_name("envoy.retry_host_predicates.previous_hosts");
    predicate->mutable_typed_config()->PackFrom(
        envoy::extensions::retry::host::previous_hosts::v3::PreviousHostsPredicate());
    policy->set_host_selection_retry_max_attempts(5);
  }
}

void setFault(const HttpFault& fault, route::Route& r) {
  envoy::extensions::filters::http::fault::v3::HTTPFault config;
  if (fault.delay_ms) {
    setDurationMs(*fault.delay_ms, *config.mutable_delay()->mutable_fixed_delay());
    setFraction(fault.delay_percent.value, *config.mutable_delay()->mutable_percentage());
  }
  if (fault.abort_status || fault.abort_grpc_status) {
    if (fault.abort_status)
      config.mutable_abort()->set_http_status(*fault.abort_status);
    else
      config.mutable_abort()->set_grpc_status(*fault.abort_grpc_status);
    setFraction(fault.abort_percent.value, *config.mutable_abort()->mutable_percentage());
  }
  (*r.mutable_typed_per_filter_config())["envoy.filters.http.fault"].PackFrom(config);
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

// Istio's corsPolicy becomes the CORS filter's per-route policy (the HCM carries the filter).
void setCors(const CorsPolicy& cors, route::Route& r) {
  envoy::extensions::filters::http::cors::v3::CorsPolicy policy;
  for (const auto& origin : cors.allow_origins)
    setStringMatch(origin, *policy.add_allow_origin_string_match());
  policy.set_allow_methods(join(cors.allow_methods));
  policy.set_allow_headers(join(cors.allow_headers));
  policy.set_expose_headers(join(cors.expose_headers));
  if (cors.max_age_ms) policy.set_max_age(std::to_string(*cors.max_age_ms / 1000));
  if (cors.allow_credentials)
    policy.mutable_allow_credentials()->set_value(*cors.allow_credentials);
  (*r.mutable_typed_per_filter_config())["envoy.filters.http.cors"].PackFrom(policy);
}

void setHeaderOps(const HeaderOps& ops, bool request, route::Route& r) {
  auto add = [&](const std::map<std::string, std::string>& headers, bool append) {
    for (const auto& [name, value] : headers) {
      auto* h = request ? r.add_request_headers_to_add() : r.add_response_headers_to_add();
      h->mutable_header()->set_key(name);
      h->mutable_header()->set_value(value);
      h->set_append_action(
          append ? envoy::config::core::v3::HeaderValueOption::APPEND_IF_EXISTS_OR_ADD
                 : envoy::config::core::v3::HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD);
    }
  };
  add(ops.set, false);
  add(ops.add, true);
  for (const auto& name : ops.remove)
    (request ? r.add_request_headers_to_remove() : r.add_response_headers_to_remove())
        ->assign(name);
}

// The action part of an Istio HTTPRoute, the same for each of its matches.
void buildAction(const Model& model, const SidecarScope& scope, const VirtualService& vs,
                 const HttpRoute& http, const ServicePort& port, const RouteOptions& options,
                 route::Route& r) {
  if (http.redirect) {
    auto* redirect = r.mutable_redirect();
    if (!http.redirect->uri.empty()) redirect->set_path_redirect(http.redirect->uri);
    if (!http.redirect->authority.empty()) redirect->set_host_redirect(http.redirect->authority);
    switch (http.redirect->code) {
      case 302:
        redirect->set_response_code(route::RedirectAction::FOUND);
        break;
      case 303:
        redirect->set_response_code(route::RedirectAction::SEE_OTHER);
        break;
      case 307:
        redirect->set_response_code(route::RedirectAction::TEMPORARY_REDIRECT);
        break;
      case 308:
        redirect->set_response_code(route::RedirectAction::PERMANENT_REDIRECT);
        break;
      default:
        redirect->set_response_code(route::RedirectAction::MOVED_PERMANENTLY);
        break;
    }
  } else {
    auto* action = r.mutable_route();
    std::vector<const RouteDestination*> destinations;
    for (const auto& d : http.route)
      if (http.route.size() == 1 || d.weight > 0) destinations.push_back(&d);
    if (destinations.size() == 1) {
      action->set_cluster(destinationCluster(model, vs, destinations[0]->destination, port.port));
    } else {
      auto* weighted = action->mutable_weighted_clusters();
      for (const auto* d : destinations) {
        auto* c = weighted->add_clusters();
        c->set_name(destinationCluster(model, vs, d->destination, port.port));
        c->mutable_weight()->set_value(d->weight);
      }
    }
    bool hashed = false;
    for (const auto* d : destinations)
      hashed |= addDestinationHashPolicy(model, vs.ns, d->destination, ruleScope(scope), *action);
    if (http.timeout_ms)
      setDurationMs(*http.timeout_ms, *action->mutable_timeout());
    else if (!options.grpc_client)
      action->mutable_timeout();  // Istio: no timeout unless set
    setRetries(http.retries, *action, options, hashed && destinations.size() == 1);
    if (http.rewrite_uri) action->set_prefix_rewrite(*http.rewrite_uri);
    if (http.rewrite_authority) action->set_host_rewrite_literal(*http.rewrite_authority);
    if (http.mirror) {
      auto* mirror = action->add_request_mirror_policies();
      mirror->set_cluster(destinationCluster(model, vs, *http.mirror, port.port));
      auto* fraction = mirror->mutable_runtime_fraction();
      fraction->set_runtime_key("mirror_fraction");
      setFraction(http.mirror_percent.value_or(100), *fraction->mutable_default_value());
    }
  }
  if (http.fault) setFault(*http.fault, r);
  // Proxyless gRPC has no CORS filter: a browser never talks to it directly.
  if (http.cors && !options.grpc_client) setCors(*http.cors, r);
  setHeaderOps(http.request_headers, true, r);
  setHeaderOps(http.response_headers, false, r);
}

route::Route defaultRoute(const Model& model, const SidecarScope& scope, const ServiceView& service,
                          const ServicePort& port, const RouteOptions& options) {
  route::Route r;
  r.set_name("default");
  r.mutable_match()->set_prefix("/");
  auto* action = r.mutable_route();
  action->set_cluster(outboundCluster(port.port, "", service.fqdn));
  if (!options.grpc_client) action->mutable_timeout();
  setRetries(std::nullopt, *action, options);
  addServiceHashPolicy(model, service, port, ruleScope(scope), *action);
  return r;
}

}  // namespace

route::VirtualHost buildVirtualHost(const Model& model, const SidecarScope& scope,
                                    const ServiceView& service, const ServicePort& port,
                                    std::vector<std::string> domains, const RouteOptions& options) {
  route::VirtualHost vhost;
  vhost.set_name(service.fqdn + ":" + std::to_string(port.port));
  for (auto& d : domains) vhost.add_domains(std::move(d));
  for (const auto& [http, vs] : mergedHttpRoutes(model, scope, service.fqdn)) {
    std::vector<const HttpMatch*> matches;
    for (const auto& m : http.match)
      if ((!m.port || *m.port == port.port) && scope.selects(m.source_labels))
        matches.push_back(&m);
    // Matches only other ports or other workloads: the route is not for this one.
    if (!http.match.empty() && matches.empty()) continue;
    if (matches.empty()) matches.push_back(nullptr);
    for (const HttpMatch* m : matches) {
      route::Route* r = vhost.add_routes();
      if (!http.name.empty()) r->set_name(http.name);
      *r->mutable_match() = buildMatch(m);
      buildAction(model, scope, *vs, http, port, options, *r);
    }
  }
  // No VirtualService, or none with an http route for this port and proxy (only tcp routes,
  // say): the service's own cluster, as Istio's default route.
  if (vhost.routes_size() == 0)
    *vhost.add_routes() = defaultRoute(model, scope, service, port, options);
  return vhost;
}

}  // namespace remora::pilot
