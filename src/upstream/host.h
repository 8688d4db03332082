#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "net/address.h"

namespace remora::upstream {

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

// One upstream endpoint. Immutable except for its stats.
struct Host {
  Host(net::Address address_in, uint32_t weight_in, std::string hostname_in = {})
      : address(address_in),
        address_string(address_in.asString()),
        weight(weight_in),
        hostname(std::move(hostname_in)) {}
  const net::Address address;
  // address.asString(), formed once: connection pools are looked up by it on every request.
  const std::string address_string;
  const uint32_t weight;
  const std::string hostname;
  mutable HostStats stats;
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
