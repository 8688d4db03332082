#include "upstream/original_dst_hosts.h"

#include "common/logger.h"
#include "upstream/cluster.h"

namespace remora::upstream {

OriginalDstHostMap::EntrySharedPtr OriginalDstHostMap::getOrCreate(const net::Address& address) {
  std::string key = address.asString();
  std::lock_guard lock(lock_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    it = entries_
             .emplace(std::move(key), std::make_shared<Entry>(std::make_shared<Host>(address, 1)))
             .first;
  }
  return it->second;
}

HostVector OriginalDstHostMap::hosts() const {
  HostVector out;
  std::lock_guard lock(lock_);
  out.reserve(entries_.size());
  for (const auto& [key, entry] : entries_) out.push_back(entry->host);
  return out;
}

size_t OriginalDstHostMap::sweep() {
  std::lock_guard lock(lock_);
  return std::erase_if(entries_, [](auto& item) {
    Entry& entry = *item.second;
    if (entry.used.exchange(false, std::memory_order_relaxed)) return false;
    entry.removed.store(true, std::memory_order_release);
    return true;
  });
}

OriginalDstCleanup::OriginalDstCleanup(const Cluster& cluster, event::Dispatcher& dispatcher)
    : hosts_(cluster.originalDstHosts()),
      interval_(cluster.lbConfig().original_dst.cleanup_interval) {
  timer_ = dispatcher.createTimer([this, name = cluster.name()] {
    if (size_t removed = hosts_->sweep(); removed != 0) {
      LOG_DEBUG("cluster {}: removed {} unused original destination host(s)", name, removed);
    }
    timer_->enableTimer(interval_);
  });
  timer_->enableTimer(interval_);
  onInitialized();
}

}  // namespace remora::upstream
