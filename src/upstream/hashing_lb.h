#pragma once

#include <memory>

#include "upstream/load_balancer.h"

namespace remora::upstream {

// An immutable map from a 64-bit request hash to a host (a ketama ring, a Maglev table), built
// once per cluster snapshot and read by every worker without a lock.
class HashingTable {
 public:
  virtual ~HashingTable() = default;
  // The host for `hash`; `attempt` > 0 asks for a different host than attempt 0 would give
  // (a retry predicate rejected it). nullptr when the table is empty.
  virtual HostConstSharedPtr chooseHost(uint64_t hash, uint32_t attempt) const = 0;
};
using HashingTableConstSharedPtr = std::shared_ptr<const HashingTable>;

// RING_HASH and MAGLEV per worker: the request's hash (a random one when the route produced
// none, as Envoy) looked up in the shared table.
class HashingLoadBalancer final : public LoadBalancer {
 public:
  explicit HashingLoadBalancer(HashingTableConstSharedPtr table, RandomFn random = randomU64)
      : table_(std::move(table)), random_(random) {}
  HostConstSharedPtr chooseHost(const LoadBalancerContext& context) override {
    const uint64_t hash = context.hash_key ? *context.hash_key : random_();
    return table_->chooseHost(hash, context.host_selection_attempt);
  }

 private:
  const HashingTableConstSharedPtr table_;
  RandomFn random_;
};

class HashingLoadBalancerFactory final : public LoadBalancerFactory {
 public:
  explicit HashingLoadBalancerFactory(HashingTableConstSharedPtr table)
      : table_(std::move(table)) {}
  LoadBalancerPtr create() const override { return std::make_unique<HashingLoadBalancer>(table_); }

 private:
  const HashingTableConstSharedPtr table_;
};

}  // namespace remora::upstream
