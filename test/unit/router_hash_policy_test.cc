#include <gtest/gtest.h>

#include <cstdio>

#include "common/hash.h"
#include "router/hash_policy.h"
#include "router_test_util.h"

namespace remora::router {
namespace {

using test::request;

// A HashPolicy from the JSON of RouteAction.hash_policy (an array).
HashPolicy policy(const std::string& json) {
  envoy::config::route::v3::RouteAction action;
  auto status =
      google::protobuf::util::JsonStringToMessage(R"({"hash_policy":)" + json + "}", &action);
  EXPECT_TRUE(status.ok()) << status.ToString();
  auto built = HashPolicy::create(action.hash_policy(), "hash_policy");
  EXPECT_TRUE(built.ok()) << built.status().message();
  return std::move(built.value());
}

struct Hashing {
  net::Address source = *net::Address::parse("203.0.113.7", 0);
  net::Address remote = *net::Address::parse("127.0.0.1", 40000);
  net::Address local = *net::Address::parse("127.0.0.1", 10000);
  std::vector<std::string> set_cookies;

  std::optional<uint64_t> operator()(const HashPolicy& p, const http::HeaderMap& headers) {
    return p.generateHash(headers, {&source, &remote, &local}, set_cookies);
  }
};

TEST(HashPolicyTest, HeaderValueIsHashed) {
  Hashing hash;
  auto p = policy(R"([{"header":{"header_name":"X-User"}}])");
  EXPECT_EQ(hash(p, request("h", "/", {{"x-user", "alice"}})), xxHash64("alice"));
  EXPECT_EQ(hash(p, request("h", "/")), std::nullopt);
  // Repeated values hash the same in any order.
  auto ab = hash(p, request("h", "/", {{"x-user", "a"}, {"x-user", "b"}}));
  EXPECT_EQ(ab, hash(p, request("h", "/", {{"x-user", "b"}, {"x-user", "a"}})));
  EXPECT_NE(ab, xxHash64("a"));
  // Host is :authority in the header map.
  EXPECT_EQ(hash(policy(R"([{"header":{"header_name":"host"}}])"), request("example.com", "/")),
            xxHash64("example.com"));
}

TEST(HashPolicyTest, HeaderRegexRewriteNormalisesTheValue) {
  Hashing hash;
  auto p = policy(R"([{"header":{"header_name":"x-session",
      "regex_rewrite":{"pattern":{"regex":"^(\\w+)-\\d+$"},"substitution":"\\1"}}}])");
  EXPECT_EQ(hash(p, request("h", "/", {{"x-session", "abc-1"}})), xxHash64("abc"));
  EXPECT_EQ(hash(p, request("h", "/", {{"x-session", "abc-2"}})), xxHash64("abc"));
}

TEST(HashPolicyTest, CookieIsReadFromAnyCookieHeader) {
  Hashing hash;
  auto p = policy(R"([{"cookie":{"name":"sid"}}])");
  EXPECT_EQ(hash(p, request("h", "/", {{"cookie", "a=1; sid=xyz; b=2"}})), xxHash64("xyz"));
  EXPECT_EQ(hash(p, request("h", "/", {{"cookie", "a=1"}, {"cookie", "sid=\"xyz\""}})),
            xxHash64("xyz"));
  EXPECT_EQ(hash(p, request("h", "/", {{"cookie", "xsid=1; sidx=2"}})), std::nullopt);
  EXPECT_TRUE(hash.set_cookies.empty());  // no ttl: never generated
}

