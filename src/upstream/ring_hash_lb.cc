#include "upstream/ring_hash_lb.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/hash.h"

namespace remora::upstream {

RingHashTable::RingHashTable(const HostVector& hosts, const RingHashLbConfig& config)
    : hosts_(hosts) {
  if (hosts.empty()) return;
  double total_weight = 0;
  for (const auto& host : hosts) total_weight += host->weight;
  double min_share = 1.0;
  for (const auto& host : hosts) min_share = std::min(min_share, host->weight / total_weight);
  // The least-weighted host gets ceil(min_share * minimum_ring_size) entries; the others in
  // proportion. Capped by maximum_ring_size. The arithmetic (doubles, in this order) is Envoy's,
  // so entry counts match to the last fractional carry.
  const double scale =
      std::min(std::ceil(min_share * static_cast<double>(config.minimum_ring_size)) / min_share,
               static_cast<double>(config.maximum_ring_size));
  ring_.reserve(static_cast<size_t>(std::ceil(scale)));
  const bool murmur = config.hash_function == RingHashLbConfig::HashFunction::MurmurHash2;
  min_hashes_per_host_ = UINT64_MAX;
  // Running sums across hosts let fractional entry counts carry over instead of being rounded
  // per host.
  double current = 0;
  double target = 0;
  std::string key;
  for (uint32_t i = 0; i < hosts.size(); ++i) {
    target += scale * (hosts[i]->weight / total_weight);
    key = hosts[i]->address_string;
    key += '_';
    const size_t prefix = key.size();
    uint64_t count = 0;
    for (; current < target; ++current, ++count) {
      key.resize(prefix);
      key += std::to_string(count);
      const uint64_t hash = murmur ? murmurHash2(key, kStdHashSeed) : xxHash64(key);
      ring_.push_back({hash, i});
    }
    min_hashes_per_host_ = std::min(min_hashes_per_host_, count);
    max_hashes_per_host_ = std::max(max_hashes_per_host_, count);
  }
  std::sort(ring_.begin(), ring_.end(),
            [](const Entry& a, const Entry& b) { return a.hash < b.hash; });
}

HostConstSharedPtr RingHashTable::chooseHost(uint64_t hash, uint32_t attempt) const {
  if (ring_.empty()) return nullptr;
  // The first entry whose hash is >= the request's; past the last entry the ring wraps.
  auto it = std::lower_bound(ring_.begin(), ring_.end(), hash,
                             [](const Entry& e, uint64_t h) { return e.hash < h; });
  size_t index = it == ring_.end() ? 0 : static_cast<size_t>(it - ring_.begin());
  // A re-pick walks on along the ring (Envoy's way to find another host for a retry).
  index = (index + attempt) % ring_.size();
  return hosts_[ring_[index].host];
}

}  // namespace remora::upstream
