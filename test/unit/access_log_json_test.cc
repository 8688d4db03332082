#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "access_log/substitution_format.h"
#include "access_log_fixtures.h"

namespace remora::access_log {
namespace {

using envoy::config::core::v3::SubstitutionFormatString;
using test::Fixture;

template <class T>
T fromJson(const std::string& json) {
  T message;
  auto status = google::protobuf::util::JsonStringToMessage(json, &message);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return message;
}

std::string formatJson(const std::string& config_json, const FormatContext& context) {
  auto formatter = createFormatter(fromJson<SubstitutionFormatString>(config_json));
  if (!formatter.ok()) return "ERROR: " + formatter.status().message();
  return formatter.value()->format(context);
}

TEST(AccessLogJsonTest, SingleOperatorsKeepTheirType) {
  Fixture f;
  EXPECT_EQ(formatJson(R"({"json_format": {"status": "%RESPONSE_CODE%", "duration": "%DURATION%",
                           "rx": "%BYTES_RECEIVED%", "tx": "%BYTES_SENT%",
                           "method": "%REQ(:METHOD)%", "port": "%DOWNSTREAM_LOCAL_PORT%"}})",
                       f.context()),
            R"({"duration":226,"method":"POST","port":9080,"rx":154,"status":204,"tx":0})"
            "\n");
}

TEST(AccessLogJsonTest, AbsentIsNullAndMixedTextIsAString) {
  Fixture f;
  EXPECT_EQ(formatJson(R"({"json_format": {"route": "%ROUTE_NAME%",
                           "line": "%REQ(:METHOD)% %ROUTE_NAME% %RESPONSE_CODE%"}})",
                       f.context()),
            R"({"line":"POST - 204","route":null})"
            "\n");
}

TEST(AccessLogJsonTest, OmitEmptyValuesDropsAbsentKeys) {
  Fixture f;
  EXPECT_EQ(formatJson(R"({"json_format": {"route": "%ROUTE_NAME%", "code": "%RESPONSE_CODE%",
                           "nested": {"cluster": "%UPSTREAM_CLUSTER%"}},
                           "omit_empty_values": true})",
                       f.context()),
            R"({"code":204,"nested":{}})"
            "\n");
}

TEST(AccessLogJsonTest, NestedStructsAndLiterals) {
  Fixture f;
  EXPECT_EQ(formatJson(R"({"json_format": {"request": {"method": "%REQ(:METHOD)%",
                           "path": "%REQ(:PATH)%"}, "upstream": {"host": "%UPSTREAM_HOST%"},
                           "version": 2, "ok": true, "plain": "text"}})",
                       f.context()),
            R"({"ok":true,"plain":"text","request":{"method":"POST","path":"/api/v1/locations"},)"
            R"("upstream":{"host":"10.0.2.1:80"},"version":2})"
            "\n");
}

TEST(AccessLogJsonTest, StringsAreEscaped) {
  Fixture f;
  f.request.add("user-agent-evil", "a\"b\\c\nd\x01");
  EXPECT_EQ(formatJson(R"({"json_format": {"ua": "%REQ(USER-AGENT-EVIL)%"}})", f.context()),
            R"({"ua":"a\"b\\c\nd\u0001"})"
            "\n");
}

TEST(AccessLogJsonTest, UntypedRendersEveryValueAsAString) {
  Fixture f;
  auto format = fromJson<google::protobuf::Struct>(
      R"({"status": "%RESPONSE_CODE%", "route": "%ROUTE_NAME%"})");
  auto formatter = JsonFormatter::create(format, /*typed=*/false, false);
  ASSERT_TRUE(formatter.ok());
  EXPECT_EQ(formatter.value()->format(f.context()), R"({"route":"-","status":"204"})"
                                                    "\n");
}

TEST(AccessLogJsonTest, BadOperatorInsideJsonNamesTheKey) {
  Fixture f;
  std::string out = formatJson(R"({"json_format": {"a": {"b": "%BOGUS%"}}})", f.context());
  EXPECT_NE(out.find("ERROR: json_format.a.b"), std::string::npos) << out;
  EXPECT_NE(out.find("%BOGUS%"), std::string::npos) << out;
  out = formatJson(R"({"json_format": {"list": [1, 2]}})", f.context());
  EXPECT_NE(out.find("ERROR: json_format.list"), std::string::npos) << out;
}

TEST(AccessLogJsonTest, TextFormatAndTextFormatSource) {
  Fixture f;
  EXPECT_EQ(formatJson(R"({"text_format": "%RESPONSE_CODE% %ROUTE_NAME%\n"})", f.context()),
            "204 -\n");
  EXPECT_EQ(formatJson(R"({"text_format_source": {"inline_string": "%REQ(:METHOD)%!"},
                           "content_type": "text/plain"})",
                       f.context()),
            "POST!");
  EXPECT_EQ(
      formatJson(R"({"text_format": "[%ROUTE_NAME%]", "omit_empty_values": true})", f.context()),
      "[]");
  EXPECT_NE(formatJson(R"({"text_format_source": {"filename": "/etc/hostname"}})", f.context())
                .find("not supported by remora: text_format_source"),
            std::string::npos);
  EXPECT_NE(formatJson(R"({"text_format": "%NOPE%"})", f.context()).find("ERROR: text_format"),
            std::string::npos);
}

}  // namespace
}  // namespace remora::access_log
