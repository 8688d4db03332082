// Route matching within a virtual host: path specifiers, case sensitivity, header, query and
// runtime-fraction matchers, the gRPC matcher; first match wins.
#include <gtest/gtest.h>

#include "router_test_util.h"

namespace remora::router::test {
namespace {

std::string route(const std::string& name, const std::string& match) {
  return R"({"name":")" + name + R"(","match":)" + match + R"(,"route":{"cluster":"c"}})";
}

TEST(RouterMatchTest, PrefixPathAndFirstMatchWins) {
  auto config = build(oneVhost(route("exact", R"({"path":"/foo"})") + "," +
                               route("prefix", R"({"prefix":"/foo"})") + "," +
                               route("root", R"({"prefix":"/"})")));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(routeName(*config, request("a", "/foo")), "exact");
  EXPECT_EQ(routeName(*config, request("a", "/foo?x=1")), "exact");  // query is not matched
  EXPECT_EQ(routeName(*config, request("a", "/foo#frag")), "exact");
  EXPECT_EQ(routeName(*config, request("a", "/foobar")), "prefix");
  EXPECT_EQ(routeName(*config, request("a", "/FOO")), "root");  // case-sensitive by default
  EXPECT_EQ(routeName(*config, request("a", "/other")), "root");
}

TEST(RouterMatchTest, NoRouteIsNull) {
  auto config = build(oneVhost(route("p", R"({"prefix":"/api"})")));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->route(request("a", "/web"), 0), nullptr);
}

TEST(RouterMatchTest, CaseInsensitive) {
  auto config = build(oneVhost(route("p", R"({"prefix":"/Api","case_sensitive":false})") + "," +
                               route("x", R"({"path":"/Exact","case_sensitive":false})")));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(routeName(*config, request("a", "/aPI/v1")), "p");
  EXPECT_EQ(routeName(*config, request("a", "/exact")), "x");
}

TEST(RouterMatchTest, SafeRegexMatchesWholePathWithoutQuery) {
  auto config = build(oneVhost(route("r", R"({"safe_regex":{"regex":"/v[0-9]+/items"}})")));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(routeName(*config, request("a", "/v12/items")), "r");
  EXPECT_EQ(routeName(*config, request("a", "/v12/items?q=1")), "r");
  EXPECT_EQ(routeName(*config, request("a", "/v12/items/x")), "<none>");  // full match only
  EXPECT_EQ(routeName(*config, request("a", "x/v1/items")), "<none>");
}

TEST(RouterMatchTest, PathSeparatedPrefix) {
  auto config = build(oneVhost(route("s", R"({"path_separated_prefix":"/api"})")));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(routeName(*config, request("a", "/api")), "s");
  EXPECT_EQ(routeName(*config, request("a", "/api/v1")), "s");
  EXPECT_EQ(routeName(*config, request("a", "/api?x")), "s");
  EXPECT_EQ(routeName(*config, request("a", "/apiv1")), "<none>");
}

TEST(RouterMatchTest, HeaderStringMatchers) {
  auto config = build(oneVhost(
      route("exact", R"({"prefix":"/","headers":[{"name":"X-A","string_match":{"exact":"v"}}]})") +
      "," +
      route("prefix",
            R"({"prefix":"/","headers":[{"name":"x-b","string_match":{"prefix":"pre"}}]})") +
      "," +
      route("suffix",
            R"({"prefix":"/","headers":[{"name":"x-c","string_match":{"suffix":"suf"}}]})") +
      "," + route("contains", R"({"prefix":"/","headers":[{"name":"x-d",
            "string_match":{"contains":"MID","ignore_case":true}}]})") +
      "," + route("regex", R"({"prefix":"/","headers":[{"name":"x-e",
            "string_match":{"safe_regex":{"regex":"[a-z]+"}}}]})")));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(routeName(*config, request("a", "/", {{"x-a", "v"}})), "exact");
  EXPECT_EQ(routeName(*config, request("a", "/", {{"x-a", "vv"}})), "<none>");
  EXPECT_EQ(routeName(*config, request("a", "/", {{"x-b", "prefix"}})), "prefix");
  EXPECT_EQ(routeName(*config, request("a", "/", {{"x-c", "a-suf"}})), "suffix");
  EXPECT_EQ(routeName(*config, request("a", "/", {{"x-d", "a-mid-b"}})), "contains");
  EXPECT_EQ(routeName(*config, request("a", "/", {{"x-e", "abc"}})), "regex");
  EXPECT_EQ(routeName(*config, request("a", "/", {{"x-e", "abc1"}})), "<none>");
}

