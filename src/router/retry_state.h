#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "http/codec.h"
#include "http/header_map.h"

namespace remora::router {

struct RetryPolicy;

// The retry decision for one request: which failures qualify (route policy, overridden by
// x-envoy-retry-on / x-envoy-max-retries as Envoy allows), how many retries remain, and the
// jittered exponential back-off between attempts.
class RetryState {
 public:
  enum RetryOn : uint32_t {
    k5xx = 1 << 0,
    kGatewayError = 1 << 1,
    kReset = 1 << 2,
    kConnectFailure = 1 << 3,
    kRetriable4xx = 1 << 4,
    kRetriableStatusCodes = 1 << 5,
    kRefusedStream = 1 << 6,
    // gRPC conditions: the grpc-status of a trailers-only response (its headers). As in Envoy,
    // a grpc-status in trailers retries nothing: the response has gone downstream by then.
    kGrpcCancelled = 1 << 7,
    kGrpcDeadlineExceeded = 1 << 8,
    kGrpcResourceExhausted = 1 << 9,
    kGrpcUnavailable = 1 << 10,
    kGrpcInternal = 1 << 11,
  };

  // nullopt when neither the route nor the request asks for retries.
  static std::optional<RetryState> create(const RetryPolicy* policy,
                                          const http::RequestHeaderMap& request);

  // Parses a retry_on list ("5xx,connect-failure"); unknown names are ignored as Envoy does.
  // parseRetryOn reads the HTTP conditions (x-envoy-retry-on), parseRetryGrpcOn the gRPC ones
  // (x-envoy-retry-grpc-on); a route's retry_on takes both.
  static uint32_t parseRetryOn(std::string_view list);
  static uint32_t parseRetryGrpcOn(std::string_view list);

  bool wouldRetryOnStatus(uint32_t status) const;
  // Whether a response head asks for a retry: its :status, or the grpc-status it carries.
  bool wouldRetryOnResponse(const http::ResponseHeaderMap& headers) const;
  bool wouldRetryOnReset(http::StreamResetReason reason, bool connect_failure) const;
  // Consumes one retry if any remain.
  bool takeRetry();
  bool exhausted() const { return remaining_ == 0; }
  std::chrono::milliseconds nextBackOff();
  bool avoidPreviousHosts() const { return avoid_previous_hosts_; }
  uint32_t hostSelectionMaxAttempts() const { return host_selection_max_attempts_; }

 private:
  uint32_t retry_on_ = 0;
  uint32_t remaining_ = 1;
  std::vector<uint32_t> retriable_status_codes_;
  std::chrono::milliseconds base_interval_{25};
  std::chrono::milliseconds max_interval_{250};
  uint32_t attempts_backed_off_ = 0;
  bool avoid_previous_hosts_ = false;
  uint32_t host_selection_max_attempts_ = 1;
};

}  // namespace remora::router
