#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace remora::stats {
class Store;
class Counter;
class Gauge;
}  // namespace remora::stats

namespace remora::http::http2 {

// Http2ProtocolOptions.connection_keepalive: a PING every `interval` (plus up to
// `interval_jitter_percent` of it, so connections opened together do not ping together); no
// ACK within `timeout` closes the connection (Envoy's http2.keepalive_timeout).
struct KeepaliveOptions {
  std::chrono::milliseconds interval{0};  // 0: no PINGs are sent
  std::chrono::milliseconds timeout{0};
  double interval_jitter_percent = 15.0;  // Envoy's default
};

// Http2ProtocolOptions (and the limits around it) as the codec uses them. Defaults are Envoy's
// (api/envoy/config/core/v3/protocol.proto).
struct Http2Options {
  uint32_t hpack_table_size = 4096;
  uint32_t max_concurrent_streams = 2147483647;
  // Both windows default to 256 MiB in Envoy. A stream whose consumer is slow keeps at most its
  // window (plus the frame being delivered) buffered here.
  uint32_t initial_stream_window_size = 268435456;
  uint32_t initial_connection_window_size = 268435456;
  // SETTINGS_MAX_HEADER_LIST_SIZE and the limit enforced on received header blocks (HCM
  // max_request_headers_kb downstream, Envoy's 60 KiB default upstream).
  uint32_t max_header_list_kb = 60;
  uint32_t max_headers_count = 100;
  // Stream::bufferLimit(): queued outgoing bytes of one stream above this pause its producer.
  uint32_t buffer_limit = 1024 * 1024;
  // allow_connect: a server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and accepts RFC 8441
  // extended CONNECT (WebSocket over HTTP/2); without it a request with :protocol is malformed.
  bool allow_connect = false;
  bool keepalive = false;  // connection_keepalive is set
  KeepaliveOptions keepalive_options;
};

// Envoy's http2.* codec stats (rooted at "http2." downstream, "cluster.<name>.http2." upstream).
struct Http2Stats {
  Http2Stats(stats::Store& store, const std::string& prefix);
  stats::Counter& rx_reset;            // RST_STREAM received
  stats::Counter& tx_reset;            // RST_STREAM sent
  stats::Counter& header_overflow;     // a header block over the size or count limit
  stats::Counter& rx_messaging_error;  // a malformed message (bad header, pseudo-header, ...)
  stats::Counter& trailers;            // trailers received
  stats::Counter& goaway_sent;
  stats::Counter& rx_protocol_error;  // the connection ended on a protocol error of the peer
  stats::Counter& keepalive_timeout;  // no PING ACK within connection_keepalive.timeout
  stats::Gauge& streams_active;
};

}  // namespace remora::http::http2
