#include "pilot/name_set.h"

#include <algorithm>
#include <functional>

namespace remora::pilot {

bool NameSet::contains(const std::string& name) const {
  return std::binary_search(names_.begin(), names_.end(), name);
}

NameSet::Ptr NameInterner::none() {
  static const NameSet::Ptr kNone = std::make_shared<const NameSet>(std::vector<std::string>{});
  return kNone;
}

NameSet::Ptr NameInterner::intern(std::vector<std::string> names) {
  if (!std::is_sorted(names.begin(), names.end())) std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  if (names.empty()) return none();
  size_t hash = names.size();
  for (const auto& n : names) hash = hash * 31 + std::hash<std::string>{}(n);
  auto& bucket = sets_[hash];
  for (const auto& weak : bucket)
    if (auto set = weak.lock(); set && set->names() == names) return set;
  auto set = std::make_shared<const NameSet>(std::move(names));
  bucket.push_back(set);
  // Sets no stream holds any more are dropped now and then.
  if (++added_since_sweep_ >= 1024) {
    added_since_sweep_ = 0;
    for (auto it = sets_.begin(); it != sets_.end();) {
      auto& b = it->second;
      b.erase(std::remove_if(b.begin(), b.end(), [](const auto& w) { return w.expired(); }),
              b.end());
      it = b.empty() ? sets_.erase(it) : std::next(it);
    }
  }
  return set;
}

}  // namespace remora::pilot
