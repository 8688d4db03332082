#include "upstream/load_assignment.h"

namespace remora::upstream {

std::string localityKey(const envoy::config::core::v3::Locality& locality) {
  if (locality.region().empty() && locality.zone().empty() && locality.sub_zone().empty()) {
    return {};
  }
  return locality.region() + "/" + locality.zone() + "/" + locality.sub_zone();
}

uint32_t overprovisioningFactor(const envoy::config::endpoint::v3::ClusterLoadAssignment& cla) {
  return cla.policy().has_overprovisioning_factor() ? cla.policy().overprovisioning_factor().value()
                                                    : 140;
}

StatusOr<HostVector> hostsFromLoadAssignment(
    const envoy::config::endpoint::v3::ClusterLoadAssignment& cla) {
  using envoy::config::core::v3::HealthStatus;
  HostVector hosts;
  for (const auto& locality : cla.endpoints()) {
    const std::string key = localityKey(locality.locality());
    const uint32_t locality_weight =
        locality.has_load_balancing_weight() ? locality.load_balancing_weight().value() : 0;
    for (const auto& lb_endpoint : locality.lb_endpoints()) {
      const auto& sa = lb_endpoint.endpoint().address().socket_address();
      auto address = net::Address::parse(sa.address(), static_cast<uint16_t>(sa.port_value()));
      if (!address.ok()) {
        return Status::error("endpoint address \"" + sa.address() + "\" is not an IP address");
      }
      const uint32_t weight =
          lb_endpoint.has_load_balancing_weight() ? lb_endpoint.load_balancing_weight().value() : 1;
      auto host = std::make_shared<Host>(*address, weight, lb_endpoint.endpoint().hostname(),
                                         locality.priority(), key, locality_weight);
      // Envoy: UNHEALTHY, DRAINING and TIMEOUT take a host out; DEGRADED keeps it for when the
      // healthy hosts fall short; HEALTHY and UNKNOWN keep it in.
      switch (lb_endpoint.health_status()) {
        case HealthStatus::UNHEALTHY:
        case HealthStatus::DRAINING:
        case HealthStatus::TIMEOUT:
          host->healthFlagSet(HealthFlag::FailedEdsHealth);
          break;
        case HealthStatus::DEGRADED:
          host->healthFlagSet(HealthFlag::DegradedEdsHealth);
          break;
        default:
          break;
      }
      hosts.push_back(std::move(host));
    }
  }
  return hosts;
}

}  // namespace remora::upstream
