#include "http/http2/protocol_options.h"

#include <google/protobuf/util/time_util.h>

namespace remora::http::http2 {

namespace {
std::chrono::milliseconds toMs(const google::protobuf::Duration& d) {
  return std::chrono::milliseconds(google::protobuf::util::TimeUtil::DurationToMilliseconds(d));
}
}  // namespace

void applyProtocolOptions(const envoy::config::core::v3::Http2ProtocolOptions& proto,
                          Http2Options& options) {
  if (proto.has_hpack_table_size()) options.hpack_table_size = proto.hpack_table_size().value();
  if (proto.has_max_concurrent_streams()) {
    options.max_concurrent_streams = proto.max_concurrent_streams().value();
  }
  if (proto.has_initial_stream_window_size()) {
    options.initial_stream_window_size = proto.initial_stream_window_size().value();
  }
  if (proto.has_initial_connection_window_size()) {
    options.initial_connection_window_size = proto.initial_connection_window_size().value();
  }
  options.allow_connect = proto.allow_connect();
  if (proto.has_connection_keepalive()) {
    const auto& keepalive = proto.connection_keepalive();
    // timeout is required (at least 1 ms, checked at load by the PGV rules); an absent or zero
    // interval sends no PINGs of our own.
    options.keepalive = true;
    options.keepalive_options.timeout = toMs(keepalive.timeout());
    if (keepalive.has_interval()) options.keepalive_options.interval = toMs(keepalive.interval());
    if (keepalive.has_interval_jitter()) {
      options.keepalive_options.interval_jitter_percent = keepalive.interval_jitter().value();
    }
  }
}

}  // namespace remora::http::http2
