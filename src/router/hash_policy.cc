#include "router/hash_policy.h"

#include <algorithm>
#include <cstdio>

#include "common/hash.h"
#include "router/matchers.h"
#include "router/route_match.h"

namespace remora::router {
namespace {

using ProtoHashPolicy = envoy::config::route::v3::RouteAction::HashPolicy;

std::string_view trimLeft(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

// Several values of one header hash the same in any order: sorted, then chained (each value
// hashed with the previous hash as seed).
uint64_t hashValues(std::vector<std::string>& values) {
  std::sort(values.begin(), values.end());
  uint64_t hash = 0;
  for (const auto& v : values) hash = xxHash64(v, hash);
  return hash;
}

}  // namespace

StatusOr<HashPolicy> HashPolicy::create(
    const google::protobuf::RepeatedPtrField<ProtoHashPolicy>& proto, const std::string& path) {
  HashPolicy out;
  for (int i = 0; i < proto.size(); ++i) {
    const ProtoHashPolicy& p = proto[i];
    const std::string item = path + "[" + std::to_string(i) + "]";
    Policy policy;
    policy.terminal = p.terminal();
    switch (p.policy_specifier_case()) {
      case ProtoHashPolicy::kHeader: {
        policy.kind = Policy::Kind::Header;
        policy.name = toLower(p.header().header_name());
        // remora's header map keeps the request's Host as :authority.
        if (policy.name == "host") policy.name = ":authority";
        if (p.header().has_regex_rewrite()) {
          auto rewrite =
              RegexRewrite::create(p.header().regex_rewrite(), item + ".header.regex_rewrite");
          if (!rewrite.ok()) return rewrite.status();
          policy.regex_rewrite = std::move(rewrite.value());
        }
        break;
      }
      case ProtoHashPolicy::kCookie: {
        const auto& cookie = p.cookie();
        policy.kind = Policy::Kind::Cookie;
        policy.name = cookie.name();
        if (cookie.has_ttl()) policy.cookie_ttl = std::chrono::seconds(cookie.ttl().seconds());
        policy.cookie_path = cookie.path();
        for (const auto& attribute : cookie.attributes()) {
          policy.cookie_attributes.emplace_back(attribute.name(), attribute.value());
        }
        break;
      }
      case ProtoHashPolicy::kConnectionProperties:
        // source_ip: false asks for nothing (Envoy adds no policy then).
        if (!p.connection_properties().source_ip()) continue;
        policy.kind = Policy::Kind::SourceIp;
        break;
      case ProtoHashPolicy::kQueryParameter:
        policy.kind = Policy::Kind::QueryParameter;
        policy.name = p.query_parameter().name();
        break;
      default:
        // filter_state is caught by the supported-fields check; an empty specifier by PGV.
        return Status::error("not supported by remora: " + item);
    }
    out.policies_.push_back(std::move(policy));
  }
  return out;
}

std::optional<uint64_t> HashPolicy::generateHash(const http::HeaderMap& headers,
                                                 const Connection& connection,
                                                 std::vector<std::string>& set_cookies) const {
  std::optional<uint64_t> hash;
  for (const Policy& policy : policies_) {
    if (auto next = evaluate(policy, headers, connection, set_cookies)) {
      const uint64_t previous = hash ? (*hash << 1) | (*hash >> 63) : 0;
      hash = previous ^ *next;
    }
    if (policy.terminal && hash) break;
  }
  return hash;
}

std::optional<uint64_t> HashPolicy::evaluate(const Policy& policy, const http::HeaderMap& headers,
                                             const Connection& connection,
                                             std::vector<std::string>& set_cookies) const {
  switch (policy.kind) {
    case Policy::Kind::Header: {
      std::vector<std::string> values;
      for (std::string_view v : headers.getAll(policy.name)) {
        values.push_back(policy.regex_rewrite ? policy.regex_rewrite->replaceAll(v)
                                              : std::string(v));
      }
      if (values.empty()) return std::nullopt;
      return hashValues(values);
    }
    case Policy::Kind::Cookie: {
      std::string_view value = cookieValue(headers, policy.name);
      if (!value.empty()) return xxHash64(value);
      if (!policy.cookie_ttl || connection.remote == nullptr || connection.local == nullptr)
        return std::nullopt;
      // The same value for every stream of a connection (its addresses), so concurrent
      // requests on it agree on the cookie.
      char hex[17];
      std::snprintf(hex, sizeof(hex), "%016llx",
                    static_cast<unsigned long long>(
                        xxHash64(connection.remote->asString() + connection.local->asString())));
      set_cookies.push_back(makeSetCookieValue(policy.name, hex, policy.cookie_path,
                                               *policy.cookie_ttl, policy.cookie_attributes));
      return xxHash64(hex);
    }
    case Policy::Kind::SourceIp:
      if (connection.source == nullptr) return std::nullopt;
      return xxHash64(connection.source->ip());
    case Policy::Kind::QueryParameter: {
      auto value = queryParameter(splitPath(headers.path()).query, policy.name);
      if (!value) return std::nullopt;
      return xxHash64(*value);
    }
  }
  return std::nullopt;
}

std::string makeSetCookieValue(std::string_view name, std::string_view value, std::string_view path,
                               std::chrono::seconds max_age,
                               const std::vector<std::pair<std::string, std::string>>& attributes) {
  std::string out;
  out.append(name).append("=\"").append(value).append("\"");
  if (max_age.count() != 0) out.append("; Max-Age=").append(std::to_string(max_age.count()));
  if (!path.empty()) out.append("; Path=").append(path);
  for (const auto& [attribute, attribute_value] : attributes) {
    out.append("; ").append(attribute);
    if (!attribute_value.empty()) out.append("=").append(attribute_value);
  }
  out.append("; HttpOnly");
  return out;
}

std::string_view cookieValue(const http::HeaderMap& headers, std::string_view name) {
  for (std::string_view header : headers.getAll("cookie")) {
    while (!header.empty()) {
      const size_t semi = header.find(';');
      std::string_view pair = trimLeft(header.substr(0, semi));
      header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
      const size_t eq = pair.find('=');
      if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
      std::string_view value = pair.substr(eq + 1);
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return value;
    }
  }
  return {};
}

}  // namespace remora::router
