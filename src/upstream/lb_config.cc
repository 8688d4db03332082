#include "upstream/lb_config.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "common/logger.h"

namespace remora::upstream {
namespace {

using ProtoCluster = envoy::config::cluster::v3::Cluster;

bool isPrime(uint64_t n) {
  if (n < 2) return false;
  for (uint64_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

// The lb_config oneof member that goes with each policy (none for the others).
ProtoCluster::LbConfigCase configCaseFor(ProtoCluster::LbPolicy policy) {
  switch (policy) {
    case ProtoCluster::LEAST_REQUEST:
      return ProtoCluster::kLeastRequestLbConfig;
    case ProtoCluster::RING_HASH:
      return ProtoCluster::kRingHashLbConfig;
    case ProtoCluster::MAGLEV:
      return ProtoCluster::kMaglevLbConfig;
    case ProtoCluster::CLUSTER_PROVIDED:
      return ProtoCluster::kOriginalDstLbConfig;
    default:
      return ProtoCluster::LB_CONFIG_NOT_SET;
  }
}

const char* configFieldName(ProtoCluster::LbConfigCase c) {
  const auto* field = ProtoCluster::descriptor()->FindFieldByNumber(static_cast<int>(c));
  return field != nullptr ? field->name().c_str() : "lb_config";
}

}  // namespace

StatusOr<LbConfig> LbConfig::create(const ProtoCluster& proto, const std::string& path) {
  LbConfig config;
  switch (proto.lb_policy()) {
    case ProtoCluster::LEAST_REQUEST:
      config.policy = LbPolicy::LeastRequest;
      break;
    case ProtoCluster::RANDOM:
      config.policy = LbPolicy::Random;
      break;
    case ProtoCluster::RING_HASH:
      config.policy = LbPolicy::RingHash;
      break;
    case ProtoCluster::MAGLEV:
      config.policy = LbPolicy::Maglev;
      break;
    case ProtoCluster::CLUSTER_PROVIDED:
      config.policy = LbPolicy::ClusterProvided;
      break;
    default:
      config.policy = LbPolicy::RoundRobin;
      break;
  }
  const auto set = proto.lb_config_case();
  if (set != ProtoCluster::LB_CONFIG_NOT_SET && set != configCaseFor(proto.lb_policy())) {
    return Status::error(path + "." + configFieldName(set) + ": not valid with lb_policy " +
                         ProtoCluster::LbPolicy_Name(proto.lb_policy()));
  }

  if (proto.has_least_request_lb_config()) {
    const auto& lr = proto.least_request_lb_config();
    if (lr.has_choice_count()) config.least_request.choice_count = lr.choice_count().value();
    if (lr.has_active_request_bias()) {
      const double bias = lr.active_request_bias().default_value();
      if (bias < 0.0 || std::isnan(bias)) {
        LOG_WARN("upstream: invalid active request bias supplied (runtime key {}), using 1.0",
                 lr.active_request_bias().runtime_key());
      } else {
        config.least_request.active_request_bias = bias;
      }
    }
  }

  if (proto.has_ring_hash_lb_config()) {
    const auto& rh = proto.ring_hash_lb_config();
    auto& ring = config.ring_hash;
    if (rh.has_minimum_ring_size()) ring.minimum_ring_size = rh.minimum_ring_size().value();
    if (rh.has_maximum_ring_size()) ring.maximum_ring_size = rh.maximum_ring_size().value();
    ring.hash_function = rh.hash_function() == ProtoCluster::RingHashLbConfig::MURMUR_HASH_2
                             ? RingHashLbConfig::HashFunction::MurmurHash2
                             : RingHashLbConfig::HashFunction::XxHash;
    // Envoy's wording.
    if (ring.minimum_ring_size > ring.maximum_ring_size) {
      return Status::error(path + ".ring_hash_lb_config: ring hash: minimum_ring_size (" +
                           std::to_string(ring.minimum_ring_size) + ") > maximum_ring_size (" +
                           std::to_string(ring.maximum_ring_size) + ")");
    }
  }

  if (proto.has_original_dst_lb_config() && proto.original_dst_lb_config().use_http_header()) {
    std::string name = proto.original_dst_lb_config().http_header_name();
    if (name.empty()) name = "x-envoy-original-dst-host";
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    config.original_dst.http_header_name = std::move(name);
  }
  if (proto.original_dst_lb_config().has_upstream_port_override()) {
    const uint32_t port = proto.original_dst_lb_config().upstream_port_override().value();
    // The proto's own rule (lte 65535).
    if (port > 65535) {
      return Status::error(path + ".original_dst_lb_config.upstream_port_override: " +
                           std::to_string(port) + " is not a port");
    }
    config.original_dst.upstream_port_override = static_cast<uint16_t>(port);
  }
  if (proto.has_cleanup_interval()) {
    config.original_dst.cleanup_interval = std::chrono::milliseconds(
        google::protobuf::util::TimeUtil::DurationToMilliseconds(proto.cleanup_interval()));
  }

  if (proto.has_maglev_lb_config() && proto.maglev_lb_config().has_table_size()) {
    config.maglev.table_size = proto.maglev_lb_config().table_size().value();
  }
  if (config.policy == LbPolicy::Maglev && !isPrime(config.maglev.table_size)) {
    return Status::error(path +
                         ".maglev_lb_config.table_size: The table size of maglev must be prime "
                         "number");
  }
  return config;
}

}  // namespace remora::upstream
