#pragma once

#include <ctime>

#include "access_log/formatter.h"
#include "http/header_map.h"
#include "stream_info/stream_info.h"

namespace remora::access_log::test {

// Envoy's documented example request: 2016-04-15T20:17:00.310Z, POST /api/v1/locations over
// HTTP/2, 204, 154 bytes in, 0 out, 226 ms total, upstream 10.0.2.1:80.
struct Fixture {
  Fixture() {
    std::tm tm{};
    tm.tm_year = 2016 - 1900;
    tm.tm_mon = 3;
    tm.tm_mday = 15;
    tm.tm_hour = 20;
    tm.tm_min = 17;
    tm.tm_sec = 0;
    info.start_time =
        std::chrono::system_clock::from_time_t(timegm(&tm)) + std::chrono::microseconds(310123);
    info.start_monotonic = std::chrono::steady_clock::now();
    info.protocol = http::Protocol::Http2;
    info.response_code = 204;
    info.bytes_received = 154;
    info.bytes_sent = 0;
    info.last_downstream_rx_byte_received = std::chrono::milliseconds(5);
    info.first_upstream_tx_byte_sent = std::chrono::milliseconds(6);
    info.last_upstream_tx_byte_sent = std::chrono::milliseconds(7);
    info.first_upstream_rx_byte_received = std::chrono::microseconds(100900);
    info.last_downstream_tx_byte_sent = std::chrono::microseconds(225500);
    info.request_complete = std::chrono::microseconds(226700);
    info.upstream_host = net::Address::parse("10.0.2.1", 80).value();
    info.upstream_local_address = net::Address::parse("10.0.0.9", 40000).value();
    info.downstream_remote_address = net::Address::parse("10.0.35.28", 51000).value();
    info.downstream_direct_remote_address = net::Address::parse("10.0.35.1", 52000).value();
    info.downstream_local_address = net::Address::parse("10.0.0.1", 9080).value();
    request.add(":method", "POST");
    request.add(":path", "/api/v1/locations");
    request.add(":authority", "locations");
    request.add("x-forwarded-for", "10.0.35.28");
    request.add("user-agent", "nsq2http");
    request.add("x-request-id", "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2");
    response.add(":status", "204");
    response.add("x-envoy-upstream-service-time", "100");
    trailers.add("grpc-status", "0");
  }
  FormatContext context() const { return {&request, &response, &trailers, info, "body"}; }

  stream_info::StreamInfo info;
  http::HeaderMap request;
  http::HeaderMap response;
  http::HeaderMap trailers;
};

// Formats `format` against `context`, failing the test on a parse error.
inline std::string formatWith(std::string_view format, const FormatContext& context) {
  auto parsed = FormatString::parse(format);
  if (!parsed.ok()) return "PARSE ERROR: " + parsed.status().message();
  return parsed->format(context);
}

}  // namespace remora::access_log::test
