// Header manipulation (levels, append actions, %VAR% values) and redirect Locations.
#include <gtest/gtest.h>

#include "router_test_util.h"

namespace remora::router::test {
namespace {

std::string add(const std::string& key, const std::string& value,
                const std::string& action = "APPEND_IF_EXISTS_OR_ADD") {
  return R"({"header":{"key":")" + key + R"(","value":")" + value + R"("},"append_action":")" +
         action + R"("})";
}

// Three levels each overwriting "x-level" and appending "x-trace".
std::string levels(bool most_specific_wins) {
  auto adds = [](const std::string& who) {
    return R"("request_headers_to_add":[)" + add("x-level", who, "OVERWRITE_IF_EXISTS_OR_ADD") +
           "," + add("x-trace", who) + R"(],"response_headers_to_add":[)" +
           add("x-level", who, "OVERWRITE_IF_EXISTS_OR_ADD") + "]";
  };
  return std::string("{") +
         (most_specific_wins ? R"("most_specific_header_mutations_wins":true,)" : "") +
         adds("config") + R"(,"virtual_hosts":[{"name":"v","domains":["*"],)" + adds("vhost") +
         R"(,"routes":[{"match":{"prefix":"/"},"route":{"cluster":"c"},)" + adds("route") + "}]}]}";
}

TEST(RouterHeadersTest, DefaultOrderRouteThenVhostThenConfig) {
  auto config = build(levels(false));
  ASSERT_NE(config, nullptr);
  auto headers = request("a", "/");
  stream_info::StreamInfo info;
  const Route* route = config->route(headers, 0);
  route->routeEntry()->finalizeRequestHeaders(headers, info, false);
  // Envoy applies the most specific level first, so the least specific overwrite wins.
  EXPECT_EQ(*headers.get("x-level"), "config");
  EXPECT_EQ(headers.getAll("x-trace"), (std::vector<std::string_view>{"route", "vhost", "config"}));
  http::HeaderMap response;
  route->finalizeResponseHeaders(response, info);
  EXPECT_EQ(*response.get("x-level"), "config");
}

TEST(RouterHeadersTest, MostSpecificHeaderMutationsWins) {
  auto config = build(levels(true));
  ASSERT_NE(config, nullptr);
  auto headers = request("a", "/");
  stream_info::StreamInfo info;
  const Route* route = config->route(headers, 0);
  route->routeEntry()->finalizeRequestHeaders(headers, info, false);
  EXPECT_EQ(*headers.get("x-level"), "route");
  EXPECT_EQ(headers.getAll("x-trace"), (std::vector<std::string_view>{"config", "vhost", "route"}));
  http::HeaderMap response;
  route->routeEntry()->finalizeResponseHeaders(response, info);
  EXPECT_EQ(*response.get("x-level"), "route");
}

TEST(RouterHeadersTest, AppendActionsKeepEmptyAndRemoveBeforeAdd) {
  auto config =
      build(oneVhost(R"({"match":{"prefix":"/"},"route":{"cluster":"c"},
      "request_headers_to_remove":["x-gone","x-replaced"],
      "request_headers_to_add":[)" +
                     add("x-append", "2") + "," + add("x-absent", "new", "ADD_IF_ABSENT") + "," +
                     add("x-present", "new", "ADD_IF_ABSENT") + "," +
                     add("x-over", "new", "OVERWRITE_IF_EXISTS_OR_ADD") + "," +
                     add("x-only-if", "new", "OVERWRITE_IF_EXISTS") + "," +
                     add("x-missing", "new", "OVERWRITE_IF_EXISTS") + "," +
                     add("x-replaced", "fresh") + "," + add("x-empty", "") + "," +
                     R"({"header":{"key":"x-kept","value":""},"keep_empty_value":true},
        {"header":{"key":"x-bool","value":"b"},"append":false}]})"));
  ASSERT_NE(config, nullptr);
  auto headers = request("a", "/",
                         {{"x-append", "1"},
                          {"x-present", "old"},
                          {"x-over", "o1"},
                          {"x-over", "o2"},
                          {"x-only-if", "old"},
                          {"x-gone", "g"},
                          {"x-replaced", "stale"},
                          {"x-bool", "a"}});
  stream_info::StreamInfo info;
  config->route(headers, 0)->routeEntry()->finalizeRequestHeaders(headers, info, false);
  EXPECT_EQ(headers.getAll("x-append"), (std::vector<std::string_view>{"1", "2"}));
  EXPECT_EQ(*headers.get("x-absent"), "new");
  EXPECT_EQ(headers.getAll("x-present"), (std::vector<std::string_view>{"old"}));
  EXPECT_EQ(headers.getAll("x-over"), (std::vector<std::string_view>{"new"}));
  EXPECT_EQ(*headers.get("x-only-if"), "new");
  EXPECT_FALSE(headers.has("x-missing"));
  EXPECT_FALSE(headers.has("x-gone"));
  EXPECT_EQ(headers.getAll("x-replaced"), (std::vector<std::string_view>{"fresh"}));
  EXPECT_FALSE(headers.has("x-empty"));
  ASSERT_TRUE(headers.has("x-kept"));
  EXPECT_EQ(headers.getAll("x-bool"), (std::vector<std::string_view>{"b"}));
}

