#include "upstream/dns_cluster.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>

#include "common/logger.h"
#include "common/random.h"
#include "envoy/extensions/network/dns_resolver/cares/v3/cares_dns_resolver.pb.h"
#include "upstream/cluster_manager.h"
#include "upstream/load_assignment.h"

namespace remora::upstream {

namespace {

using ProtoCluster = envoy::config::cluster::v3::Cluster;

std::chrono::milliseconds toMs(const google::protobuf::Duration& d) {
  return std::chrono::milliseconds(google::protobuf::util::TimeUtil::DurationToMilliseconds(d));
}

DnsLookupFamily lookupFamily(ProtoCluster::DnsLookupFamily family) {
  switch (family) {
    case ProtoCluster::V4_ONLY:
      return DnsLookupFamily::V4Only;
    case ProtoCluster::V6_ONLY:
      return DnsLookupFamily::V6Only;
    case ProtoCluster::V4_PREFERRED:
      return DnsLookupFamily::V4Preferred;
    case ProtoCluster::ALL:
      return DnsLookupFamily::All;
    default:
      return DnsLookupFamily::Auto;
  }
}

}  // namespace

DnsResolverOptions dnsResolverOptions(const ProtoCluster& proto) {
  DnsResolverOptions options;
  if (!proto.has_typed_dns_resolver_config()) return options;
  envoy::extensions::network::dns_resolver::cares::v3::CaresDnsResolverConfig cares;
  if (!proto.typed_dns_resolver_config().typed_config().UnpackTo(&cares)) return options;
  for (const auto& resolver : cares.resolvers()) {
    const auto& sa = resolver.socket_address();
    // Envoy's resolver port defaults to 53 when none is given.
    const uint32_t port = sa.port_value() != 0 ? sa.port_value() : 53;
    auto address = net::Address::parse(sa.address(), static_cast<uint16_t>(port));
    if (address.ok()) options.resolvers.push_back(*address);
  }
  options.use_tcp = cares.dns_resolver_options().use_tcp_for_dns_lookups();
  options.no_default_search_domain = cares.dns_resolver_options().no_default_search_domain();
  return options;
}

DnsClusterDiscovery::DnsClusterDiscovery(ClusterManager& manager, const Cluster& cluster,
                                         event::Dispatcher& dispatcher)
    : manager_(manager),
      name_(cluster.name()),
      stats_(cluster.stats()),
      logical_(cluster.type() == ClusterType::LogicalDns),
      family_(lookupFamily(cluster.proto().dns_lookup_family())),
      resolver_(dispatcher, dnsResolverOptions(cluster.proto())) {
  const auto& proto = cluster.proto();
  if (proto.has_dns_refresh_rate()) refresh_rate_ = toMs(proto.dns_refresh_rate());
  respect_ttl_ = proto.respect_dns_ttl();
  if (proto.has_dns_failure_refresh_rate()) {
    const auto base = toMs(proto.dns_failure_refresh_rate().base_interval());
    // Envoy: max_interval defaults to ten times base_interval.
    const auto max = proto.dns_failure_refresh_rate().has_max_interval()
                         ? toMs(proto.dns_failure_refresh_rate().max_interval())
                         : base * 10;
    failure_backoff_ = std::pair{base, max};
  }
  for (const auto& locality : proto.load_assignment().endpoints()) {
    for (const auto& lb_endpoint : locality.lb_endpoints()) {
      const auto& sa = lb_endpoint.endpoint().address().socket_address();
      Target target;
      target.dns_name = sa.address();
      target.port = static_cast<uint16_t>(sa.port_value());
      target.weight =
          lb_endpoint.has_load_balancing_weight() ? lb_endpoint.load_balancing_weight().value() : 1;
      target.hostname = lb_endpoint.endpoint().hostname().empty()
                            ? sa.address()
                            : lb_endpoint.endpoint().hostname();
      target.priority = locality.priority();
      target.locality = localityKey(locality.locality());
      target.locality_weight =
          locality.has_load_balancing_weight() ? locality.load_balancing_weight().value() : 0;
      targets_.push_back(std::move(target));
    }
  }
  // targets_ no longer grows: its elements' addresses are stable from here on.
  unresolved_targets_ = targets_.size();
  if (targets_.empty()) onInitialized();
  for (auto& target : targets_) {
    target.timer = dispatcher.createTimer([this, &target] { resolve(target); });
    resolve(target);
  }
}

void DnsClusterDiscovery::resolve(Target& target) {
  stats_.update_attempt.inc();
  resolver_.resolve(target.dns_name, family_,
                    [this, &target](DnsResolver::Status status, std::vector<DnsAnswer> answers) {
                      onResolved(target, status, std::move(answers));
                    });
}

void DnsClusterDiscovery::onResolved(Target& target, DnsResolver::Status status,
                                     std::vector<DnsAnswer> answers) {
  applyAnswers(target, status, std::move(answers));
  if (!target.resolved_once) {
    target.resolved_once = true;
    if (--unresolved_targets_ == 0) onInitialized();
  }
}

void DnsClusterDiscovery::applyAnswers(Target& target, DnsResolver::Status status,
                                       std::vector<DnsAnswer> answers) {
  if (status != DnsResolver::Status::Success) {
    stats_.update_failure.inc();
    target.timer->enableTimer(failureDelay(target.failures++));
    return;
  }
  target.failures = 0;
  stats_.update_success.inc();
  std::chrono::milliseconds next = refresh_rate_;
  if (respect_ttl_ && !answers.empty()) {
    auto ttl = std::min_element(answers.begin(), answers.end(), [](const auto& a, const auto& b) {
                 return a.ttl < b.ttl;
               })->ttl;
    // A zero TTL would mean resolving without pause; Envoy then keeps dns_refresh_rate.
    if (ttl.count() > 0) next = ttl;
  }
  target.timer->enableTimer(next);

  if (logical_) {
    applyLogicalAnswer(target, answers);
    return;
  }
  HostVector hosts;
  for (const auto& answer : answers) {
    auto address = net::Address::parse(answer.address.ip(), target.port);
    if (!address.ok()) continue;
    hosts.push_back(std::make_shared<Host>(*address, target.weight, target.hostname,
                                           target.priority, target.locality,
                                           target.locality_weight));
  }
  const auto same = [](const HostVector& a, const HostVector& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
      return x->address_string == y->address_string;
    });
  };
  if (same(hosts, target.hosts)) {
    stats_.update_no_rebuild.inc();
    return;
  }
  target.hosts = std::move(hosts);
  HostVector all;
  for (const auto& t : targets_) all.insert(all.end(), t.hosts.begin(), t.hosts.end());
  manager_.updateHosts(name_, std::move(all));
}

