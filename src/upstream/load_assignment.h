#pragma once

#include <string>

#include "common/status.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "upstream/host.h"

namespace remora::upstream {

// Reading a ClusterLoadAssignment (a STATIC cluster's load_assignment, an EDS resource): the
// one place endpoints become Hosts.

// "region/zone/sub_zone", the key hosts of one locality share (empty for no locality).
std::string localityKey(const envoy::config::core::v3::Locality& locality);

// ClusterLoadAssignment.policy.overprovisioning_factor as a percentage (default 140: 1.4).
uint32_t overprovisioningFactor(const envoy::config::endpoint::v3::ClusterLoadAssignment& cla);

// A Host per endpoint whose address is an IP socket address, with its weight (default 1),
// hostname, priority and locality. An endpoint EDS reports UNHEALTHY, DRAINING or TIMEOUT gets
// HealthFlag::FailedEdsHealth. An address that is not an IP (a DNS name) is an error.
StatusOr<HostVector> hostsFromLoadAssignment(
    const envoy::config::endpoint::v3::ClusterLoadAssignment& cla);

}  // namespace remora::upstream
