#pragma once

// The pilot's in-memory model: an immutable snapshot of every accepted object plus the indexes
// translation needs (services by host, endpoints by service, pods by name and IP). A new snapshot
// replaces the old one as a whole; readers keep theirs (shared_ptr<const Model>).

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pilot/objects.h"

namespace remora::pilot {

inline constexpr const char* kClusterDomain = "svc.cluster.local";
inline constexpr const char* kRootNamespace = "istio-system";  // Istio's default rootNamespace

// Who applies a DestinationRule: the proxy's namespace and its workload's labels (for rules with
// a workloadSelector; null when the proxy's pod is unknown).
struct RuleScope {
  std::string ns = "default";
  const Labels* labels = nullptr;
};

// A host a proxy can reach: a Kubernetes Service or one host of a ServiceEntry.
struct ServiceView {
  std::string fqdn;  // reviews.default.svc.cluster.local
  std::string name;  // reviews
  std::string ns;    // default
  std::string vip;   // cluster IP or the ServiceEntry's first address; "" when none
  std::vector<ServicePort> ports;
  bool from_service_entry = false;
  const ServiceEntry* entry = nullptr;  // when from_service_entry
};

// One endpoint of a service port, with the labels subsets select on.
struct EndpointView {
  std::string ip;
  uint32_t port = 0;
  bool ready = true;
  const Labels* labels = nullptr;  // the pod's labels, or the ServiceEntry endpoint's; may be null
};

// A source's problem with one file, shown in /debug/registryz and the log.
struct SourceError {
  std::string file;
  std::string message;
};

class Model {
 public:
  // Builds the indexes over `objects` (one per key; the source resolved duplicates).
  Model(std::map<ObjectKey, Object> objects, std::vector<SourceError> errors, uint64_t version);
  // The indexes point into the model itself.
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  uint64_t version() const { return version_; }
  const std::map<ObjectKey, Object>& objects() const { return objects_; }
  const std::vector<SourceError>& errors() const { return errors_; }
  const std::vector<ServiceView>& services() const { return services_; }
  // Objects accepted but not translated: unsupported kinds, and Sidecars with ingress listeners.
  std::vector<ObjectKey> unsupported() const;

  // A VirtualService or DestinationRule host resolved in namespace `ns` ("reviews" →
  // "reviews.<ns>.svc.cluster.local"; names with a dot are taken as written).
  static std::string resolveHost(const std::string& host, const std::string& ns);

  const ServiceView* findService(const std::string& fqdn) const;
  // The endpoints of `service`'s port `port`, restricted to those whose labels include `subset`.
  std::vector<EndpointView> endpoints(const ServiceView& service, const ServicePort& port,
                                      const Labels& subset = {}) const;
  // The DestinationRule a proxy applies to `fqdn`, in Istio's lookup order: one in the proxy's
  // namespace (one whose workloadSelector matches the proxy first), else one the service's
  // namespace exports to it, else one the root namespace (istio-system) exports to it; within a
  // namespace an exact host beats the most specific wildcard. Null when none.
  const DestinationRule* destinationRule(const std::string& fqdn, const RuleScope& scope) const;
  // VirtualServices naming `fqdn` among their hosts and bound to the mesh gateway, oldest first
  // (creationTimestamp, then namespace/name): the order Istio merges them in.
  std::vector<const VirtualService*> virtualServices(const std::string& fqdn) const;
  // A VirtualService by namespace and name (a delegate), or null.
  const VirtualService* findVirtualService(const std::string& ns, const std::string& name) const;
  // Every Sidecar, oldest first.
  const std::vector<const Sidecar*>& sidecars() const { return sidecars_; }
  const Pod* findPod(const std::string& ns, const std::string& name) const;
  const Pod* findPodByIp(const std::string& ip) const;

  // A Kubernetes service port with an endpoint at some IP, and that endpoint's port.
  struct EndpointAt {
    const ServiceView* service;
    const ServicePort* port;
    uint32_t endpoint_port;
  };
  // Every Kubernetes service port with an endpoint at `ip` (what a sidecar at that IP serves),
  // indexed once per model so per-proxy translation does not scan the whole registry.
  const std::vector<EndpointAt>& endpointsAt(const std::string& ip) const;

 private:
  std::map<ObjectKey, Object> objects_;
  std::vector<SourceError> errors_;
  uint64_t version_;
  std::vector<ServiceView> services_;
  std::map<std::string, size_t> service_index_;
  std::map<std::string, std::vector<const Endpoints*>> endpoints_by_service_;  // "ns/name"
  std::map<std::string, const Pod*> pods_by_ip_;
  std::map<std::string, std::vector<const DestinationRule*>> rules_by_host_;
  std::vector<std::pair<std::string, const DestinationRule*>> wildcard_rules_;  // "*.suffix"
  std::deque<DestinationRule> merged_rules_;  // several rules for one host, merged

  std::vector<const DestinationRule*> mergeRules(const std::vector<const DestinationRule*>& rules);
  std::map<std::string, std::vector<const VirtualService*>> vs_by_host_;
  std::map<std::string, std::vector<EndpointAt>> endpoints_by_ip_;
  std::vector<const Sidecar*> sidecars_;
};

using ModelPtr = std::shared_ptr<const Model>;

}  // namespace remora::pilot