void DnsClusterDiscovery::applyLogicalAnswer(Target& target,
                                             const std::vector<DnsAnswer>& answers) {
  // An empty answer keeps the host (Envoy updates only on addresses; connections are never
  // drained).
  std::optional<net::Address> first;
  if (!answers.empty()) {
    auto parsed = net::Address::parse(answers.front().address.ip(), target.port);
    if (parsed.ok()) first = *parsed;
  }
  if (!first) {
    stats_.update_no_rebuild.inc();
    return;
  }
  if (target.hosts.empty()) {
    // The first answer makes the one logical host; from here on it only moves.
    target.hosts.push_back(std::make_shared<Host>(*first, target.weight, target.hostname,
                                                  target.priority, target.locality,
                                                  target.locality_weight));
    manager_.updateHosts(name_, target.hosts);
    return;
  }
  const Host& host = *target.hosts.front();
  if (host.currentAddress() == *first) return;
  // The same Host, a new address: new connections (requests, health checks) go there, open
  // ones stay where they are, and nothing is rebuilt.
  LOG_DEBUG("cluster {}: {} now resolves to {}", name_, target.dns_name, first->asString());
  host.setCurrentAddress(*first);
}

std::chrono::milliseconds DnsClusterDiscovery::failureDelay(uint32_t failures) const {
  if (!failure_backoff_) return refresh_rate_;
  const auto [base, max] = *failure_backoff_;
  // Exponential from base_interval, capped at max_interval, jittered over its upper half so
  // clusters failing together do not retry together.
  const uint64_t cap = static_cast<uint64_t>(
      std::min<int64_t>(max.count(), base.count() << std::min<uint32_t>(failures, 20)));
  const uint64_t half = std::max<uint64_t>(cap / 2, 1);
  return std::chrono::milliseconds(half + randomU64() % (cap - half + 1));
}

}  // namespace remora::upstream