TEST(HashPolicyTest, CookieWithTtlIsGeneratedWhenAbsent) {
  Hashing hash;
  auto p = policy(R"([{"cookie":{"name":"route","ttl":"3600s","path":"/app",
      "attributes":[{"name":"SameSite","value":"Strict"},{"name":"Secure"}]}}])");
  auto h = hash(p, request("h", "/"));
  ASSERT_TRUE(h.has_value());
  ASSERT_EQ(hash.set_cookies.size(), 1u);
  // The value is the hex of the connection's addresses' hash; the request hashes that value.
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx",
                static_cast<unsigned long long>(xxHash64("127.0.0.1:40000127.0.0.1:10000")));
  EXPECT_EQ(hash.set_cookies[0], std::string("route=\"") + hex +
                                     "\"; Max-Age=3600; Path=/app; SameSite=Strict; Secure; "
                                     "HttpOnly");
  EXPECT_EQ(*h, xxHash64(hex));
  // The client sends it back: the same hash, nothing generated.
  hash.set_cookies.clear();
  EXPECT_EQ(hash(p, request("h", "/", {{"cookie", std::string("route=\"") + hex + "\""}})), h);
  EXPECT_TRUE(hash.set_cookies.empty());
  // A zero ttl makes a session cookie (no Max-Age).
  hash(policy(R"([{"cookie":{"name":"s","ttl":"0s"}}])"), request("h", "/"));
  EXPECT_EQ(hash.set_cookies.back(), std::string("s=\"") + hex + "\"; HttpOnly");
}

TEST(HashPolicyTest, SourceIpAndQueryParameter) {
  Hashing hash;
  EXPECT_EQ(hash(policy(R"([{"connection_properties":{"source_ip":true}}])"), request("h", "/")),
            xxHash64("203.0.113.7"));
  EXPECT_EQ(hash(policy(R"([{"connection_properties":{"source_ip":false}}])"), request("h", "/")),
            std::nullopt);
  auto q = policy(R"([{"query_parameter":{"name":"user"}}])");
  EXPECT_EQ(hash(q, request("h", "/p?a=1&user=bob&user=eve")), xxHash64("bob"));
  EXPECT_EQ(hash(q, request("h", "/p?User=bob")), std::nullopt);  // names are case-sensitive
  EXPECT_EQ(hash(q, request("h", "/p")), std::nullopt);
}

TEST(HashPolicyTest, PoliciesCombineAndTerminalStops) {
  Hashing hash;
  const uint64_t a = xxHash64("a"), b = xxHash64("b");
  auto both = policy(R"([{"header":{"header_name":"x-a"}},{"header":{"header_name":"x-b"}}])");
  EXPECT_EQ(hash(both, request("h", "/", {{"x-a", "a"}, {"x-b", "b"}})),
            ((a << 1) | (a >> 63)) ^ b);
  EXPECT_EQ(hash(both, request("h", "/", {{"x-b", "b"}})), b);
  // The same policy twice does not cancel itself out.
  auto twice = policy(R"([{"header":{"header_name":"x-a"}},{"header":{"header_name":"x-a"}}])");
  EXPECT_NE(hash(twice, request("h", "/", {{"x-a", "a"}})), 0u);
  auto terminal = policy(
      R"([{"header":{"header_name":"x-a"},"terminal":true},{"header":{"header_name":"x-b"}}])");
  EXPECT_EQ(hash(terminal, request("h", "/", {{"x-a", "a"}, {"x-b", "b"}})), a);
  // A terminal policy without a value falls through to the rest.
  EXPECT_EQ(hash(terminal, request("h", "/", {{"x-b", "b"}})), b);
}

TEST(HashPolicyTest, RouteConfigCarriesThePolicy) {
  auto config = test::build(test::oneVhost(R"({"match":{"prefix":"/"},
      "route":{"cluster":"c","hash_policy":[{"header":{"header_name":"x-user"}}]}})"));
  ASSERT_NE(config, nullptr);
  auto headers = request("h", "/");
  const Route* route = config->route(headers, 0);
  ASSERT_NE(route, nullptr);
  ASSERT_NE(route->routeEntry()->hashPolicy(), nullptr);
  EXPECT_EQ(test::buildError(test::oneVhost(R"({"match":{"prefix":"/"},
      "route":{"cluster":"c","hash_policy":[{"header":{"header_name":"x",
        "regex_rewrite":{"pattern":{"regex":"("},"substitution":""}}}]}})")),
            "virtual_hosts[0].routes[0].route.hash_policy[0].header.regex_rewrite.pattern.regex: "
            "invalid regex: missing ): (");
}

}  // namespace
}  // namespace remora::router
