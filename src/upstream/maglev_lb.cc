#include "upstream/maglev_lb.h"

#include <algorithm>

#include "common/hash.h"

namespace remora::upstream {
namespace {

// One host's walk through the table while it is being filled.
struct Walker {
  uint32_t host;  // index into the table's hosts
  uint64_t offset;
  uint64_t skip;
  double share;           // weight / total weight
  double next_turn = 0;   // the round (scaled by the largest share) of this host's next turn
  uint64_t position = 0;  // how far along its permutation it is
  uint64_t entries = 0;
};

constexpr uint32_t kFree = UINT32_MAX;

}  // namespace

MaglevTable::MaglevTable(const HostVector& hosts, uint64_t table_size) : hosts_(hosts) {
  if (hosts.empty() || table_size < 2) return;
  double total_weight = 0;
  for (const auto& host : hosts) total_weight += host->weight;
  double max_share = 0;
  std::vector<Walker> walkers;
  walkers.reserve(hosts.size());
  for (uint32_t i = 0; i < hosts.size(); ++i) {
    const std::string& key = hosts[i]->address_string;
    const double share = hosts[i]->weight / total_weight;
    max_share = std::max(max_share, share);
    walkers.push_back(
        {i, xxHash64(key) % table_size, xxHash64(key, 1) % (table_size - 1) + 1, share});
  }
  table_.assign(table_size, kFree);
  uint64_t filled = 0;
  auto slot = [&](const Walker& w) { return (w.offset + w.skip * w.position) % table_size; };
  for (uint64_t round = 1; filled < table_size; ++round) {
    for (Walker& w : walkers) {
      if (filled == table_size) break;
      // A host with the largest share takes every round; one with a third of it every third.
      if (static_cast<double>(round) * w.share < w.next_turn) continue;
      w.next_turn += max_share;
      while (table_[slot(w)] != kFree) ++w.position;
      table_[slot(w)] = w.host;
      ++w.position;
      ++w.entries;
      ++filled;
    }
  }
  min_entries_per_host_ = UINT64_MAX;
  for (const Walker& w : walkers) {
    min_entries_per_host_ = std::min(min_entries_per_host_, w.entries);
    max_entries_per_host_ = std::max(max_entries_per_host_, w.entries);
  }
}

HostConstSharedPtr MaglevTable::chooseHost(uint64_t hash, uint32_t attempt) const {
  if (table_.empty()) return nullptr;
  // A re-pick flips most of the hash's bits (differently per attempt), landing on an unrelated
  // slot: usually another host.
  if (attempt > 0) hash ^= ~static_cast<uint64_t>(attempt - 1);
  return hosts_[table_[hash % table_.size()]];
}

}  // namespace remora::upstream
