#include <gtest/gtest.h>

#include "access_log/formatter.h"
#include "access_log/substitution_format.h"
#include "access_log/time_format.h"
#include "access_log_fixtures.h"

namespace remora::access_log {
namespace {

using test::Fixture;
using test::formatWith;

TEST(AccessLogFormatterTest, DefaultFormatByteForByte) {
  Fixture f;
  FormatterPtr formatter = createDefaultFormatter();
  EXPECT_EQ(formatter->format(f.context()),
            "[2016-04-15T20:17:00.310Z] \"POST /api/v1/locations HTTP/2\" 204 - 154 0 226 100 "
            "\"10.0.35.28\" \"nsq2http\" \"cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2\" \"locations\" "
            "\"10.0.2.1:80\"\n");
}

TEST(AccessLogFormatterTest, DefaultFormatWithNothingKnown) {
  stream_info::StreamInfo info;
  info.start_time = std::chrono::system_clock::time_point();
  FormatContext context{nullptr, nullptr, nullptr, info, {}};
  EXPECT_EQ(createDefaultFormatter()->format(context),
            "[1970-01-01T00:00:00.000Z] \"- - -\" 0 - 0 0 - - \"-\" \"-\" \"-\" \"-\" \"-\"\n");
}

TEST(AccessLogFormatterTest, StartTimeFormats) {
  Fixture f;
  auto c = f.context();
  EXPECT_EQ(formatWith("%START_TIME%", c), "2016-04-15T20:17:00.310Z");
  EXPECT_EQ(formatWith("%START_TIME(%Y/%m/%dT%H:%M:%S%z)%", c), "2016/04/15T20:17:00+0000");
  EXPECT_EQ(formatWith("%START_TIME(%s)%", c), "1460751420");
  EXPECT_EQ(formatWith("%START_TIME(%s.%3f)%", c), "1460751420.310");
  EXPECT_EQ(formatWith("%START_TIME(%s.%6f)%", c), "1460751420.310123");
  EXPECT_EQ(formatWith("%START_TIME(%s.%9f)%", c), "1460751420.310123000");
  EXPECT_EQ(formatWith("%START_TIME(%f)%", c), "310123000");
  EXPECT_EQ(formatWith("%START_TIME(%1f)%", c), "3");
  EXPECT_EQ(formatWith("%START_TIME(%Y-%m-%dT%H:%M:%E3SZ)%", c), "2016-04-15T20:17:00.310Z");
  EXPECT_EQ(formatWith("%START_TIME(%E6S|%E0S)%", c), "00.310123|00");
  EXPECT_EQ(formatWith("%START_TIME(100%% %H)%", c), "100% 20");
}

TEST(AccessLogFormatterTest, FractionsTruncateRatherThanRound) {
  auto t = std::chrono::system_clock::time_point(std::chrono::nanoseconds(999999999));
  EXPECT_EQ(formatTime("%3f", t), "999");
  EXPECT_EQ(formatTime("", t), "1970-01-01T00:00:00.999Z");
}

TEST(AccessLogFormatterTest, RequestHeadersWithFallbackAndTruncation) {
  Fixture f;
  auto c = f.context();
  EXPECT_EQ(formatWith("%REQ(:METHOD)%", c), "POST");
  EXPECT_EQ(formatWith("%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%", c), "/api/v1/locations");
  f.request.add("x-envoy-original-path", "/original");
  EXPECT_EQ(formatWith("%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%", c), "/original");
  EXPECT_EQ(formatWith("%REQ(USER-AGENT):3%", c), "nsq");
  EXPECT_EQ(formatWith("%REQ(USER-AGENT):100%", c), "nsq2http");
  EXPECT_EQ(formatWith("%REQ(X-MISSING)%", c), "-");
  EXPECT_EQ(formatWith("%REQ(X-MISSING?X-ALSO-MISSING):2%", c), "-");
  EXPECT_EQ(formatWith("%REQUEST_HEADER(:AUTHORITY)%", c), "locations");
}

TEST(AccessLogFormatterTest, ResponseHeadersAndTrailers) {
  Fixture f;
  auto c = f.context();
  EXPECT_EQ(formatWith("%RESP(:STATUS)% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%", c), "204 100");
  EXPECT_EQ(formatWith("%TRAILER(GRPC-STATUS)% %TRAILER(GRPC-MESSAGE)%", c), "0 -");
  EXPECT_EQ(formatWith("%RESPONSE_HEADER(:status)%|%RESPONSE_TRAILER(grpc-status)%", c), "204|0");
  FormatContext no_headers{nullptr, nullptr, nullptr, f.info, {}};
  EXPECT_EQ(formatWith("%REQ(:PATH)% %RESP(:STATUS)% %TRAILER(X)%", no_headers), "- - -");
}

TEST(AccessLogFormatterTest, Durations) {
  Fixture f;
  auto c = f.context();
  EXPECT_EQ(formatWith("%DURATION% %REQUEST_DURATION% %REQUEST_TX_DURATION% "
                       "%RESPONSE_DURATION% %RESPONSE_TX_DURATION%",
                       c),
            "226 5 7 100 124");
  f.info = stream_info::StreamInfo{};
  EXPECT_EQ(formatWith("%DURATION% %REQUEST_DURATION% %REQUEST_TX_DURATION% "
                       "%RESPONSE_DURATION% %RESPONSE_TX_DURATION%",
                       c),
            "- - - - -");
}

TEST(AccessLogFormatterTest, ResponseAndConnectionDetails) {
  Fixture f;
  auto c = f.context();
  EXPECT_EQ(
      formatWith("%RESPONSE_CODE% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%", c),
      "204 - -");
  f.info.response_code_details = "via_upstream";
  f.info.connection_termination_details = "idle_timeout";
  EXPECT_EQ(formatWith("%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%", c),
            "via_upstream idle_timeout");
  f.info.response_code.reset();
  EXPECT_EQ(formatWith("%RESPONSE_CODE%", c), "0");
}

TEST(AccessLogFormatterTest, ResponseFlags) {
  Fixture f;
  auto c = f.context();
  EXPECT_EQ(formatWith("%RESPONSE_FLAGS%|%RESPONSE_FLAGS_LONG%", c), "-|-");
  f.info.setResponseFlag(stream_info::NoHealthyUpstream);
  f.info.setResponseFlag(stream_info::UpstreamConnectionFailure);
  EXPECT_EQ(formatWith("%RESPONSE_FLAGS%|%RESPONSE_FLAGS_LONG%", c),
            "UH,UF|NoHealthyUpstream,UpstreamConnectionFailure");
}

TEST(AccessLogFormatterTest, BytesProtocolAndAttempts) {
  Fixture f;
  auto c = f.context();
  f.info.attempt_count = 2;
  EXPECT_EQ(
      formatWith("%BYTES_RECEIVED% %BYTES_SENT% %PROTOCOL% %UPSTREAM_REQUEST_ATTEMPT_COUNT%", c),
      "154 0 HTTP/2 2");
  f.info.protocol = http::Protocol::Http11;
  EXPECT_EQ(formatWith("%PROTOCOL%", c), "HTTP/1.1");
  f.info.protocol.reset();
  EXPECT_EQ(formatWith("%PROTOCOL%", c), "-");
}

TEST(AccessLogFormatterTest, Upstream) {
  Fixture f;
  auto c = f.context();
  EXPECT_EQ(formatWith("%UPSTREAM_HOST% %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% "
                       "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
                       c),
            "10.0.2.1:80 - 10.0.0.9:40000 -");
  f.info.upstream_cluster = "outbound|9080|v1|reviews.default.svc.cluster.local";
  f.info.upstream_transport_failure_reason = "delayed connect error: 111";  // logged with '_'s
  f.info.upstream_host.reset();
  EXPECT_EQ(formatWith("%UPSTREAM_HOST% %UPSTREAM_CLUSTER% %UPSTREAM_TRANSPORT_FAILURE_REASON%", c),
            "- outbound|9080|v1|reviews.default.svc.cluster.local delayed_connect_error:_111");
}

TEST(AccessLogFormatterTest, DownstreamAddresses) {
  Fixture f;
  auto c = f.context();
  EXPECT_EQ(formatWith("%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", c),
            "10.0.35.28:51000 10.0.35.28");
  EXPECT_EQ(formatWith("%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT% "
                       "%DOWNSTREAM_LOCAL_PORT%",
                       c),
            "10.0.0.1:9080 10.0.0.1 9080");
  EXPECT_EQ(formatWith("%DOWNSTREAM_DIRECT_REMOTE_ADDRESS% "
                       "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%",
                       c),
            "10.0.35.1:52000 10.0.35.1");
  f.info.downstream_remote_address = net::Address::parse("::1", 443).value();
  EXPECT_EQ(formatWith("%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", c),
            "[::1]:443 ::1");
  f.info.downstream_local_address = net::Address();
  EXPECT_EQ(formatWith("%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_PORT%", c), "- -");
}

TEST(AccessLogFormatterTest, NamesAndBody) {
  Fixture f;
  auto c = f.context();
  EXPECT_EQ(formatWith("%REQUESTED_SERVER_NAME% %ROUTE_NAME% %LOCAL_REPLY_BODY%", c), "- - body");
  f.info.requested_server_name = "example.com";
  f.info.route_name = "default";
  EXPECT_EQ(formatWith("%REQUESTED_SERVER_NAME% %ROUTE_NAME%", c), "example.com default");
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  EXPECT_EQ(formatWith("%HOSTNAME%", c), host);
}

TEST(AccessLogFormatterTest, LiteralsAndPercentEscape) {
  Fixture f;
  EXPECT_EQ(formatWith("plain text", f.context()), "plain text");
  EXPECT_EQ(formatWith("100%% of %RESPONSE_CODE%%%", f.context()), "100% of 204%");
  EXPECT_EQ(formatWith("", f.context()), "");
}

TEST(AccessLogFormatterTest, OmitEmptyValuesPrintsNothingForAbsent) {
  Fixture f;
  auto parsed = FormatString::parse("[%ROUTE_NAME%]");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->format(f.context(), ""), "[]");
}

TEST(AccessLogFormatterTest, ConfigErrorsNameTheOperator) {
  auto unknown = FormatString::parse("a %NOT_AN_OPERATOR% b");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("%NOT_AN_OPERATOR%"), std::string::npos);

  auto no_header = FormatString::parse("%REQ%");
  ASSERT_FALSE(no_header.ok());
  EXPECT_NE(no_header.status().message().find("%REQ%"), std::string::npos);

  EXPECT_FALSE(FormatString::parse("%REQ(A?B?C)%").ok());
  EXPECT_FALSE(FormatString::parse("%DURATION(x)%").ok());
  EXPECT_FALSE(FormatString::parse("50% off").ok());
  EXPECT_FALSE(FormatString::parse("%RESPONSE_CODE").ok());
  EXPECT_FALSE(FormatString::parse("%REQ(X:5%").ok());
  EXPECT_FALSE(FormatString::parse("%REQ(X):%").ok());
  EXPECT_FALSE(FormatString::parse("%lower%").ok());
}

TEST(AccessLogFormatterTest, SingleOperatorDetection) {
  auto single = FormatString::parse("%RESPONSE_CODE%");
  ASSERT_TRUE(single.ok());
  EXPECT_NE(single->singleOperator(), nullptr);
  auto mixed = FormatString::parse("code=%RESPONSE_CODE%");
  ASSERT_TRUE(mixed.ok());
  EXPECT_EQ(mixed->singleOperator(), nullptr);
}

}  // namespace
}  // namespace remora::access_log
