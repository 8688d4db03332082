#include "pilot/model.h"

#include <algorithm>
#include <set>

namespace remora::pilot {
namespace {

bool labelsMatch(const Labels* have, const Labels& want) {
  for (const auto& [k, v] : want) {
    if (have == nullptr) return false;
    auto it = have->find(k);
    if (it == have->end() || it->second != v) return false;
  }
  return true;
}

}  // namespace

std::string Model::resolveHost(const std::string& host, const std::string& ns) {
  if (host.find('.') != std::string::npos || host == "*") return host;
  return host + "." + ns + "." + kClusterDomain;
}

Model::Model(std::map<ObjectKey, Object> objects, std::vector<SourceError> errors, uint64_t version)
    : objects_(std::move(objects)), errors_(std::move(errors)), version_(version) {
  std::map<std::string, std::vector<const DestinationRule*>> rules;  // by resolved host
  // Istio reads endpoints from EndpointSlices; Kubernetes also mirrors them into an Endpoints
  // object. Where a service has slices its Endpoints object is ignored, so nothing counts twice.
  std::set<std::string> sliced;  // "ns/service"
  for (const auto& [key, object] : objects_)
    if (const auto* eps = std::get_if<Endpoints>(&object.body); eps && key.kind == "EndpointSlice")
      sliced.insert(eps->ns + "/" + eps->service);
  for (const auto& [key, object] : objects_) {
    if (const auto* svc = std::get_if<Service>(&object.body)) {
      ServiceView view;
      view.name = svc->name;
      view.ns = svc->ns;
      view.fqdn = svc->name + "." + svc->ns + "." + kClusterDomain;
      view.vip = svc->cluster_ip == "None" ? "" : svc->cluster_ip;
      view.ports = svc->ports;
      services_.push_back(std::move(view));
    } else if (const auto* se = std::get_if<ServiceEntry>(&object.body)) {
      for (const auto& host : se->hosts) {
        ServiceView view;
        view.fqdn = host;
        view.name = host;
        view.ns = se->ns;
        // A listener needs one address: a /32 is one, a wider CIDR is not (no VIP then).
        std::string vip = se->addresses.empty() ? "" : se->addresses[0];
        if (auto slash = vip.find('/'); slash != std::string::npos)
          vip = vip.substr(slash) == "/32" ? vip.substr(0, slash) : "";
        view.vip = vip;
        view.ports = se->ports;
        view.from_service_entry = true;
        view.entry = se;
        services_.push_back(std::move(view));
      }
    } else if (const auto* eps = std::get_if<Endpoints>(&object.body)) {
      std::string service = eps->ns + "/" + eps->service;
      if (key.kind == "Endpoints" && sliced.count(service)) continue;
      endpoints_by_service_[service].push_back(eps);
    } else if (const auto* pod = std::get_if<Pod>(&object.body)) {
      if (!pod->ip.empty()) pods_by_ip_[pod->ip] = pod;
    } else if (const auto* dr = std::get_if<DestinationRule>(&object.body)) {
      rules[resolveHost(dr->host, dr->ns)].push_back(dr);
    } else if (const auto* sidecar = std::get_if<Sidecar>(&object.body)) {
      sidecars_.push_back(sidecar);
    } else if (const auto* vs = std::get_if<VirtualService>(&object.body)) {
      bool mesh = vs->gateways.empty() ||
                  std::find(vs->gateways.begin(), vs->gateways.end(), "mesh") != vs->gateways.end();
      if (!mesh) continue;
      for (const auto& host : vs->hosts) vs_by_host_[resolveHost(host, vs->ns)].push_back(vs);
    }
  }
  for (const auto& [host, list] : rules) {
    if (!host.starts_with("*")) {
      rules_by_host_[host] = mergeRules(list);
      continue;
    }
    for (const DestinationRule* dr : mergeRules(list)) wildcard_rules_.emplace_back(host, dr);
  }
  // A Service and a ServiceEntry for one host: the Service wins, as Kubernetes' registry does.
  std::stable_sort(services_.begin(), services_.end(), [](const auto& a, const auto& b) {
    return a.fqdn != b.fqdn ? a.fqdn < b.fqdn : a.from_service_entry < b.from_service_entry;
  });
  services_.erase(std::unique(services_.begin(), services_.end(),
                              [](const auto& a, const auto& b) { return a.fqdn == b.fqdn; }),
                  services_.end());
  for (size_t i = 0; i < services_.size(); ++i) service_index_[services_[i].fqdn] = i;
  // Objects come in namespace/name order; a stable sort by creation time keeps it for ties.
  auto older = [](const auto* a, const auto* b) { return a->created < b->created; };
  for (auto& [host, list] : vs_by_host_) std::stable_sort(list.begin(), list.end(), older);
  std::stable_sort(sidecars_.begin(), sidecars_.end(), older);
  for (const auto& service : services_) {
    if (service.from_service_entry) continue;
    for (const auto& port : service.ports)
      for (const auto& e : endpoints(service, port))
        endpoints_by_ip_[e.ip].push_back(EndpointAt{&service, &port, e.port});
  }
}

const std::vector<Model::EndpointAt>& Model::endpointsAt(const std::string& ip) const {
  static const std::vector<EndpointAt> kNone;
  auto it = endpoints_by_ip_.find(ip);
  return it == endpoints_by_ip_.end() ? kNone : it->second;
}

// Istio merges the rules for one host from one namespace with the same exportTo and selector: the
// first (here by name) keeps its trafficPolicy, or takes a later rule's when it has none, and later
// rules add the subsets it lacks.
std::vector<const DestinationRule*> Model::mergeRules(
    const std::vector<const DestinationRule*>& rules) {
  auto exportSet = [](const DestinationRule* dr) {
    return std::set<std::string>(dr->export_to.begin(), dr->export_to.end());
  };
  std::vector<const DestinationRule*> out;
  for (const DestinationRule* dr : rules) {
    // Rules with different workloadSelectors (or one with and one without) stay apart.
    auto same = std::find_if(out.begin(), out.end(), [&](const DestinationRule* kept) {
      return kept->ns == dr->ns && exportSet(kept) == exportSet(dr) &&
             kept->workload_selector == dr->workload_selector;
    });
    if (same == out.end()) {
      out.push_back(dr);
      continue;
    }
    DestinationRule& merged = merged_rules_.emplace_back(**same);
    for (const auto& subset : dr->subsets) {
      bool known = std::any_of(merged.subsets.begin(), merged.subsets.end(),
                               [&](const Subset& s) { return s.name == subset.name; });
      if (!known) merged.subsets.push_back(subset);
    }
    if (!merged.traffic_policy) merged.traffic_policy = dr->traffic_policy;
    *same = &merged;
  }
  return out;
}

std::vector<ObjectKey> Model::unsupported() const {
  std::vector<ObjectKey> out;
  for (const auto& [key, object] : objects_)
    if (std::holds_alternative<UnsupportedObject>(object.body))
      out.push_back(key);
    else if (const auto* sidecar = std::get_if<Sidecar>(&object.body);
             sidecar && sidecar->has_ingress)
      out.push_back(key);
  return out;
}

const ServiceView* Model::findService(const std::string& fqdn) const {
  auto it = service_index_.find(fqdn);
  return it == service_index_.end() ? nullptr : &services_[it->second];
}

const Pod* Model::findPod(const std::string& ns, const std::string& name) const {
  auto it = objects_.find(ObjectKey{"Pod", ns, name});
  return it == objects_.end() ? nullptr : std::get_if<Pod>(&it->second.body);
}

const Pod* Model::findPodByIp(const std::string& ip) const {
  auto it = pods_by_ip_.find(ip);
  return it == pods_by_ip_.end() ? nullptr : it->second;
}

std::vector<EndpointView> Model::endpoints(const ServiceView& service, const ServicePort& port,
                                           const Labels& subset) const {
  std::vector<EndpointView> out;
  if (service.from_service_entry) {
    for (const auto& e : service.entry->endpoints) {
      if (!labelsMatch(&e.labels, subset)) continue;
      auto it = e.ports.find(port.name);
      out.push_back(EndpointView{e.address, it != e.ports.end() ? it->second : port.target_port,
                                 true, &e.labels});
    }
    return out;
  }
  auto it = endpoints_by_service_.find(service.ns + "/" + service.name);
  if (it == endpoints_by_service_.end()) return out;
  for (const Endpoints* eps : it->second) {
    for (const auto& group : eps->groups) {
      // Kubernetes names endpoint ports after service ports; a single unnamed port matches.
      const EndpointPort* match = nullptr;
      for (const auto& p : group.ports)
        if (p.name == port.name) match = &p;
      if (match == nullptr) continue;
      for (const auto& address : group.addresses) {
        const Pod* pod =
            address.pod.empty() ? findPodByIp(address.ip) : findPod(service.ns, address.pod);
        const Labels* labels = pod ? &pod->labels : nullptr;
        if (!labelsMatch(labels, subset)) continue;
        out.push_back(EndpointView{address.ip, match->port, address.ready, labels});
      }
    }
  }
  return out;
}

namespace {

// DestinationRule exportTo: empty or "*" is every namespace, "." its own, "~" none.
bool exportedTo(const DestinationRule& dr, const std::string& ns) {
  if (dr.export_to.empty()) return true;
  for (const auto& to : dr.export_to)
    if (to == "*" || to == ns || (to == "." && dr.ns == ns)) return true;
  return false;
}

// "*.example.com" matches "a.example.com"; "*" matches everything.
bool wildcardMatches(const std::string& pattern, const std::string& fqdn) {
  const std::string suffix = pattern.substr(1);
  return fqdn.size() > suffix.size() && fqdn.ends_with(suffix);
}

}  // namespace

const DestinationRule* Model::destinationRule(const std::string& fqdn,
                                              const RuleScope& scope) const {
  const std::string& proxy_ns = scope.ns;
  auto exact = rules_by_host_.find(fqdn);
  // A rule with a workloadSelector applies only to the matching proxies of its own namespace.
  auto applies = [&](const DestinationRule& dr, const std::string& ns, bool selected) {
    if (dr.ns != ns || !exportedTo(dr, proxy_ns)) return false;
    if (!selected) return !dr.workload_selector;
    return dr.workload_selector && ns == proxy_ns &&
           labelsMatch(scope.labels, *dr.workload_selector);
  };
  auto inNamespace = [&](const std::string& ns, bool selected) -> const DestinationRule* {
    if (exact != rules_by_host_.end())
      for (const DestinationRule* dr : exact->second)
        if (applies(*dr, ns, selected)) return dr;
    const DestinationRule* best = nullptr;
    size_t best_length = 0;
    for (const auto& [pattern, dr] : wildcard_rules_) {
      if (!applies(*dr, ns, selected) || !wildcardMatches(pattern, fqdn)) continue;
      if (best == nullptr || pattern.size() > best_length) best = dr, best_length = pattern.size();
    }
    return best;
  };
  if (const DestinationRule* dr = inNamespace(proxy_ns, true)) return dr;
  if (const DestinationRule* dr = inNamespace(proxy_ns, false)) return dr;
  const ServiceView* service = findService(fqdn);
  if (service && service->ns != proxy_ns)
    if (const DestinationRule* dr = inNamespace(service->ns, false)) return dr;
  if (proxy_ns != kRootNamespace && (!service || service->ns != kRootNamespace))
    return inNamespace(kRootNamespace, false);
  return nullptr;
}

const VirtualService* Model::findVirtualService(const std::string& ns,
                                                const std::string& name) const {
  auto it = objects_.find(ObjectKey{"VirtualService", ns, name});
  return it == objects_.end() ? nullptr : std::get_if<VirtualService>(&it->second.body);
}

std::vector<const VirtualService*> Model::virtualServices(const std::string& fqdn) const {
  auto it = vs_by_host_.find(fqdn);
  return it == vs_by_host_.end() ? std::vector<const VirtualService*>{} : it->second;
}

}  // namespace remora::pilot
