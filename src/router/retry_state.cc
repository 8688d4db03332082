#include "router/retry_state.h"

#include <charconv>

#include "common/random.h"
#include "http/grpc.h"
#include "router/route_action.h"

namespace remora::router {

namespace {
std::optional<uint32_t> parseUint(const std::string* value) {
  if (value == nullptr) return std::nullopt;
  uint32_t n = 0;
  auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
  if (ec != std::errc() || end != value->data() + value->size()) return std::nullopt;
  return n;
}
}  // namespace

namespace {
// Calls fn(name) for each comma-separated name, trimmed of spaces.
template <class Fn>
void forEachName(std::string_view list, Fn&& fn) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string_view name = list.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    fn(name);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
}
}  // namespace

uint32_t RetryState::parseRetryOn(std::string_view list) {
  uint32_t out = 0;
  forEachName(list, [&out](std::string_view name) {
    if (name == "5xx")
      out |= k5xx;
    else if (name == "gateway-error")
      out |= kGatewayError;
    else if (name == "reset")
      out |= kReset;
    else if (name == "connect-failure")
      out |= kConnectFailure;
    else if (name == "retriable-4xx")
      out |= kRetriable4xx;
    else if (name == "retriable-status-codes")
      out |= kRetriableStatusCodes;
    else if (name == "refused-stream")
      out |= kRefusedStream;
  });
  return out;
}

uint32_t RetryState::parseRetryGrpcOn(std::string_view list) {
  uint32_t out = 0;
  forEachName(list, [&out](std::string_view name) {
    if (name == "cancelled")
      out |= kGrpcCancelled;
    else if (name == "deadline-exceeded")
      out |= kGrpcDeadlineExceeded;
    else if (name == "resource-exhausted")
      out |= kGrpcResourceExhausted;
    else if (name == "unavailable")
      out |= kGrpcUnavailable;
    else if (name == "internal")
      out |= kGrpcInternal;
  });
  return out;
}

std::optional<RetryState> RetryState::create(const RetryPolicy* policy,
                                             const http::RequestHeaderMap& request) {
  RetryState state;
  if (policy != nullptr) {
    for (const auto& name : policy->retry_on)
      state.retry_on_ |= parseRetryOn(name) | parseRetryGrpcOn(name);
    state.remaining_ = policy->num_retries;
    state.base_interval_ = policy->base_interval;
    state.max_interval_ = policy->max_interval;
    state.retriable_status_codes_ = policy->retriable_status_codes;
    for (const auto& p : policy->retry_host_predicates) {
      if (p == "envoy.retry_host_predicates.previous_hosts") state.avoid_previous_hosts_ = true;
    }
    state.host_selection_max_attempts_ =
        static_cast<uint32_t>(std::max<int64_t>(1, policy->host_selection_retry_max_attempts));
  }
  // Envoy lets the request add conditions and set the count (x-envoy-retry-on,
  // x-envoy-max-retries).
  if (const std::string* on = request.get(http::headers::kEnvoyRetryOn))
    state.retry_on_ |= parseRetryOn(*on);
  if (const std::string* on = request.get(http::headers::kEnvoyRetryGrpcOn))
    state.retry_on_ |= parseRetryGrpcOn(*on);
  if (auto n = parseUint(request.get(http::headers::kEnvoyMaxRetries))) state.remaining_ = *n;
  // x-envoy-retriable-status-codes adds to the policy's list (used with retriable-status-codes).
  if (const std::string* codes = request.get(http::headers::kEnvoyRetriableStatusCodes)) {
    std::string_view list = *codes;
    while (!list.empty()) {
      size_t comma = list.find(',');
      std::string_view item = list.substr(0, comma);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
      uint32_t code = 0;
      auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), code);
      if (ec == std::errc() && end == item.data() + item.size())
        state.retriable_status_codes_.push_back(code);
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    }
  }
  if (state.retry_on_ == 0) return std::nullopt;
  return state;
}

bool RetryState::wouldRetryOnStatus(uint32_t status) const {
  if ((retry_on_ & k5xx) && status >= 500 && status < 600) return true;
  if ((retry_on_ & kGatewayError) && (status == 502 || status == 503 || status == 504)) return true;
  if ((retry_on_ & kRetriable4xx) && status == 409) return true;
  if (retry_on_ & kRetriableStatusCodes) {
    for (uint32_t code : retriable_status_codes_) {
      if (code == status) return true;
    }
  }
  return false;
}

bool RetryState::wouldRetryOnResponse(const http::ResponseHeaderMap& headers) const {
  if (wouldRetryOnStatus(headers.status())) return true;
  constexpr uint32_t kAnyGrpc = kGrpcCancelled | kGrpcDeadlineExceeded | kGrpcResourceExhausted |
                                kGrpcUnavailable | kGrpcInternal;
  if ((retry_on_ & kAnyGrpc) == 0) return false;
  const auto status = http::grpcStatusOf(headers);
  if (!status) return false;
  switch (*status) {
    case http::grpc_status::kCanceled:
      return (retry_on_ & kGrpcCancelled) != 0;
    case http::grpc_status::kDeadlineExceeded:
      return (retry_on_ & kGrpcDeadlineExceeded) != 0;
    case http::grpc_status::kResourceExhausted:
      return (retry_on_ & kGrpcResourceExhausted) != 0;
    case http::grpc_status::kUnavailable:
      return (retry_on_ & kGrpcUnavailable) != 0;
    case http::grpc_status::kInternal:
      return (retry_on_ & kGrpcInternal) != 0;
    default:
      return false;
  }
}

bool RetryState::wouldRetryOnReset(http::StreamResetReason reason, bool connect_failure) const {
  if (connect_failure) return (retry_on_ & (kConnectFailure | kReset | k5xx | kGatewayError)) != 0;
  if (reason == http::StreamResetReason::Overflow) return false;
  // An HTTP/2 REFUSED_STREAM says the upstream did not process the request: safe to send again.
  if ((retry_on_ & kRefusedStream) && reason == http::StreamResetReason::RemoteRefusedStreamReset) {
    return true;
  }
  // A reset before the response counts as a 5xx for Envoy's 5xx and gateway-error policies.
  return (retry_on_ & (kReset | k5xx | kGatewayError)) != 0;
}

bool RetryState::takeRetry() {
  if (remaining_ == 0) return false;
  --remaining_;
  return true;
}

std::chrono::milliseconds RetryState::nextBackOff() {
  // Envoy's JitteredExponentialBackOffStrategy: the n-th back-off (n from 1) is uniform in
  // [0, (2^n - 1) × base), capped at max_interval: with the 25 ms default, 0-24, 0-74, 0-174 ms...
  ++attempts_backed_off_;
  const uint64_t base = static_cast<uint64_t>(base_interval_.count());
  const uint64_t max = static_cast<uint64_t>(max_interval_.count());
  const uint64_t multiplier = (uint64_t{1} << std::min<uint32_t>(attempts_backed_off_, 30)) - 1;
  const uint64_t ceiling = multiplier * base;
  if (ceiling == 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(std::min(randomU64() % ceiling, max));
}

}  // namespace remora::router
