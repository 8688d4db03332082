#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>

namespace remora::http {

// State HTTP filters keep for the life of one downstream connection, across its streams (Envoy's
// filter state with LifeSpan::Connection); e.g. local_ratelimit's per-connection token bucket.
// Owned by the connection manager, used only on its worker.
class ConnectionFilterState {
 public:
  class Object {
   public:
    virtual ~Object() = default;
  };

  // A fresh key, unique in the process: one per filter config that keeps connection state, so a
  // config replaced by a new one (and reallocated at the same address) never sees the old state.
  static uint64_t newKey() {
    static std::atomic<uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
  }

  // The object stored under `key`, or nullptr.
  template <class T>
  T* get(uint64_t key) const {
    auto it = objects_.find(key);
    return it == objects_.end() ? nullptr : static_cast<T*>(it->second.get());
  }
  // Stores `object` under `key` (replacing what was there) and returns it.
  template <class T>
  T& set(uint64_t key, std::unique_ptr<T> object) {
    T& ref = *object;
    objects_[key] = std::move(object);
    return ref;
  }

 private:
  std::map<uint64_t, std::unique_ptr<Object>> objects_;
};

}  // namespace remora::http
