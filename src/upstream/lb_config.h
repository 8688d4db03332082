#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"
#include "envoy/config/cluster/v3/cluster.pb.h"

namespace remora::upstream {

enum class LbPolicy { RoundRobin, LeastRequest, Random, RingHash, Maglev, ClusterProvided };

// least_request_lb_config.
struct LeastRequestLbConfig {
  uint32_t choice_count = 2;
  // Unequal weights: effective weight = weight / (active_requests + 1)^bias. Envoy replaces a
  // negative or NaN bias with 1.0 (and warns); so does remora.
  double active_request_bias = 1.0;
};

// ring_hash_lb_config.
struct RingHashLbConfig {
  enum class HashFunction { XxHash, MurmurHash2 };
  uint64_t minimum_ring_size = 1024;
  uint64_t maximum_ring_size = 8 * 1024 * 1024;
  HashFunction hash_function = HashFunction::XxHash;
};

// maglev_lb_config.
struct MaglevLbConfig {
  static constexpr uint64_t kDefaultTableSize = 65537;
  uint64_t table_size = kDefaultTableSize;
};

// original_dst_lb_config and the cluster's cleanup_interval (ORIGINAL_DST).
struct OriginalDstLbConfig {
  // use_http_header: the request header (lower case; default x-envoy-original-dst-host) whose
  // "ip:port" overrides the connection's original destination.
  std::optional<std::string> http_header_name;
  // upstream_port_override: every destination's port becomes this one, whatever chose it.
  std::optional<uint16_t> upstream_port_override;
  // A destination's host (and a worker's pools for it) unused for this long is removed
  // (Envoy's default 5 s).
  std::chrono::milliseconds cleanup_interval{5000};
};

// A cluster's load-balancing policy and its settings, read from the Cluster proto in one place.
struct LbConfig {
  LbPolicy policy = LbPolicy::RoundRobin;
  LeastRequestLbConfig least_request;
  RingHashLbConfig ring_hash;
  MaglevLbConfig maglev;
  OriginalDstLbConfig original_dst;

  // Whether the policy picks by the request's hash (route hash_policy): RING_HASH and MAGLEV.
  bool usesHashKey() const { return policy == LbPolicy::RingHash || policy == LbPolicy::Maglev; }

  // Reads and checks lb_policy and its *_lb_config; `path` names the cluster in errors. Envoy's
  // checks: minimum_ring_size <= maximum_ring_size, a prime Maglev table_size, and a *_lb_config
  // only beside its own lb_policy (the proto says so; remora rejects rather than ignores it).
  static StatusOr<LbConfig> create(const envoy::config::cluster::v3::Cluster& proto,
                                   const std::string& path);
};

}  // namespace remora::upstream
