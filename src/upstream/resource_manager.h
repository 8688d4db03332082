#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "envoy/config/cluster/v3/circuit_breaker.pb.h"
#include "stats/store.h"

namespace remora::upstream {

// Envoy's RoutingPriority: a route's `priority` picks which circuit breaker thresholds apply.
enum class ResourcePriority : uint8_t { Default = 0, High = 1 };
inline constexpr size_t kNumResourcePriorities = 2;

class ResourceManager;

// One circuit-breaker counter (connections, pending requests, requests or retries), shared by
// every worker: an atomic count against a maximum. tryAcquire() is a compare-and-swap, so the
// limit holds exactly however many workers race for the last slot.
class Resource {
 public:
  Resource(ResourceManager& manager, uint64_t max) : manager_(manager), max_(max) {}
  virtual ~Resource() = default;
  Resource(const Resource&) = delete;
  Resource& operator=(const Resource&) = delete;

  bool canCreate() const { return count() < max(); }
  // Takes a slot when one is free.
  bool tryAcquire();
  // Takes a slot even past the limit (Envoy opens a pool's first connection regardless).
  void acquire();
  void release();
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  virtual uint64_t max() const { return max_; }

 protected:
  ResourceManager& manager_;

 private:
  const uint64_t max_;
  std::atomic<uint64_t> count_{0};
};

// A slot held for an object's lifetime (a connection, a pending request, an active stream);
// released once, by release() or the destructor.
class ResourceHold {
 public:
  ResourceHold() = default;
  explicit ResourceHold(Resource& resource) : resource_(&resource) {}
  ResourceHold(ResourceHold&& other) noexcept : resource_(other.resource_) {
    other.resource_ = nullptr;
  }
  ResourceHold& operator=(ResourceHold&& other) noexcept {
    if (this != &other) {
      release();
      resource_ = other.resource_;
      other.resource_ = nullptr;
    }
    return *this;
  }
  ~ResourceHold() { release(); }
  void release() {
    if (resource_ != nullptr) resource_->release();
    resource_ = nullptr;
  }
  bool held() const { return resource_ != nullptr; }

 private:
  Resource* resource_ = nullptr;
};

// The circuit breakers of one cluster at one priority (Envoy's ResourceManagerImpl), from the
// CircuitBreakers.Thresholds for that priority (Envoy's defaults without one: 1024 connections,
// 1024 pending requests, 1024 requests, 3 retries). With a retry_budget the retry limit is
// max(budget_percent% of active + pending requests, min_retry_concurrency) instead of
// max_retries. Keeps the gauges cluster.<name>.circuit_breakers.<default|high>.{cx,rq_pending,
// rq,rq_retry}_open (1 while the limit is reached) and, with track_remaining, remaining_{cx,
// pending,rq,retries}.
class ResourceManager {
 public:
  struct Limits {
    uint64_t max_connections = 1024;
    uint64_t max_pending_requests = 1024;
    uint64_t max_requests = 1024;
    uint64_t max_retries = 3;
    // Set when a retry_budget is configured: it replaces max_retries.
    std::optional<double> budget_percent;
    std::optional<uint32_t> min_retry_concurrency;
    bool track_remaining = false;

    // The thresholds for `priority` in `proto` (the first entry naming it), or Envoy's defaults.
    static Limits fromProto(const envoy::config::cluster::v3::CircuitBreakers& proto,
                            ResourcePriority priority);
  };

  // `stat_prefix`: "cluster.<name>.circuit_breakers.<default|high>.".
  ResourceManager(const Limits& limits, stats::Store& store, const std::string& stat_prefix);
  ResourceManager(const ResourceManager&) = delete;
  ResourceManager& operator=(const ResourceManager&) = delete;

  Resource& connections() { return connections_; }
  Resource& pendingRequests() { return pending_requests_; }
  Resource& requests() { return requests_; }
  Resource& retries() { return retries_; }
  const Limits& limits() const { return limits_; }

  // The retry budget's current maximum, as Envoy computes it (truncated percentage).
  static uint64_t retryBudgetMax(double budget_percent, uint32_t min_retry_concurrency,
                                 uint64_t active_and_pending);

 private:
  friend class Resource;

  // The retry limit: a retry budget follows the active and pending requests.
  class RetryResource final : public Resource {
   public:
    RetryResource(ResourceManager& manager, uint64_t max) : Resource(manager, max) {}
    uint64_t max() const override;
  };

  // A gauge several workers update: each publishes the value it computed by adding the
  // difference to the last published one, so the gauge's sum is always a published value.
  struct SharedGauge {
    stats::Gauge* gauge = nullptr;
    std::atomic<int64_t> published{0};
    void publish(int64_t value);
  };
  struct ResourceGauges {
    SharedGauge open;
    SharedGauge remaining;  // gauge null without track_remaining
  };

  void onChange(const Resource& resource);
  void updateGauges(const Resource& resource, ResourceGauges& gauges);

  const Limits limits_;
  Resource connections_;
  Resource pending_requests_;
  Resource requests_;
  RetryResource retries_;
  ResourceGauges cx_gauges_;
  ResourceGauges pending_gauges_;
  ResourceGauges rq_gauges_;
  ResourceGauges retry_gauges_;
};

// A cluster's resource managers, one per priority. Held by shared_ptr from the Cluster so that a
// rebuilt snapshot of the same cluster (membership or health changed) carries the same counts:
// connections and requests opened under the old snapshot release into the same object.
class ClusterResourceManagers {
 public:
  ClusterResourceManagers(const envoy::config::cluster::v3::CircuitBreakers& proto,
                          stats::Store& store, const std::string& cluster_name);
  ResourceManager& get(ResourcePriority priority) const {
    return *managers_[static_cast<size_t>(priority)];
  }

 private:
  std::array<std::unique_ptr<ResourceManager>, kNumResourcePriorities> managers_;
};
using ClusterResourceManagersSharedPtr = std::shared_ptr<ClusterResourceManagers>;

}  // namespace remora::upstream
