#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "net/address.h"

namespace remora::upstream {

namespace outlier {
class HostMonitor;
}

// Per-host counters shown by /clusters. Atomics: any worker may connect to any host, and these
// change per connection, not per byte.
struct HostStats {
  std::atomic<uint64_t> cx_total{0};
  std::atomic<int64_t> cx_active{0};
  std::atomic<uint64_t> cx_connect_fail{0};
  // Requests (and tcp_proxy connections) in flight to the host from every worker: what
  // LEAST_REQUEST compares (Envoy's per-host rq_active). Kept by ActiveRequest below.
  std::atomic<int64_t> rq_active{0};
  std::atomic<uint64_t> rq_total{0};
};

// Envoy's host health flags: why a host is not taking traffic (the names /clusters prints in
// health_flags). Several sources may fail a host at once; it is healthy only when none does.
enum class HealthFlag : uint32_t {
  FailedActiveHc = 0x01,      // /failed_active_hc: the active health checker's verdict
  FailedOutlierCheck = 0x02,  // /failed_outlier_check: ejected by outlier detection
  FailedEdsHealth = 0x04,     // /failed_eds_health: EDS said UNHEALTHY, DRAINING or TIMEOUT
  PendingActiveHc = 0x08,     // /pending_active_hc: not yet checked, and the cluster waits for it
  ExcludedViaImmediateHcFail = 0x10,  // /excluded_via_immediate_hc_fail
  ActiveHcTimeout = 0x20,             // /active_hc_timeout: the last failed check timed out
  // Degraded: usable, but only when the healthy hosts cannot take the load (Envoy's degraded
  // priority load). /degraded_active_hc: the check's answer carried x-envoy-degraded;
  // /degraded_eds_health: EDS said DEGRADED.
  DegradedActiveHc = 0x40,
  DegradedEdsHealth = 0x80,
};

// One upstream endpoint. Immutable except for its stats and health flags, which the main thread
// changes (health checking, outlier detection) and workers read when snapshots are rebuilt.
struct Host {
  Host(net::Address address_in, uint32_t weight_in, std::string hostname_in = {},
       uint32_t priority_in = 0, std::string locality_in = {}, uint32_t locality_weight_in = 0)
      : address(address_in),
        address_string(address_in.asString()),
        weight(weight_in),
        hostname(std::move(hostname_in)),
        priority(priority_in),
        locality(std::move(locality_in)),
        locality_weight(locality_weight_in) {}
  // The address the host was made with, and its identity: pools are keyed, and continuing
  // members recognised, by it. A new connection goes to currentAddress(), which differs only
  // for LOGICAL_DNS's logical host.
  const net::Address address;
  // address.asString(), formed once: connection pools are looked up by it on every request.
  const std::string address_string;
  const uint32_t weight;
  const std::string hostname;
  // The load_assignment priority level (0 is the most preferred).
  const uint32_t priority;
  // The LocalityLbEndpoints' locality ("region/zone/sub_zone"; empty: none) and its
  // load_balancing_weight (0: unset), which locality weighted balancing divides traffic by.
  const std::string locality;
  const uint32_t locality_weight;
  mutable HostStats stats;

  // Envoy's coarse health: unhealthy when a failure flag is set, else degraded when a degraded
  // flag is, else healthy. PendingActiveHc and ActiveHcTimeout only qualify: a checker that
  // holds a new host back sets FailedActiveHc with them.
  bool healthy() const {
    return (health_flags_.load(std::memory_order_acquire) & (kUnhealthy | kDegraded)) == 0;
  }
  bool degraded() const {
    const uint32_t flags = health_flags_.load(std::memory_order_acquire);
    return (flags & kUnhealthy) == 0 && (flags & kDegraded) != 0;
  }
  bool healthFlagGet(HealthFlag flag) const {
    return (health_flags_.load(std::memory_order_acquire) & static_cast<uint32_t>(flag)) != 0;
  }
  // Set and clear only on the main thread; a change takes effect in the balancers when the
  // ClusterManager publishes the cluster's next snapshot (onHostHealthChanged).
  void healthFlagSet(HealthFlag flag) const {
    health_flags_.fetch_or(static_cast<uint32_t>(flag), std::memory_order_acq_rel);
  }
  void healthFlagClear(HealthFlag flag) const {
    health_flags_.fetch_and(~static_cast<uint32_t>(flag), std::memory_order_acq_rel);
  }
  uint32_t healthFlags() const { return health_flags_.load(std::memory_order_acquire); }

