#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"
#include "envoy/extensions/filters/http/grpc_stats/v3/config.pb.h"
#include "http/filter.h"
#include "http/grpc.h"
#include "stats/store.h"

namespace remora::filters::http::grpc_stats {

inline constexpr std::string_view kFilterName = "envoy.filters.http.grpc_stats";

// One FilterConfig translated: which calls get per-method stats and where the stats live.
class GrpcStatsConfig {
 public:
  using Proto = envoy::extensions::filters::http::grpc_stats::v3::FilterConfig;
  static std::shared_ptr<const GrpcStatsConfig> create(const Proto& proto, stats::Store& stats);

  // The "<service>.<method>" part of a call's stat names for `path` ("/pkg.Service/Method"):
  // set for every well-formed path with stats_for_all_methods, for the allowlisted ones
  // otherwise; an empty string when the call counts in the cluster's generic gRPC stats. nullopt
  // when the call is not tracked at all (stats_for_all_methods and a path that names no method,
  // as Envoy).
  std::optional<std::string> statPrefixFor(std::string_view path) const;

  bool enableUpstreamStats() const { return enable_upstream_stats_; }
  stats::Store& store() const { return store_; }

 private:
  explicit GrpcStatsConfig(stats::Store& store) : store_(store) {}

  stats::Store& store_;
  bool stats_for_all_methods_ = false;
  bool replace_dots_ = false;
  bool enable_upstream_stats_ = false;
  std::set<std::string, std::less<>> allowlist_;  // "<service>/<method>"
};

// envoy.filters.http.grpc_stats: per-call gRPC telemetry in the target cluster's scope,
// `cluster.<cluster>.grpc.[<service>.<method>.]`: success / failure / total and one counter per
// grpc-status value (from a trailers-only response's headers or from the trailers), the messages
// seen each way (request_message_count, response_message_count, counted from the gRPC framing
// of the bodies), and with enable_upstream_stats the upstream_rq_time histogram. Stats appear
// on first use. Bodies and headers pass untouched.
class GrpcStatsFilter final : public remora::http::StreamFilter {
 public:
  explicit GrpcStatsFilter(std::shared_ptr<const GrpcStatsConfig> config)
      : config_(std::move(config)) {}

  remora::http::FilterHeadersStatus decodeHeaders(remora::http::RequestHeaderMap& headers,
                                                  bool end_stream) override;
  remora::http::FilterDataStatus decodeData(::remora::buffer::Buffer& data,
                                            bool end_stream) override;
  void setDecoderFilterCallbacks(remora::http::StreamDecoderFilterCallbacks& callbacks) override {
    decoder_callbacks_ = &callbacks;
  }
  remora::http::FilterHeadersStatus encodeHeaders(remora::http::ResponseHeaderMap& headers,
                                                  bool end_stream) override;
  remora::http::FilterDataStatus encodeData(::remora::buffer::Buffer& data,
                                            bool end_stream) override;
  remora::http::FilterTrailersStatus encodeTrailers(remora::http::TrailerMap& trailers) override;
  void setEncoderFilterCallbacks(remora::http::StreamEncoderFilterCallbacks& callbacks) override {
    encoder_callbacks_ = &callbacks;
  }
  void onDestroy() override;

 private:
  // "cluster.<c>.grpc.<svc>.<method>." (or without the method part); empty while the stream
  // has no cluster (the router names it; no route or no cluster means no stats, as Envoy).
  std::string statPrefix() const;
  void chargeStatus(const remora::http::HeaderMap& headers_or_trailers);
  void chargeUpstreamTime();
  // Adds the message counts not yet charged, once the cluster is known.
  void flushMessageCounts();

  const std::shared_ptr<const GrpcStatsConfig> config_;
  remora::http::StreamDecoderFilterCallbacks* decoder_callbacks_ = nullptr;
  remora::http::StreamEncoderFilterCallbacks* encoder_callbacks_ = nullptr;
  bool tracking_ = false;
  std::string method_prefix_;  // "<svc>.<method>." or empty
  remora::http::GrpcFrameCounter request_frames_;
  remora::http::GrpcFrameCounter response_frames_;
  uint64_t request_messages_charged_ = 0;
  uint64_t response_messages_charged_ = 0;
};

}  // namespace remora::filters::http::grpc_stats
