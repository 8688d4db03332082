#pragma once

#include <vector>

#include "upstream/hashing_lb.h"

namespace remora::upstream {

// MAGLEV (Eisenbud et al., NSDI 2016) as Envoy builds it: each host walks its own permutation
// of the table's slots (offset = xxHash64(address) mod M, skip = xxHash64(address, seed 1)
// mod (M - 1) + 1) and the hosts take turns claiming their next free slot until all M are
// taken. Weights: a host whose weight is a third of the largest takes a turn only every third
// round. A request's host is table[hash mod M]. M (table_size) must be prime so every
// permutation visits every slot.
class MaglevTable final : public HashingTable {
 public:
  MaglevTable(const HostVector& hosts, uint64_t table_size);
  HostConstSharedPtr chooseHost(uint64_t hash, uint32_t attempt) const override;

  uint64_t minEntriesPerHost() const { return min_entries_per_host_; }
  uint64_t maxEntriesPerHost() const { return max_entries_per_host_; }

 private:
  HostVector hosts_;
  std::vector<uint32_t> table_;  // indexes into hosts_: 4 bytes a slot for up to 5000011 slots
  uint64_t min_entries_per_host_ = 0;
  uint64_t max_entries_per_host_ = 0;
};

}  // namespace remora::upstream
