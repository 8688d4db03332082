#include "filters/http/fault/fault_filter.h"

#include "common/random.h"
#include "router/route.h"

namespace remora::filters::http::fault {

namespace hh = remora::http;

namespace {
constexpr std::string_view kFilterName = "envoy.filters.http.fault";
constexpr std::string_view kAbortDetails = "fault_filter_abort";
constexpr std::string_view kAbortBody = "fault filter abort";
}  // namespace

// Delays and aborts are independent: a request may be delayed, then aborted when the delay
// ends; the abort is decided only then.
hh::FilterHeadersStatus FaultFilter::decodeHeaders(hh::RequestHeaderMap& headers, bool) {
  settings_ = config_->settings().get();
  if (const router::Route* route = decoder_callbacks_->route()) {
    if (const auto* per_route = route->perFilterConfigAs<FaultSettings>(kFilterName))
      settings_ = per_route;
  }
  if (!matchesUpstreamCluster() || !settings_->matchesDownstreamNode(headers) ||
      !settings_->matchesHeaders(headers)) {
    return hh::FilterHeadersStatus::Continue;
  }
  if (settings_->downstreamClusterStats()) {
    if (const std::string* cluster = headers.get(fault_headers::kDownstreamServiceCluster)) {
      downstream_cluster_ = *cluster;
    }
  }
  maybeSetupResponseRateLimit(headers);
  if (maybeSetupDelay(headers)) return hh::FilterHeadersStatus::StopIteration;
  if (maybeAbort(headers)) return hh::FilterHeadersStatus::StopIteration;
  return hh::FilterHeadersStatus::Continue;
}

hh::FilterDataStatus FaultFilter::decodeData(buffer::Buffer&, bool) {
  // While delayed, the body waits in the filter manager; above the limit the client is paused.
  return delaying_ ? hh::FilterDataStatus::StopIterationAndWatermark
                   : hh::FilterDataStatus::Continue;
}

hh::FilterTrailersStatus FaultFilter::decodeTrailers(hh::TrailerMap&) {
  return delaying_ ? hh::FilterTrailersStatus::StopIteration : hh::FilterTrailersStatus::Continue;
}

hh::FilterDataStatus FaultFilter::encodeData(buffer::Buffer& data, bool end_stream) {
  if (!response_limiter_) return hh::FilterDataStatus::Continue;
  response_limiter_->writeData(data, end_stream);
  return hh::FilterDataStatus::StopIterationNoBuffer;
}

hh::FilterTrailersStatus FaultFilter::encodeTrailers(hh::TrailerMap&) {
  if (response_limiter_ && response_limiter_->onTrailers())
    return hh::FilterTrailersStatus::StopIteration;
  return hh::FilterTrailersStatus::Continue;
}

void FaultFilter::onDestroy() {
  // The client may leave mid-delay: the timer must not fire into a finished stream.
  delay_timer_.reset();
  if (response_limiter_) response_limiter_->destroy();
  if (fault_active_) {
    config_->stats().active_faults.dec();
    fault_active_ = false;
  }
}

bool FaultFilter::matchesUpstreamCluster() {
  if (settings_->upstreamCluster().empty()) return true;
  const router::Route* route = decoder_callbacks_->route();
  const router::RouteEntry* entry = route ? route->routeEntry() : nullptr;
  const hh::RequestHeaderMap* headers = decoder_callbacks_->requestHeaders();
  return entry != nullptr && headers != nullptr &&
         entry->clusterName(*headers, randomU64()) == settings_->upstreamCluster();
}

void FaultFilter::maybeSetupResponseRateLimit(const hh::RequestHeaderMap& headers) {
  const auto& limit = settings_->responseRateLimit();
  if (!limit || !limit->percentage.forRequest(headers).enabled(randomU64())) return;
  auto kbps = limit->kbpsFor(headers);
  if (!kbps || !tryIncActiveFaults()) return;
  config_->stats().response_rl_injected.inc();
  response_limiter_ = std::make_unique<StreamRateLimiter>(*kbps, *encoder_callbacks_);
}

bool FaultFilter::maybeSetupDelay(const hh::RequestHeaderMap& headers) {
  const auto& delay = settings_->delay();
  if (!delay || !delay->percentage.forRequest(headers).enabled(randomU64())) return false;
  auto duration = delay->durationFor(headers);
  if (!duration || !tryIncActiveFaults()) return false;
  delay_timer_ = decoder_callbacks_->dispatcher().createTimer([this] { onDelayElapsed(); });
  delay_timer_->enableTimer(*duration);
  delaying_ = true;
  recordInjected(config_->stats().delays_injected, "delays_injected");
  decoder_callbacks_->streamInfo().setResponseFlag(stream_info::DelayInjected);
  return true;
}

std::optional<AbortFault::Status> FaultFilter::abortStatus(
    const hh::RequestHeaderMap& headers) const {
  const auto& abort = settings_->abort();
  if (!abort || !abort->percentage.forRequest(headers).enabled(randomU64())) return std::nullopt;
  return abort->statusFor(headers);
}

bool FaultFilter::maybeAbort(const hh::RequestHeaderMap& headers) {
  auto status = abortStatus(headers);
  if (!status || !tryIncActiveFaults()) return false;
  abortWith(*status);
  return true;
}

void FaultFilter::abortWith(const AbortFault::Status& status) {
  recordInjected(config_->stats().aborts_injected, "aborts_injected");
  // Set before the reply: a local reply completes the stream (and writes the access log) now.
  decoder_callbacks_->streamInfo().setResponseFlag(stream_info::FaultInjected);
  decoder_callbacks_->sendLocalReply(status.http_status, kAbortBody, nullptr, kAbortDetails,
                                     status.grpc_status);
}

void FaultFilter::onDelayElapsed() {
  // The timer stays until onDestroy: it is the object running this callback.
  delaying_ = false;
  const hh::RequestHeaderMap* headers = decoder_callbacks_->requestHeaders();
  if (headers != nullptr) {
    if (auto status = abortStatus(*headers)) {
      abortWith(*status);
      return;
    }
  }
  // The delay is over: unless the response is being throttled, this stream no longer counts as
  // an active fault (Envoy keeps it when a response rate limit is configured at all).
  if (!settings_->responseRateLimit() && fault_active_) {
    config_->stats().active_faults.dec();
    fault_active_ = false;
  }
  decoder_callbacks_->continueDecoding();
}

bool FaultFilter::tryIncActiveFaults() {
  if (fault_active_) return true;
  // Fuzzy, as Envoy's: concurrent streams may pass the check together.
  auto max = settings_->maxActiveFaults();
  if (max &&
      static_cast<uint64_t>(std::max<int64_t>(0, config_->stats().active_faults.value())) >= *max) {
    config_->stats().faults_overflow.inc();
    return false;
  }
  config_->stats().active_faults.inc();
  fault_active_ = true;
  return true;
}

void FaultFilter::recordInjected(stats::Counter& counter, std::string_view name) {
  if (!downstream_cluster_.empty()) config_->incDownstreamClusterCounter(downstream_cluster_, name);
  counter.inc();
}

}  // namespace remora::filters::http::fault
