#pragma once

#include <vector>

#include "upstream/hashing_lb.h"
#include "upstream/lb_config.h"

namespace remora::upstream {

// RING_HASH: Envoy's ketama ring. Each host is hashed onto the ring many times ("<address>_<i>"
// with xxHash64, or MurmurHash2 when configured), as often as its share of the total weight
// times the ring's scale; a request takes the first entry at or after its hash, wrapping at the
// end. The scale gives the least-weighted host a whole number of entries with at least
// minimum_ring_size in all, capped at maximum_ring_size. Same hosts, weights and order: the same
// ring as Envoy builds, so keys land where they would behind Envoy.
class RingHashTable final : public HashingTable {
 public:
  RingHashTable(const HostVector& hosts, const RingHashLbConfig& config);
  HostConstSharedPtr chooseHost(uint64_t hash, uint32_t attempt) const override;

  size_t size() const { return ring_.size(); }
  uint64_t minHashesPerHost() const { return min_hashes_per_host_; }
  uint64_t maxHashesPerHost() const { return max_hashes_per_host_; }

 private:
  struct Entry {
    uint64_t hash;
    uint32_t host;  // index into hosts_
  };
  HostVector hosts_;
  std::vector<Entry> ring_;  // sorted by hash
  uint64_t min_hashes_per_host_ = 0;
  uint64_t max_hashes_per_host_ = 0;
};

}  // namespace remora::upstream