TEST(RouterMatchTest, HeaderRepeatedValuesAreJoined) {
  auto config = build(oneVhost(
      route("j", R"({"prefix":"/","headers":[{"name":"x","string_match":{"exact":"1,2"}}]})")));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(routeName(*config, request("a", "/", {{"x", "1"}, {"x", "2"}})), "j");
}

TEST(RouterMatchTest, HeaderPresentRangeInvertAndMissing) {
  auto config = build(oneVhost(
      route("present", R"({"prefix":"/p","headers":[{"name":"x","present_match":true}]})") + "," +
      route("absent", R"({"prefix":"/a","headers":[{"name":"x","present_match":false}]})") + "," +
      route("bare", R"({"prefix":"/b","headers":[{"name":"x"}]})") + "," +
      route("range", R"({"prefix":"/r","headers":[{"name":"x",
            "range_match":{"start":"-10","end":"10"}}]})") +
      "," + route("invert", R"({"prefix":"/i","headers":[{"name":"x","invert_match":true,
            "string_match":{"exact":"no"}}]})") +
      "," + route("empty", R"({"prefix":"/e","headers":[{"name":"x",
            "treat_missing_header_as_empty":true,"string_match":{"exact":""}}]})")));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(routeName(*config, request("a", "/p", {{"x", ""}})), "present");
  EXPECT_EQ(routeName(*config, request("a", "/p")), "<none>");
  EXPECT_EQ(routeName(*config, request("a", "/a")), "absent");
  EXPECT_EQ(routeName(*config, request("a", "/a", {{"x", "1"}})), "<none>");
  EXPECT_EQ(routeName(*config, request("a", "/b", {{"x", "1"}})), "bare");
  EXPECT_EQ(routeName(*config, request("a", "/b")), "<none>");
  EXPECT_EQ(routeName(*config, request("a", "/r", {{"x", "-10"}})), "range");
  EXPECT_EQ(routeName(*config, request("a", "/r", {{"x", "9"}})), "range");
  EXPECT_EQ(routeName(*config, request("a", "/r", {{"x", "10"}})), "<none>");  // end exclusive
  EXPECT_EQ(routeName(*config, request("a", "/r", {{"x", "1x"}})), "<none>");
  EXPECT_EQ(routeName(*config, request("a", "/i", {{"x", "yes"}})), "invert");
  EXPECT_EQ(routeName(*config, request("a", "/i", {{"x", "no"}})), "<none>");
  // Envoy: an inverted matcher on a missing header does not match (unless treated as empty).
  EXPECT_EQ(routeName(*config, request("a", "/i")), "<none>");
  EXPECT_EQ(routeName(*config, request("a", "/e")), "empty");
}

TEST(RouterMatchTest, QueryParameters) {
  auto config = build(
      oneVhost(route("value", R"({"prefix":"/v","query_parameters":[{"name":"debug",
            "string_match":{"exact":"on"}}]})") +
               "," +
               route("present",
                     R"({"prefix":"/p","query_parameters":[{"name":"q","present_match":true}]})") +
               "," + route("decoded", R"({"prefix":"/d","query_parameters":[{"name":"s",
            "string_match":{"exact":"a b"}}]})")));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(routeName(*config, request("a", "/v?x=1&debug=on")), "value");
  EXPECT_EQ(routeName(*config, request("a", "/v?debug=off")), "<none>");
  EXPECT_EQ(routeName(*config, request("a", "/v")), "<none>");
  EXPECT_EQ(routeName(*config, request("a", "/p?q")), "present");
  EXPECT_EQ(routeName(*config, request("a", "/p?qq=1")), "<none>");
  EXPECT_EQ(routeName(*config, request("a", "/d?s=a%20b")), "decoded");
}

