#include "filters/http/fault/fault_config.h"

#include <google/protobuf/util/time_util.h>

namespace remora::filters::http::fault {

namespace {

using google::protobuf::util::TimeUtil;

FaultPercentage percentageOf(const envoy::type::v3::FractionalPercent& proto, bool from_headers,
                             std::string_view header) {
  FaultPercentage p;
  p.configured = router::FractionalPercent::create(proto);
  if (from_headers) p.header_percentage = header;
  return p;
}

}  // namespace

router::FractionalPercent FaultPercentage::forRequest(
    const remora::http::HeaderMap& headers) const {
  if (header_percentage.empty()) return configured;
  auto numerator = headers.getUint(header_percentage);
  return numerator ? configured.cappedAt(*numerator) : configured;
}

std::optional<AbortFault::Status> AbortFault::statusFor(
    const remora::http::HeaderMap& headers) const {
  if (!from_headers) {
    if (http_status) return Status{*http_status, std::nullopt};
    return Status{200, grpc_status};
  }
  // An HTTP status in [200, 600) wins over a gRPC one, as in Envoy.
  if (auto code = headers.getUint(fault_headers::kAbortRequest);
      code && *code >= 200 && *code < 600) {
    return Status{static_cast<uint32_t>(*code), std::nullopt};
  }
  if (auto grpc = headers.getUint(fault_headers::kAbortGrpcRequest); grpc && *grpc <= UINT32_MAX) {
    return Status{200, static_cast<uint32_t>(*grpc)};
  }
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> DelayFault::durationFor(
    const remora::http::HeaderMap& headers) const {
  std::optional<std::chrono::milliseconds> d = fixed;
  if (!d) {
    auto ms = headers.getUint(fault_headers::kDelayRequest);
    // Bounded so the timer arithmetic cannot overflow: about 24 days is "forever" here.
    if (ms && *ms <= INT32_MAX) d = std::chrono::milliseconds(*ms);
  }
  if (!d || d->count() <= 0) return std::nullopt;
  return d;
}

std::optional<uint64_t> ResponseRateLimitFault::kbpsFor(
    const remora::http::HeaderMap& headers) const {
  if (fixed_kbps) return fixed_kbps;
  auto kbps = headers.getUint(fault_headers::kThroughputResponse);
  if (!kbps || *kbps == 0) return std::nullopt;
  return kbps;
}

StatusOr<std::shared_ptr<const FaultSettings>> FaultSettings::create(const Proto& proto) {
  // Without dynamic metadata there is nowhere to put it.
  if (proto.has_filter_metadata()) return Status::error("not supported by remora: filter_metadata");
  std::shared_ptr<FaultSettings> s(new FaultSettings());
  if (proto.has_abort()) {
    using Abort = envoy::extensions::filters::http::fault::v3::FaultAbort;
    const Abort& a = proto.abort();
    AbortFault abort;
    switch (a.error_type_case()) {
      case Abort::kHttpStatus:
        abort.http_status = a.http_status();
        break;
      case Abort::kGrpcStatus:
        abort.grpc_status = a.grpc_status();
        break;
      case Abort::kHeaderAbort:
        abort.from_headers = true;
        break;
      default:
        return Status::error("abort: one of http_status, grpc_status or header_abort is required");
    }
    abort.percentage =
        percentageOf(a.percentage(), abort.from_headers, fault_headers::kAbortRequestPercentage);
    s->abort_ = abort;
  }
  if (proto.has_delay()) {
    using Delay = envoy::extensions::filters::common::fault::v3::FaultDelay;
    const Delay& d = proto.delay();
    DelayFault delay;
    switch (d.fault_delay_secifier_case()) {
      case Delay::kFixedDelay:
        delay.fixed = std::chrono::milliseconds(TimeUtil::DurationToMilliseconds(d.fixed_delay()));
        break;
      case Delay::kHeaderDelay:
        break;
      default:
        return Status::error("delay: one of fixed_delay or header_delay is required");
    }
    delay.percentage =
        percentageOf(d.percentage(), !delay.fixed, fault_headers::kDelayRequestPercentage);
    s->delay_ = delay;
  }
  if (proto.has_response_rate_limit()) {
    using Limit = envoy::extensions::filters::common::fault::v3::FaultRateLimit;
    const Limit& l = proto.response_rate_limit();
    ResponseRateLimitFault limit;
    switch (l.limit_type_case()) {
      case Limit::kFixedLimit:
        limit.fixed_kbps = l.fixed_limit().limit_kbps();
        break;
      case Limit::kHeaderLimit:
        break;
      default:
        return Status::error("response_rate_limit: one of fixed_limit or header_limit is required");
    }
    limit.percentage = percentageOf(l.percentage(), !limit.fixed_kbps,
                                    fault_headers::kThroughputResponsePercentage);
    s->rate_limit_ = limit;
  }
  s->upstream_cluster_ = proto.upstream_cluster();
  s->downstream_nodes_.insert(proto.downstream_nodes().begin(), proto.downstream_nodes().end());
  for (int i = 0; i < proto.headers_size(); ++i) {
    auto matcher =
        router::HeaderMatcher::create(proto.headers(i), "headers[" + std::to_string(i) + "]");
    if (!matcher.ok()) return matcher.status();
    s->headers_.push_back(std::move(matcher.value()));
  }
  if (proto.has_max_active_faults()) s->max_active_faults_ = proto.max_active_faults().value();
  s->downstream_cluster_stats_ = !proto.disable_downstream_cluster_stats();
  return std::shared_ptr<const FaultSettings>(std::move(s));
}

bool FaultSettings::matchesDownstreamNode(const remora::http::HeaderMap& headers) const {
  if (downstream_nodes_.empty()) return true;
  const std::string* node = headers.get(fault_headers::kDownstreamServiceNode);
  return node != nullptr && downstream_nodes_.count(*node) != 0;
}

bool FaultSettings::matchesHeaders(const remora::http::HeaderMap& headers) const {
  for (const auto& matcher : headers_) {
    if (!matcher.match(headers)) return false;
  }
  return true;
}

FaultStats::FaultStats(stats::Store& s, const std::string& p)
    : delays_injected(s.counter(p + "delays_injected")),
      aborts_injected(s.counter(p + "aborts_injected")),
      response_rl_injected(s.counter(p + "response_rl_injected")),
      faults_overflow(s.counter(p + "faults_overflow")),
      active_faults(s.gauge(p + "active_faults")) {}

FaultFilterConfig::FaultFilterConfig(FaultSettingsConstSharedPtr settings, stats::Store& store,
                                     const std::string& stats_prefix)
    : settings_(std::move(settings)),
      store_(store),
      prefix_(stats_prefix + "fault."),
      stats_(store, prefix_) {}

void FaultFilterConfig::incDownstreamClusterCounter(std::string_view downstream_cluster,
                                                    std::string_view name) const {
  std::string stat_name = prefix_;
  stat_name.append(downstream_cluster).append(".").append(name);
  store_.counter(stat_name).inc();
}

}  // namespace remora::filters::http::fault
