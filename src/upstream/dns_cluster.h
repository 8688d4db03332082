#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "upstream/cluster_discovery.h"
#include "upstream/dns_resolver.h"

namespace remora::upstream {

// STRICT_DNS and LOGICAL_DNS as Envoy. Each endpoint of the load assignment is a name resolved
// on its own schedule: every dns_refresh_rate (default 5 s), or the answer's TTL with
// respect_dns_ttl, or after a failure dns_failure_refresh_rate's jittered exponential backoff.
// STRICT_DNS: every address of every name is a host. LOGICAL_DNS: one host (Envoy's
// LogicalHost), made at the first answer, whose address then follows the first address of each
// answer (Host::setCurrentAddress): the host, its stats, health and outlier state persist, new
// connections go to the new address and open ones keep theirs. A failed resolution keeps the hosts
// already known. Initialized (warm, as far as discovery goes) once every name's first resolution
// has finished, answered or failed. Counts cluster.<name>.update_attempt / update_success /
// update_failure / update_no_rebuild.
class DnsClusterDiscovery final : public ClusterDiscovery {
 public:
  DnsClusterDiscovery(ClusterManager& manager, const Cluster& cluster,
                      event::Dispatcher& dispatcher);

 private:
  struct Target {
    std::string dns_name;
    uint16_t port;
    uint32_t weight;
    std::string hostname;
    uint32_t priority;
    std::string locality;
    uint32_t locality_weight;
    HostVector hosts;  // from the last successful resolution
    event::TimerPtr timer;
    uint32_t failures = 0;
    bool resolved_once = false;  // its first resolution finished, with or without an answer
  };

  void resolve(Target& target);
  void onResolved(Target& target, DnsResolver::Status status, std::vector<DnsAnswer> answers);
  void applyAnswers(Target& target, DnsResolver::Status status, std::vector<DnsAnswer> answers);
  void applyLogicalAnswer(Target& target, const std::vector<DnsAnswer>& answers);
  std::chrono::milliseconds failureDelay(uint32_t failures) const;

  ClusterManager& manager_;
  const std::string name_;
  ClusterStats& stats_;
  const bool logical_;
  DnsLookupFamily family_;
  std::chrono::milliseconds refresh_rate_{5000};
  bool respect_ttl_ = false;
  std::optional<std::pair<std::chrono::milliseconds, std::chrono::milliseconds>> failure_backoff_;
  std::vector<Target> targets_;
  size_t unresolved_targets_ = 0;  // names whose first resolution has not finished
  DnsResolver resolver_;  // last: destroyed first, cancelling queries that refer to targets_
};

// The resolver settings of a cluster: typed_dns_resolver_config (c-ares) or the system's.
DnsResolverOptions dnsResolverOptions(const envoy::config::cluster::v3::Cluster& proto);

}  // namespace remora::upstream
