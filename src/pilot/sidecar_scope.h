#pragma once

// What one proxy may see, decided in one place: the Sidecar resource that applies to it (Istio's
// precedence: a workloadSelector Sidecar in the proxy's namespace matching its labels, else the
// namespace's selector-less Sidecar, else the root namespace's, else none), the services its
// egress hosts (`ns/dnsName`) let it reach, its outbound traffic policy, and the exportTo
// visibility of VirtualServices and ServiceEntries. Every generator asks this scope; a pure
// function of (model, proxy) whose key() is cheap to compare, so translations can be cached by it.

#include <string>
#include <vector>

#include "pilot/model.h"
#include "pilot/proxy.h"

namespace remora::pilot {

class SidecarScope {
 public:
  SidecarScope(const Model& model, const Proxy& proxy);

  // Equal keys mean equal scopes: model version, proxy namespace, the Sidecar applied and the
  // workload's labels (sourceLabels matches read them).
  const std::string& key() const { return key_; }
  // "ns/name" of the Sidecar applied, or "" when none does.
  const std::string& sidecarName() const { return sidecar_name_; }
  // outboundTrafficPolicy REGISTRY_ONLY: unknown destinations go to BlackHoleCluster.
  bool registryOnly() const { return registry_only_; }
  // The proxy's workload labels (its Pod's), for sourceLabels.
  const Labels& workloadLabels() const { return workload_labels_; }
  const std::string& proxyNamespace() const { return proxy_ns_; }

  bool visible(const ServiceView& service) const;
  // VirtualServices for `fqdn` exported to the proxy's namespace and, under a Sidecar, in a
  // namespace an egress host naming `fqdn` selects; in merge order.
  std::vector<const VirtualService*> virtualServices(const Model& model,
                                                     const std::string& fqdn) const;
  // exportTo (empty or "*": everywhere; ".": the owner's namespace; "~": nowhere; else names).
  bool exportedHere(const std::vector<std::string>& export_to, const std::string& owner_ns) const;
  // A sourceLabels selector against the workload (empty selects every proxy).
  bool selects(const Labels& source_labels) const;

 private:
  struct EgressHost {
    std::string ns;   // "*" for any
    std::string dns;  // "*", "*.suffix" or a name
  };
  std::string proxy_ns_;
  Labels workload_labels_;
  std::string sidecar_name_;
  std::vector<EgressHost> egress_;  // empty: everything
  bool limited_ = false;            // an egress list applies
  bool registry_only_ = false;
  std::string key_;
};

}  // namespace remora::pilot