TEST(RouterHeadersTest, VariableSubstitution) {
  auto config = build(oneVhost(R"({"match":{"prefix":"/"},"route":{"cluster":"c"},
      "request_headers_to_add":[)" +
                               add("x-client", "%DOWNSTREAM_REMOTE_ADDRESS%") + "," +
                               add("x-ip", "ip=%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%;") + "," +
                               add("x-proto", "%PROTOCOL%") + "," + add("x-start", "%START_TIME%") +
                               "," + add("x-up", "%UPSTREAM_REMOTE_ADDRESS%") + "," +
                               add("x-pct", "100%%") + "]}"));
  ASSERT_NE(config, nullptr);
  stream_info::StreamInfo info;
  info.downstream_remote_address = net::Address::parse("10.1.2.3", 4567).value();
  info.protocol = http::Protocol::Http11;
  info.start_time = stream_info::SystemTime(std::chrono::milliseconds(1700000000123LL));
  auto headers = request("a", "/");
  config->route(headers, 0)->routeEntry()->finalizeRequestHeaders(headers, info, false);
  EXPECT_EQ(*headers.get("x-client"), "10.1.2.3:4567");
  EXPECT_EQ(*headers.get("x-ip"), "ip=10.1.2.3;");
  EXPECT_EQ(*headers.get("x-proto"), "HTTP/1.1");
  EXPECT_EQ(*headers.get("x-start"), "2023-11-14T22:13:20.123Z");
  EXPECT_FALSE(headers.has("x-up"));  // no upstream yet: empty, so not added
  EXPECT_EQ(*headers.get("x-pct"), "100%");
}

TEST(RouterHeadersTest, LoadErrorsNameTheField) {
  EXPECT_EQ(buildError(oneVhost(R"({"match":{"prefix":"/"},"route":{"cluster":"c"},
      "request_headers_to_add":[)" +
                                add("x-ok", "v") + "," + add("x-a", "%REQ(x-b)%") + "]}")),
            "not supported by remora: virtual_hosts[0].routes[0].request_headers_to_add[1]."
            "header.value: %REQ(x-b)%");
  EXPECT_EQ(buildError(R"({"response_headers_to_add":[)" + add("x", "50%") + "]}"),
            "response_headers_to_add[0].header.value: unterminated variable expression in '50%'");
  EXPECT_EQ(buildError(R"({"virtual_hosts":[{"name":"v","domains":["*"],
      "request_headers_to_add":[)" +
                       add(":path", "/x") + "]}]}"),
            "virtual_hosts[0].request_headers_to_add[0].header.key: ':'-prefixed or host headers "
            "may not be modified");
  EXPECT_EQ(buildError(R"({"request_headers_to_remove":["Host"]})"),
            "request_headers_to_remove[0]: ':'-prefixed or host headers may not be removed");
}

std::string redirect(const std::string& json, std::string_view host, std::string_view path,
                     std::initializer_list<std::pair<std::string, std::string>> extra = {}) {
  auto config = build(oneVhost(R"({"match":{"prefix":"/old"},"redirect":)" + json + "}"));
  if (config == nullptr) return "<error>";
  auto headers = request(host, path, extra);
  const Route* route = config->route(headers, 0);
  if (route == nullptr || route->redirect() == nullptr) return "<no redirect>";
  return std::to_string(route->redirect()->responseCode()) + " " + route->redirectLocation(headers);
}

TEST(RouterHeadersTest, Redirects) {
  EXPECT_EQ(redirect(R"({"host_redirect":"b.com"})", "a.com", "/old/x?q=1"),
            "301 http://b.com/old/x?q=1");
  EXPECT_EQ(redirect(R"({"https_redirect":true})", "a.com:80", "/old"), "301 https://a.com/old");
  EXPECT_EQ(redirect(R"({"https_redirect":true})", "a.com:8080", "/old"),
            "301 https://a.com:8080/old");
  EXPECT_EQ(redirect(R"({"scheme_redirect":"https","port_redirect":8443})", "a.com:8080", "/old"),
            "301 https://a.com:8443/old");
  EXPECT_EQ(redirect(R"({"host_redirect":"b.com","port_redirect":81})", "a.com:80", "/old"),
            "301 http://b.com:81/old");
  EXPECT_EQ(redirect(R"({"path_redirect":"/new","response_code":"FOUND"})", "a", "/old/x?q=1"),
            "302 http://a/new?q=1");
  EXPECT_EQ(redirect(R"({"path_redirect":"/new?z=9"})", "a", "/old?q=1"), "301 http://a/new?z=9");
  EXPECT_EQ(redirect(R"({"path_redirect":"/new","strip_query":true,
                         "response_code":"PERMANENT_REDIRECT"})",
                     "a", "/old?q=1"),
            "308 http://a/new");
  EXPECT_EQ(redirect(R"({"prefix_rewrite":"/fresh","response_code":"TEMPORARY_REDIRECT"})", "a",
                     "/old/x?q=1"),
            "307 http://a/fresh/x?q=1");
  EXPECT_EQ(redirect(R"({"regex_rewrite":{"pattern":{"regex":"old"},"substitution":"new"},
                         "response_code":"SEE_OTHER"})",
                     "a", "/old/old?q=old"),
            "303 http://a/new/new?q=old");
  // The client's scheme comes from x-forwarded-proto when the connection manager set it.
  EXPECT_EQ(redirect(R"({"host_redirect":"b"})", "a", "/old", {{"x-forwarded-proto", "https"}}),
            "301 https://b/old");
}

}  // namespace
}  // namespace remora::router::test
