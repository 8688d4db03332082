#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "net/address.h"

namespace remora::upstream {

// Per-host counters shown by /clusters. Atomics: any worker may connect to any host, and these
// change per connection, not per byte.
struct HostStats {
  std::atomic<uint64_t> cx_total{0};
  std::atomic<int64_t> cx_active{0};
  std::atomic<uint64_t> cx_connect_fail{0};
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

}  // namespace remora::upstream
