#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/codec.h"
#include "net/address.h"

namespace remora::stream_info {

// Envoy's response flags, in Envoy's bit order; %RESPONSE_FLAGS% prints their short names in
// this order, comma-separated ("-" when none).
enum ResponseFlag : uint64_t {
  FailedLocalHealthCheck = 1ull << 0,           // LH
  NoHealthyUpstream = 1ull << 1,                // UH
  UpstreamRequestTimeout = 1ull << 2,           // UT
  LocalReset = 1ull << 3,                       // LR
  UpstreamRemoteReset = 1ull << 4,              // UR
  UpstreamConnectionFailure = 1ull << 5,        // UF
  UpstreamConnectionTermination = 1ull << 6,    // UC
  UpstreamOverflow = 1ull << 7,                 // UO
  NoRouteFound = 1ull << 8,                     // NR
  DelayInjected = 1ull << 9,                    // DI
  FaultInjected = 1ull << 10,                   // FI
  RateLimited = 1ull << 11,                     // RL
  UnauthorizedExternalService = 1ull << 12,     // UAEX
  RateLimitServiceError = 1ull << 13,           // RLSE
  DownstreamConnectionTermination = 1ull << 14, // DC
  UpstreamRetryLimitExceeded = 1ull << 15,      // URX
  StreamIdleTimeout = 1ull << 16,               // SI
  InvalidEnvoyRequestHeaders = 1ull << 17,      // IH
  DownstreamProtocolError = 1ull << 18,         // DPE
  UpstreamMaxStreamDurationReached = 1ull << 19,// UMSDR
  ResponseFromCacheFilter = 1ull << 20,         // RFCF
  NoFilterConfigFound = 1ull << 21,             // NFCF
  DurationTimeout = 1ull << 22,                 // DT
  UpstreamProtocolError = 1ull << 23,           // UPE
  NoClusterFound = 1ull << 24,                  // NC
  OverloadManager = 1ull << 25,                 // OM
  DnsResolutionFailed = 1ull << 26,             // DF
  DropOverLoad = 1ull << 27,                    // DO
  DownstreamRemoteReset = 1ull << 28,           // DR
};

// "UH,UF" for a set of flags; "-" when none.
std::string responseFlagsToShortString(uint64_t flags);
// Envoy's long name of one flag ("NoHealthyUpstream"), for JSON and gRPC access logs.
std::string_view responseFlagLongName(ResponseFlag flag);

using MonotonicTime = std::chrono::steady_clock::time_point;
using SystemTime = std::chrono::system_clock::time_point;

// Everything known about one request (or TCP connection) for access logs, stats and local
// replies. Durations are measured from start_monotonic; absent means "never happened".
struct StreamInfo {
  SystemTime start_time;
  MonotonicTime start_monotonic;

  std::optional<std::chrono::nanoseconds> last_downstream_rx_byte_received;
  std::optional<std::chrono::nanoseconds> first_upstream_tx_byte_sent;
  std::optional<std::chrono::nanoseconds> last_upstream_tx_byte_sent;
  std::optional<std::chrono::nanoseconds> first_upstream_rx_byte_received;
  std::optional<std::chrono::nanoseconds> last_upstream_rx_byte_received;
  std::optional<std::chrono::nanoseconds> first_downstream_tx_byte_sent;
  std::optional<std::chrono::nanoseconds> last_downstream_tx_byte_sent;
  std::optional<std::chrono::nanoseconds> request_complete;

  std::optional<http::Protocol> protocol;
  std::optional<uint32_t> response_code;
  std::string response_code_details;          // e.g. "via_upstream", "route_not_found"
  std::string connection_termination_details;
  uint64_t response_flags = 0;
  uint64_t bytes_received = 0;                // request body bytes
  uint64_t bytes_sent = 0;                    // response body bytes
  uint32_t attempt_count = 0;                 // upstream attempts (retries + 1)

  net::Address downstream_local_address;
  net::Address downstream_remote_address;
  net::Address downstream_direct_remote_address;
  std::string requested_server_name;

  std::optional<net::Address> upstream_host;  // UPSTREAM_HOST
  std::optional<net::Address> upstream_local_address;
  std::string upstream_cluster;               // UPSTREAM_CLUSTER
  std::string upstream_transport_failure_reason;
  std::string route_name;
  // Set by the health_check HTTP filter when it answers or passes through a health check, so
  // access logs can leave them out (not_health_check_filter).
  bool health_check = false;

  void setResponseFlag(ResponseFlag flag) { response_flags |= flag; }
  bool hasResponseFlag(ResponseFlag flag) const { return (response_flags & flag) != 0; }
  // Elapsed time since start, for the optional timings above.
  std::chrono::nanoseconds sinceStart(MonotonicTime now) const { return now - start_monotonic; }
};

}  // namespace remora::stream_info