TEST(RouterMatchTest, RuntimeFractionUsesCallerRandom) {
  auto config = build(oneVhost(route("some", R"({"prefix":"/","runtime_fraction":{"runtime_key":"k",
            "default_value":{"numerator":30,"denominator":"HUNDRED"}}})") +
                               "," + route("rest", R"({"prefix":"/"})")));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(routeName(*config, request("a", "/"), 29), "some");
  EXPECT_EQ(routeName(*config, request("a", "/"), 129), "some");
  EXPECT_EQ(routeName(*config, request("a", "/"), 30), "rest");
  EXPECT_EQ(routeName(*config, request("a", "/"), 99), "rest");
}

TEST(RouterMatchTest, GrpcMatcher) {
  auto config = build(oneVhost(route("grpc", R"({"prefix":"/","grpc":{}})")));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(routeName(*config, request("a", "/s/M", {{"content-type", "application/grpc"}})),
            "grpc");
  EXPECT_EQ(routeName(*config, request("a", "/s/M", {{"content-type", "application/grpc+proto"}})),
            "grpc");
  EXPECT_EQ(routeName(*config, request("a", "/s/M", {{"content-type", "application/grpcx"}})),
            "<none>");
  EXPECT_EQ(routeName(*config, request("a", "/s/M")), "<none>");
}

TEST(RouterMatchTest, InvalidRegexNamesTheField) {
  EXPECT_EQ(buildError(R"({"virtual_hosts":[{"name":"a","domains":["a"]},{"name":"b",
      "domains":["b"],"routes":[{"match":{"safe_regex":{"regex":"(["}},
      "route":{"cluster":"c"}}]}]})"),
            "virtual_hosts[1].routes[0].match.safe_regex.regex: invalid regex: missing ]: [");
  std::string header_error = buildError(oneVhost(R"({"match":{"prefix":"/","headers":[{"name":"x",
      "string_match":{"safe_regex":{"regex":"*"}}}]},"route":{"cluster":"c"}})"));
  EXPECT_EQ(header_error.rfind(
                "virtual_hosts[0].routes[0].match.headers[0].string_match.safe_regex.regex: "
                "invalid regex:",
                0),
            0u)
      << header_error;
}

TEST(RouterMatchTest, DeprecatedHeaderFieldsStillMatch) {
  // Envoy still honours HeaderMatcher's deprecated *_match fields, and control planes send them.
  auto config = build(oneVhost(
      route("exact", R"({"path":"/e","headers":[{"name":"x","exact_match":"v"}]})") + "," +
      route("prefix", R"({"path":"/p","headers":[{"name":"x","prefix_match":"ab"}]})") + "," +
      route("suffix", R"({"path":"/s","headers":[{"name":"x","suffix_match":"yz"}]})") + "," +
      route("contains", R"({"path":"/c","headers":[{"name":"x","contains_match":"mm"}]})") + "," +
      route("regex",
            R"({"path":"/r","headers":[{"name":"x","safe_regex_match":{"regex":"[0-9]+"}}]})")));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(routeName(*config, request("a", "/e", {{"x", "v"}})), "exact");
  EXPECT_EQ(routeName(*config, request("a", "/e", {{"x", "w"}})), "<none>");
  EXPECT_EQ(routeName(*config, request("a", "/p", {{"x", "abc"}})), "prefix");
  EXPECT_EQ(routeName(*config, request("a", "/s", {{"x", "xyz"}})), "suffix");
  EXPECT_EQ(routeName(*config, request("a", "/c", {{"x", "ammb"}})), "contains");
  EXPECT_EQ(routeName(*config, request("a", "/r", {{"x", "123"}})), "regex");
  EXPECT_EQ(routeName(*config, request("a", "/r", {{"x", "12a"}})), "<none>");
  std::string error = buildError(oneVhost(
      R"({"match":{"prefix":"/","headers":[{"name":"x","safe_regex_match":{"regex":"("}}]},
          "route":{"cluster":"c"}})"));
  EXPECT_EQ(error.rfind("virtual_hosts[0].routes[0].match.headers[0].safe_regex_match.regex: "
                        "invalid regex:",
                        0),
            0u)
      << error;
}

}  // namespace
}  // namespace remora::router::test
