#include "stream_info/stream_info.h"

namespace remora::stream_info {

namespace {
struct FlagName {
  ResponseFlag flag;
  std::string_view short_name;
  std::string_view long_name;
};
constexpr FlagName kFlags[] = {
    {FailedLocalHealthCheck, "LH", "FailedLocalHealthCheck"},
    {NoHealthyUpstream, "UH", "NoHealthyUpstream"},
    {UpstreamRequestTimeout, "UT", "UpstreamRequestTimeout"},
    {LocalReset, "LR", "LocalReset"},
    {UpstreamRemoteReset, "UR", "UpstreamRemoteReset"},
    {UpstreamConnectionFailure, "UF", "UpstreamConnectionFailure"},
    {UpstreamConnectionTermination, "UC", "UpstreamConnectionTermination"},
    {UpstreamOverflow, "UO", "UpstreamOverflow"},
    {NoRouteFound, "NR", "NoRouteFound"},
    {DelayInjected, "DI", "DelayInjected"},
    {FaultInjected, "FI", "FaultInjected"},
    {RateLimited, "RL", "RateLimited"},
    {UnauthorizedExternalService, "UAEX", "UnauthorizedExternalService"},
    {RateLimitServiceError, "RLSE", "RateLimitServiceError"},
    {DownstreamConnectionTermination, "DC", "DownstreamConnectionTermination"},
    {UpstreamRetryLimitExceeded, "URX", "UpstreamRetryLimitExceeded"},
    {StreamIdleTimeout, "SI", "StreamIdleTimeout"},
    {InvalidEnvoyRequestHeaders, "IH", "InvalidEnvoyRequestHeaders"},
    {DownstreamProtocolError, "DPE", "DownstreamProtocolError"},
    {UpstreamMaxStreamDurationReached, "UMSDR", "UpstreamMaxStreamDurationReached"},
    {ResponseFromCacheFilter, "RFCF", "ResponseFromCacheFilter"},
    {NoFilterConfigFound, "NFCF", "NoFilterConfigFound"},
    {DurationTimeout, "DT", "DurationTimeout"},
    {UpstreamProtocolError, "UPE", "UpstreamProtocolError"},
    {NoClusterFound, "NC", "NoClusterFound"},
    {OverloadManager, "OM", "OverloadManager"},
    {DnsResolutionFailed, "DF", "DnsResolutionFailed"},
    {DropOverLoad, "DO", "DropOverLoad"},
    {DownstreamRemoteReset, "DR", "DownstreamRemoteReset"},
};
}  // namespace

std::string responseFlagsToShortString(uint64_t flags) {
  std::string out;
  for (const auto& f : kFlags) {
    if ((flags & f.flag) == 0) continue;
    if (!out.empty()) out += ',';
    out += f.short_name;
  }
  return out.empty() ? "-" : out;
}

std::string_view responseFlagLongName(ResponseFlag flag) {
  for (const auto& f : kFlags) {
    if (f.flag == flag) return f.long_name;
  }
  return "";
}

}  // namespace remora::stream_info
