#include "pilot/traffic_policy.h"

namespace remora::pilot {
namespace {

const PortTrafficPolicy* portLevel(const std::optional<TrafficPolicy>& policy, uint32_t port) {
  if (!policy) return nullptr;
  for (const auto& p : policy->port_level)
    if (p.port == port) return &p;
  return nullptr;
}

const Subset* findSubset(const DestinationRule& dr, const std::string& name) {
  for (const auto& s : dr.subsets)
    if (s.name == name) return &s;
  return nullptr;
}

std::optional<ConsistentHash> hashOf(const PolicySettings* settings) {
  if (settings == nullptr || !settings->load_balancer) return std::nullopt;
  return settings->load_balancer->consistent_hash;
}

}  // namespace

PolicySettings effectivePolicy(const DestinationRule* dr, uint32_t port,
                               const std::string& subset) {
  PolicySettings merged;
  if (dr == nullptr) return merged;
  if (dr->traffic_policy) {
    const PortTrafficPolicy* top_port = portLevel(dr->traffic_policy, port);
    merged = top_port ? static_cast<const PolicySettings&>(*top_port)
                      : static_cast<const PolicySettings&>(*dr->traffic_policy);
  }
  const Subset* s = subset.empty() ? nullptr : findSubset(*dr, subset);
  if (s == nullptr || !s->traffic_policy) return merged;
  const TrafficPolicy& sp = *s->traffic_policy;
  if (sp.load_balancer) merged.load_balancer = sp.load_balancer;
  if (sp.connection_pool) merged.connection_pool = sp.connection_pool;
  if (sp.outlier_detection) merged.outlier_detection = sp.outlier_detection;
  if (const PortTrafficPolicy* subset_port = portLevel(s->traffic_policy, port))
    merged = static_cast<const PolicySettings&>(*subset_port);
  return merged;
}

std::optional<ConsistentHash> destinationHash(const DestinationRule* dr, const std::string& subset,
                                              std::optional<uint32_t> port) {
  if (dr == nullptr) return std::nullopt;
  std::optional<ConsistentHash> hash = hashOf(dr->traffic_policy ? &*dr->traffic_policy : nullptr);
  if (port)
    if (auto pls = hashOf(portLevel(dr->traffic_policy, *port))) hash = pls;
  if (const Subset* s = findSubset(*dr, subset); s && s->traffic_policy) {
    if (auto h = hashOf(&*s->traffic_policy)) hash = h;
    if (port)
      if (auto pls = hashOf(portLevel(s->traffic_policy, *port))) hash = pls;
  }
  return hash;
}

std::optional<ConsistentHash> serviceHash(const DestinationRule* dr, uint32_t port) {
  if (dr == nullptr) return std::nullopt;
  if (auto pls = hashOf(portLevel(dr->traffic_policy, port))) return pls;
  return hashOf(dr->traffic_policy ? &*dr->traffic_policy : nullptr);
}

void addHashPolicy(const ConsistentHash& hash, envoy::config::route::v3::RouteAction& action) {
  auto* policy = action.add_hash_policy();
  switch (hash.key) {
    case ConsistentHash::Key::kHeader:
      policy->mutable_header()->set_header_name(hash.name);
      break;
    case ConsistentHash::Key::kCookie: {
      auto* cookie = policy->mutable_cookie();
      cookie->set_name(hash.name);
      cookie->set_path(hash.cookie_path);
      for (const auto& [name, value] : hash.cookie_attributes) {
        auto* attribute = cookie->add_attributes();
        attribute->set_name(name);
        attribute->set_value(value);
      }
      if (hash.cookie_ttl_ms) {
        cookie->mutable_ttl()->set_seconds(static_cast<int64_t>(*hash.cookie_ttl_ms / 1000));
        cookie->mutable_ttl()->set_nanos(
            static_cast<int32_t>(*hash.cookie_ttl_ms % 1000 * 1000000));
      }
      break;
    }
    case ConsistentHash::Key::kSourceIp:
      policy->mutable_connection_properties()->set_source_ip(true);
      break;
    case ConsistentHash::Key::kQueryParameter:
      policy->mutable_query_parameter()->set_name(hash.name);
      break;
  }
}

bool addDestinationHashPolicy(const Model& model, const std::string& vs_ns, const Destination& d,
                              const RuleScope& scope,
                              envoy::config::route::v3::RouteAction& action) {
  const DestinationRule* dr = model.destinationRule(Model::resolveHost(d.host, vs_ns), scope);
  auto hash = destinationHash(dr, d.subset, d.port);
  if (hash) addHashPolicy(*hash, action);
  return hash.has_value();
}

bool addServiceHashPolicy(const Model& model, const ServiceView& service, const ServicePort& port,
                          const RuleScope& scope, envoy::config::route::v3::RouteAction& action) {
  auto hash = serviceHash(model.destinationRule(service.fqdn, scope), port.port);
  if (hash) addHashPolicy(*hash, action);
  return hash.has_value();
}

}  // namespace remora::pilot
