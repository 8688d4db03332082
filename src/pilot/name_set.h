#pragma once

// Subscribed resource names, sorted and unique, immutable and interned: every stream subscribed to
// the same names shares one copy (2,000 sidecars each naming the same 1,000 EDS clusters would
// otherwise hold 2,000 copies). Stored contiguously so that comparing a SotW request's names with
// the subscription, which every ACK repeats, is a run of string compares.

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace remora::pilot {

class NameSet {
 public:
  using Ptr = std::shared_ptr<const NameSet>;
  explicit NameSet(std::vector<std::string> sorted) : names_(std::move(sorted)) {}

  const std::vector<std::string>& names() const { return names_; }
  bool contains(const std::string& name) const;
  size_t size() const { return names_.size(); }
  bool empty() const { return names_.empty(); }
  auto begin() const { return names_.begin(); }
  auto end() const { return names_.end(); }

 private:
  std::vector<std::string> names_;
};

// Not thread-safe: the hub calls it under its lock.
class NameInterner {
 public:
  // The shared set of `names` (sorted and de-duplicated here).
  NameSet::Ptr intern(std::vector<std::string> names);
  static NameSet::Ptr none();

 private:
  std::unordered_map<size_t, std::vector<std::weak_ptr<const NameSet>>> sets_;
  size_t added_since_sweep_ = 0;
};

}  // namespace remora::pilot
