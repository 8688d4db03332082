#include "pilot/sidecar_scope.h"

#include <algorithm>

namespace remora::pilot {
namespace {

bool labelsInclude(const Labels& have, const Labels& want) {
  for (const auto& [k, v] : want) {
    auto it = have.find(k);
    if (it == have.end() || it->second != v) return false;
  }
  return true;
}

// Istio's host matching: "*" is every host, "*.example.com" every name under example.com.
bool dnsMatches(const std::string& pattern, const std::string& host) {
  if (pattern == "*") return true;
  if (pattern.size() > 1 && pattern[0] == '*')
    return host.size() > pattern.size() - 1 &&
           host.compare(host.size() - (pattern.size() - 1), pattern.size() - 1,
                        pattern.substr(1)) == 0;
  return pattern == host;
}

}  // namespace

SidecarScope::SidecarScope(const Model& model, const Proxy& proxy) : proxy_ns_(proxy.ns) {
  const Pod* pod = proxy.pod.empty() ? nullptr : model.findPod(proxy.ns, proxy.pod);
  if (pod == nullptr && !proxy.ip.empty()) pod = model.findPodByIp(proxy.ip);
  if (pod != nullptr) workload_labels_ = pod->labels;

  // The Sidecars that apply, most specific first; a field one leaves out comes from the next.
  const Sidecar* selected = nullptr;
  const Sidecar* ns_default = nullptr;
  const Sidecar* root_default = nullptr;
  for (const Sidecar* s : model.sidecars()) {
    if (s->ns == proxy_ns_ && s->workload_selector) {
      if (!selected && pod && labelsInclude(workload_labels_, *s->workload_selector)) selected = s;
    } else if (s->ns == proxy_ns_ && !s->workload_selector) {
      if (!ns_default) ns_default = s;
    } else if (s->ns == kRootNamespace && !s->workload_selector) {
      if (!root_default) root_default = s;
    }
  }
  bool have_egress = false, have_policy = false;
  for (const Sidecar* s : {selected, ns_default, root_default}) {
    if (s == nullptr) continue;
    if (sidecar_name_.empty()) sidecar_name_ = s->ns + "/" + s->name;
    if (!have_egress && !s->egress_hosts.empty()) {
      have_egress = true;
      for (const auto& h : s->egress_hosts) {
        auto slash = h.find('/');
        EgressHost e{h.substr(0, slash), h.substr(slash + 1)};
        // "." is the Sidecar's namespace; the root default stands in for the proxy's own.
        if (e.ns == ".") e.ns = s == root_default ? proxy_ns_ : s->ns;
        egress_.push_back(std::move(e));
      }
    }
    if (!have_policy && s->outbound_policy) {
      have_policy = true;
      registry_only_ = *s->outbound_policy == "REGISTRY_ONLY";
    }
  }
  limited_ = have_egress;

  key_ = std::to_string(model.version()) + "|" + proxy_ns_ + "|" + sidecar_name_ + "|";
  for (const auto& [k, v] : workload_labels_) key_ += k + "=" + v + ",";
}

bool SidecarScope::exportedHere(const std::vector<std::string>& export_to,
                                const std::string& owner_ns) const {
  if (export_to.empty()) return true;
  for (const auto& to : export_to) {
    if (to == "*" || to == proxy_ns_) return true;
    if (to == "." && owner_ns == proxy_ns_) return true;
  }
  return false;
}

bool SidecarScope::visible(const ServiceView& service) const {
  if (service.from_service_entry && !exportedHere(service.entry->export_to, service.ns))
    return false;
  if (!limited_) return true;
  return std::any_of(egress_.begin(), egress_.end(), [&](const EgressHost& e) {
    // "~" names no namespace: nothing matches it.
    return (e.ns == "*" || e.ns == service.ns) && dnsMatches(e.dns, service.fqdn);
  });
}

std::vector<const VirtualService*> SidecarScope::virtualServices(const Model& model,
                                                                 const std::string& fqdn) const {
  std::vector<const VirtualService*> out;
  for (const VirtualService* vs : model.virtualServices(fqdn)) {
    if (!exportedHere(vs->export_to, vs->ns)) continue;
    // Under a Sidecar, a VirtualService counts when an egress host names its namespace (as
    // Istio selects them): the host alone being visible is not enough.
    if (limited_ && std::none_of(egress_.begin(), egress_.end(), [&](const EgressHost& e) {
          return (e.ns == "*" || e.ns == vs->ns) && dnsMatches(e.dns, fqdn);
        }))
      continue;
    out.push_back(vs);
  }
  return out;
}

bool SidecarScope::selects(const Labels& source_labels) const {
  return labelsInclude(workload_labels_, source_labels);
}

}  // namespace remora::pilot
