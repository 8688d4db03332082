#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "envoy/config/route/v3/route_components.pb.h"
#include "http/header_map.h"
#include "net/address.h"
#include "router/route_action.h"

namespace remora::router {

// RouteAction.hash_policy: the request's hash for RING_HASH and MAGLEV clusters, as Envoy's
// HashPolicyImpl. Each policy that finds its value contributes xxHash64(value); contributions
// combine as hash = rotl(hash, 1) ^ next, so repeating a policy does not cancel it out. A
// `terminal` policy that leaves a hash behind ends the list. No value anywhere: no hash (the
// balancer then picks at random).
class HashPolicy {
 public:
  static StatusOr<HashPolicy> create(const google::protobuf::RepeatedPtrField<
                                         envoy::config::route::v3::RouteAction::HashPolicy>& proto,
                                     const std::string& path);

  // What the policies read besides the request headers.
  struct Connection {
    const net::Address* source = nullptr;  // the trusted client address (after XFF)
    // The downstream connection's own addresses: a generated cookie's value is a hash of both,
    // so every request on one connection gets the same cookie (Envoy's choice).
    const net::Address* remote = nullptr;
    const net::Address* local = nullptr;
  };

  // The hash for `headers`, if any policy produced one. A cookie policy with a ttl whose cookie
  // the request lacks generates the cookie: the Set-Cookie value goes into `set_cookies` (the
  // router adds it to the response) and the new value is what gets hashed.
  std::optional<uint64_t> generateHash(const http::HeaderMap& headers, const Connection& connection,
                                       std::vector<std::string>& set_cookies) const;

 private:
  struct Policy {
    enum class Kind { Header, Cookie, SourceIp, QueryParameter } kind = Kind::Header;
    bool terminal = false;
    std::string name;  // header (lower-cased), cookie or query parameter name
    std::optional<RegexRewrite> regex_rewrite;       // Header
    std::optional<std::chrono::seconds> cookie_ttl;  // Cookie: generate when absent
    std::string cookie_path;                         // Cookie
    std::vector<std::pair<std::string, std::string>> cookie_attributes;  // Cookie
  };
  std::optional<uint64_t> evaluate(const Policy& policy, const http::HeaderMap& headers,
                                   const Connection& connection,
                                   std::vector<std::string>& set_cookies) const;

  std::vector<Policy> policies_;
};

// Envoy's Set-Cookie for a generated affinity cookie: name="value"[; Max-Age=N][; Path=p]
// [; attribute[=value]]...; HttpOnly (no Max-Age for a zero ttl: a session cookie).
std::string makeSetCookieValue(std::string_view name, std::string_view value, std::string_view path,
                               std::chrono::seconds max_age,
                               const std::vector<std::pair<std::string, std::string>>& attributes);

// The value of cookie `name` in the request's Cookie headers (the first one found; surrounding
// double quotes removed), or empty.
std::string_view cookieValue(const http::HeaderMap& headers, std::string_view name);

}  // namespace remora::router