  // Where a new connection to this host goes. LOGICAL_DNS keeps one host (Envoy's LogicalHost)
  // whose address follows the latest DNS answer: connections opened before a change keep the
  // address they were opened to, and the host keeps its stats, health and outlier state.
  net::Address currentAddress() const {
    if (!moved_.load(std::memory_order_acquire)) return address;
    std::lock_guard lock(moved_lock_);
    return moved_address_;
  }
  // Main thread (LOGICAL_DNS discovery). Rare, so a lock on the (per connection) read suffices.
  void setCurrentAddress(const net::Address& to) const {
    std::lock_guard lock(moved_lock_);
    moved_address_ = to;
    moved_.store(true, std::memory_order_release);
  }

  // Outlier detection's monitor, where workers report each result (null: the cluster has no
  // outlier_detection). Attached once, on the main thread, before the host is first published.
  outlier::HostMonitor* outlierMonitor() const { return outlier_monitor_.get(); }
  void setOutlierMonitor(std::shared_ptr<outlier::HostMonitor> monitor) const {
    outlier_monitor_ = std::move(monitor);
  }

 private:
  static constexpr uint32_t kUnhealthy =
      static_cast<uint32_t>(HealthFlag::FailedActiveHc) |
      static_cast<uint32_t>(HealthFlag::FailedOutlierCheck) |
      static_cast<uint32_t>(HealthFlag::FailedEdsHealth) |
      static_cast<uint32_t>(HealthFlag::ExcludedViaImmediateHcFail);
  static constexpr uint32_t kDegraded = static_cast<uint32_t>(HealthFlag::DegradedActiveHc) |
                                        static_cast<uint32_t>(HealthFlag::DegradedEdsHealth);
  mutable std::atomic<uint32_t> health_flags_{0};
  mutable std::shared_ptr<outlier::HostMonitor> outlier_monitor_;
  mutable std::atomic<bool> moved_{false};  // setCurrentAddress() was called
  mutable std::mutex moved_lock_;
  mutable net::Address moved_address_;
};
using HostConstSharedPtr = std::shared_ptr<const Host>;
using HostVector = std::vector<HostConstSharedPtr>;

// Counts one request to a host in its rq_total and, while held, in its rq_active. The router
// holds one per attempt from the moment it asks the pool for a stream until the response ends
// or the attempt is abandoned; tcp_proxy holds one per upstream connection.
class ActiveRequest {
 public:
  ActiveRequest() = default;
  explicit ActiveRequest(const Host& host) : host_(&host) {
    host.stats.rq_total.fetch_add(1, std::memory_order_relaxed);
    host.stats.rq_active.fetch_add(1, std::memory_order_relaxed);
  }
  ActiveRequest(ActiveRequest&& other) noexcept : host_(std::exchange(other.host_, nullptr)) {}
  ActiveRequest& operator=(ActiveRequest&& other) noexcept {
    if (this != &other) {
      release();
      host_ = std::exchange(other.host_, nullptr);
    }
    return *this;
  }
  ~ActiveRequest() { release(); }
  // Ends the count early (the response is complete); idempotent.
  void release() {
    if (host_ != nullptr) host_->stats.rq_active.fetch_sub(1, std::memory_order_relaxed);
    host_ = nullptr;
  }

 private:
  const Host* host_ = nullptr;
};

}  // namespace remora::upstream
