#include "filters/http/grpc_stats/grpc_stats_filter.h"

#include <algorithm>

#include "filters/http/grpc_stats/call_stats.h"

namespace remora::filters::http::grpc_stats {

std::shared_ptr<const GrpcStatsConfig> GrpcStatsConfig::create(const Proto& proto,
                                                               stats::Store& stats) {
  std::shared_ptr<GrpcStatsConfig> config(new GrpcStatsConfig(stats));
  config->stats_for_all_methods_ =
      proto.has_stats_for_all_methods() && proto.stats_for_all_methods().value();
  config->replace_dots_ = proto.replace_dots_in_grpc_service_name();
  config->enable_upstream_stats_ = proto.enable_upstream_stats();
  for (const auto& service : proto.individual_method_stats_allowlist().services()) {
    for (const auto& method : service.method_names())
      config->allowlist_.insert(service.name() + "/" + method);
  }
  return config;
}

std::optional<std::string> GrpcStatsConfig::statPrefixFor(std::string_view path) const {
  auto names = serviceAndMethod(path);
  if (!names) {
    if (stats_for_all_methods_) return std::nullopt;
    return std::string();
  }
  if (!stats_for_all_methods_) {
    std::string key(names->first);
    key += '/';
    key += names->second;
    if (!allowlist_.contains(key)) return std::string();
  }
  std::string service(names->first);
  if (replace_dots_) std::replace(service.begin(), service.end(), '.', '_');
  return service + "." + std::string(names->second) + ".";
}

remora::http::FilterHeadersStatus GrpcStatsFilter::decodeHeaders(
    remora::http::RequestHeaderMap& headers, bool) {
  if (!headers.path().empty() && remora::http::isGrpcRequest(headers)) {
    if (auto prefix = config_->statPrefixFor(headers.path())) {
      tracking_ = true;
      method_prefix_ = std::move(*prefix);
    }
  }
  return remora::http::FilterHeadersStatus::Continue;
}

remora::http::FilterDataStatus GrpcStatsFilter::decodeData(::remora::buffer::Buffer& data, bool) {
  if (tracking_ && request_frames_.inspect(data) > 0) flushMessageCounts();
  return remora::http::FilterDataStatus::Continue;
}

remora::http::FilterHeadersStatus GrpcStatsFilter::encodeHeaders(
    remora::http::ResponseHeaderMap& headers, bool end_stream) {
  if (tracking_) {
    chargeStatus(headers);
    if (end_stream) chargeUpstreamTime();
  }
  return remora::http::FilterHeadersStatus::Continue;
}

remora::http::FilterDataStatus GrpcStatsFilter::encodeData(::remora::buffer::Buffer& data, bool) {
  if (tracking_ && response_frames_.inspect(data) > 0) flushMessageCounts();
  return remora::http::FilterDataStatus::Continue;
}

remora::http::FilterTrailersStatus GrpcStatsFilter::encodeTrailers(
    remora::http::TrailerMap& trailers) {
  if (tracking_) {
    chargeStatus(trailers);
    chargeUpstreamTime();
  }
  return remora::http::FilterTrailersStatus::Continue;
}

void GrpcStatsFilter::onDestroy() {
  if (tracking_) flushMessageCounts();
  tracking_ = false;
}

std::string GrpcStatsFilter::statPrefix() const {
  const std::string& cluster = decoder_callbacks_->streamInfo().upstream_cluster;
  if (cluster.empty()) return {};
  return "cluster." + cluster + ".grpc." + method_prefix_;
}

void GrpcStatsFilter::chargeStatus(const remora::http::HeaderMap& headers_or_trailers) {
  if (!headers_or_trailers.has(remora::http::grpc_headers::kStatus)) return;
  const std::string prefix = statPrefix();
  if (!prefix.empty()) chargeCallStatus(config_->store(), prefix, headers_or_trailers);
}

void GrpcStatsFilter::chargeUpstreamTime() {
  if (!config_->enableUpstreamStats()) return;
  // Envoy: from the last request byte sent upstream to the last response byte received.
  const auto& info = decoder_callbacks_->streamInfo();
  if (!info.last_upstream_tx_byte_sent || !info.last_upstream_rx_byte_received) return;
  const std::string prefix = statPrefix();
  if (prefix.empty()) return;
  config_->store()
      .histogram(prefix + "upstream_rq_time")
      .recordMilliseconds(*info.last_upstream_rx_byte_received - *info.last_upstream_tx_byte_sent);
}

void GrpcStatsFilter::flushMessageCounts() {
  const uint64_t requests = request_frames_.frameCount() - request_messages_charged_;
  const uint64_t responses = response_frames_.frameCount() - response_messages_charged_;
  if (requests == 0 && responses == 0) return;
  const std::string prefix = statPrefix();
  if (prefix.empty()) return;
  if (requests > 0) config_->store().counter(prefix + "request_message_count").inc(requests);
  if (responses > 0) config_->store().counter(prefix + "response_message_count").inc(responses);
  request_messages_charged_ += requests;
  response_messages_charged_ += responses;
}

}  // namespace remora::filters::http::grpc_stats
