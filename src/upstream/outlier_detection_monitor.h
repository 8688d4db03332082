#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>

#include "event/dispatcher.h"

namespace remora::upstream::outlier {

// What the router and tcp_proxy report about one request or connection to a host (Envoy's
// Outlier::Result). "Local origin" errors are ours: the connection could not be made, timed
// out or was reset. "External origin" results are what the upstream answered.
enum class Result {
  LocalOriginConnectFailed,        // connect failure or reset
  LocalOriginConnectSuccess,       // connected; the request's own outcome comes later
  LocalOriginTimeout,              // connect timeout or no response in time
  LocalOriginConnectSuccessFinal,  // connected, and that is the whole transaction (tcp_proxy)
  ExtOriginRequestFailed,          // the upstream failed the transaction
  ExtOriginRequestSuccess,         // the upstream completed the transaction
};

// Why a host was ejected: Envoy's OutlierEjectionType, one stats pair each.
enum class EjectionType {
  Consecutive5xx,
  ConsecutiveGatewayFailure,
  ConsecutiveLocalOriginFailure,
  SuccessRate,
  SuccessRateLocalOrigin,
  FailurePercentage,
  FailurePercentageLocalOrigin,
};

// The requests a host completed and how many succeeded, over one detector interval. Workers count
// into the current bucket; the main thread closes the interval by swapping buckets, then reads
// the closed one (a count racing the swap lands in either interval: close enough, as in Envoy).
class SuccessRateAccumulator {
 public:
  void record(bool success) {
    Bucket* bucket = current_.load(std::memory_order_acquire);
    bucket->total.fetch_add(1, std::memory_order_relaxed);
    if (success) bucket->success.fetch_add(1, std::memory_order_relaxed);
  }
  // Main thread: ends the interval. Returns its success rate in percent and its request volume,
  // nothing when it saw no request.
  std::optional<std::pair<double, uint64_t>> closeInterval();

 private:
  struct Bucket {
    std::atomic<uint64_t> success{0};
    std::atomic<uint64_t> total{0};
  };
  Bucket buckets_[2];
  std::atomic<Bucket*> current_{&buckets_[0]};
};

// The consecutive-error limits a worker compares against (0: that detector is off).
struct ConsecutiveLimits {
  uint32_t consecutive_5xx = 5;
  uint32_t consecutive_gateway_failure = 5;
  uint32_t consecutive_local_origin_failure = 5;
  bool split_external_local_origin_errors = false;
};

// Envoy's DetectorHostMonitor: one per host, owned by the Host. Workers report results with
// atomics only; when a consecutive-error count reaches its limit, `on_limit` is called on that
// worker (the detector posts the ejection to the main thread). Everything below "main thread"
// belongs to the Detector.
class HostMonitor {
 public:
  using LimitReachedCb = std::function<void(EjectionType)>;
  HostMonitor(ConsecutiveLimits limits, LimitReachedCb on_limit)
      : limits_(limits), on_limit_(std::move(on_limit)) {}

  // Any thread.
  void putHttpResponseCode(uint64_t code);
  void putResult(Result result, std::optional<uint64_t> code = std::nullopt);

  // Main thread.
  void resetConsecutive5xx() { consecutive_5xx_.store(0, std::memory_order_relaxed); }
  void resetConsecutiveGatewayFailure() {
    consecutive_gateway_failure_.store(0, std::memory_order_relaxed);
  }
  void resetConsecutiveLocalOriginFailure() {
    consecutive_local_origin_failure_.store(0, std::memory_order_relaxed);
  }
  SuccessRateAccumulator& externalOrigin() { return external_origin_; }
  SuccessRateAccumulator& localOrigin() { return local_origin_; }

  // Ejection bookkeeping, main thread only.
  uint32_t num_ejections = 0;
  // Multiplies base_ejection_time: one more per ejection (up to the max), one less per interval
  // the host stays in.
  uint32_t eject_time_backoff = 0;
  std::chrono::milliseconds jitter{0};
  std::optional<event::MonotonicTime> last_ejection_time;
  std::optional<event::MonotonicTime> last_unejection_time;
  // The success rates (percent) the last interval judged the host by, -1 when it was not
  // judged (too few requests or hosts): what /clusters shows.
  double success_rate = -1;
  double local_origin_success_rate = -1;

 private:
  void localOriginFailure();
  void localOriginSuccess();

  const ConsecutiveLimits limits_;
  const LimitReachedCb on_limit_;
  std::atomic<uint32_t> consecutive_5xx_{0};
  std::atomic<uint32_t> consecutive_gateway_failure_{0};
  std::atomic<uint32_t> consecutive_local_origin_failure_{0};
  SuccessRateAccumulator external_origin_;
  SuccessRateAccumulator local_origin_;
};

}  // namespace remora::upstream::outlier
