#include "upstream/outlier_detection_monitor.h"

namespace remora::upstream::outlier {
namespace {

bool isGatewayError(uint64_t code) { return code == 502 || code == 503 || code == 504; }

// One more consecutive error; true when this one reaches `limit` exactly (one notification per
// run of errors, whatever the workers' interleaving).
bool countReaches(std::atomic<uint32_t>& counter, uint32_t limit) {
  return counter.fetch_add(1, std::memory_order_relaxed) + 1 == limit;
}

}  // namespace

std::optional<std::pair<double, uint64_t>> SuccessRateAccumulator::closeInterval() {
  Bucket* closed = current_.load(std::memory_order_acquire);
  Bucket* next = closed == &buckets_[0] ? &buckets_[1] : &buckets_[0];
  next->success.store(0, std::memory_order_relaxed);
  next->total.store(0, std::memory_order_relaxed);
  current_.store(next, std::memory_order_release);
  const uint64_t total = closed->total.load(std::memory_order_relaxed);
  if (total == 0) return std::nullopt;
  const uint64_t success = closed->success.load(std::memory_order_relaxed);
  return std::pair{static_cast<double>(success) * 100.0 / static_cast<double>(total), total};
}

void HostMonitor::putHttpResponseCode(uint64_t code) {
  if (code < 500 || code > 599) {
    external_origin_.record(true);
    consecutive_5xx_.store(0, std::memory_order_relaxed);
    consecutive_gateway_failure_.store(0, std::memory_order_relaxed);
    return;
  }
  external_origin_.record(false);
  if (isGatewayError(code)) {
    if (countReaches(consecutive_gateway_failure_, limits_.consecutive_gateway_failure))
      on_limit_(EjectionType::ConsecutiveGatewayFailure);
  } else {
    consecutive_gateway_failure_.store(0, std::memory_order_relaxed);
  }
  if (countReaches(consecutive_5xx_, limits_.consecutive_5xx))
    on_limit_(EjectionType::Consecutive5xx);
}

void HostMonitor::putResult(Result result, std::optional<uint64_t> code) {
  if (!limits_.split_external_local_origin_errors) {
    // Without the split every result is an HTTP code (Envoy's resultToHttpCode): a connect
    // failure is a 503, a timeout a 504; "connected" says nothing about the request yet.
    if (code) return putHttpResponseCode(*code);
    switch (result) {
      case Result::ExtOriginRequestSuccess:
      case Result::LocalOriginConnectSuccessFinal:
        return putHttpResponseCode(200);
      case Result::LocalOriginTimeout:
        return putHttpResponseCode(504);
      case Result::LocalOriginConnectFailed:
        return putHttpResponseCode(503);
      case Result::ExtOriginRequestFailed:
        return putHttpResponseCode(500);
      case Result::LocalOriginConnectSuccess:
        return;
    }
    return;
  }
  // Split: local-origin results have their own consecutive counter and success rate; the
  // upstream's answers (putHttpResponseCode) feed only the external ones.
  switch (result) {
    case Result::LocalOriginConnectSuccess:
    case Result::LocalOriginConnectSuccessFinal:
      return localOriginSuccess();
    case Result::LocalOriginTimeout:
    case Result::LocalOriginConnectFailed:
      return localOriginFailure();
    case Result::ExtOriginRequestFailed:
      return putHttpResponseCode(503);
    case Result::ExtOriginRequestSuccess:
      putHttpResponseCode(200);
      return localOriginSuccess();
  }
}

void HostMonitor::localOriginFailure() {
  local_origin_.record(false);
  if (countReaches(consecutive_local_origin_failure_, limits_.consecutive_local_origin_failure))
    on_limit_(EjectionType::ConsecutiveLocalOriginFailure);
}

void HostMonitor::localOriginSuccess() {
  local_origin_.record(true);
  consecutive_local_origin_failure_.store(0, std::memory_order_relaxed);
}

}  // namespace remora::upstream::outlier
