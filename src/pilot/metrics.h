#pragma once

// The pilot's Prometheus metrics, with Istio's names: pilot_xds (connected proxies),
// pilot_xds_pushes{type}, pilot_total_xds_rejects{type} (NACKs), pilot_xds_expired_nonce,
// pilot_proxy_convergence_time (push → ACK, histogram, seconds). Guarded by the hub's lock.

#include <array>
#include <map>
#include <string>

namespace remora::pilot {

struct PilotMetrics {
  static constexpr std::array<double, 9> kBuckets{0.01, 0.05, 0.1, 0.5, 1, 3, 5, 10, 20};

  std::map<std::string, uint64_t> pushes;   // by short type: cds, eds, lds, rds
  std::map<std::string, uint64_t> rejects;  // by short type
  uint64_t expired_nonce = 0;
  uint64_t full_pushes = 0, eds_only_pushes = 0;
  std::array<uint64_t, kBuckets.size()> convergence_buckets{};
  uint64_t convergence_count = 0;
  double convergence_sum = 0;

  void observeConvergence(double seconds);
  // Prometheus text exposition; `connections` is the current pilot_xds gauge.
  std::string render(size_t connections) const;
};

// "cds" for the Cluster type URL, and so on; the URL itself for unknown types.
std::string shortType(const std::string& type_url);

}  // namespace remora::pilot
