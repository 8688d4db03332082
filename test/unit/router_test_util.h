#pragma once

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <utility>

#include "envoy/config/route/v3/route.pb.h"
#include "http/header_map.h"
#include "router/route_config.h"

namespace remora::router::test {

// Parses a RouteConfiguration written as JSON (the form Envoy's YAML takes after conversion).
inline envoy::config::route::v3::RouteConfiguration parseRouteConfig(const std::string& json) {
  envoy::config::route::v3::RouteConfiguration proto;
  auto status = google::protobuf::util::JsonStringToMessage(json, &proto);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return proto;
}

// Builds a RouteConfig, failing the test on error.
inline std::shared_ptr<const RouteConfig> build(
    const std::string& json, const std::set<std::string, std::less<>>* known = nullptr) {
  auto config = RouteConfig::create(parseRouteConfig(json), known);
  EXPECT_TRUE(config.ok()) << config.status().message();
  return config.ok() ? config.value() : nullptr;
}

// The error message create() gives for `json` ("" when it unexpectedly succeeds).
inline std::string buildError(const std::string& json,
                              const std::set<std::string, std::less<>>* known = nullptr) {
  auto config = RouteConfig::create(parseRouteConfig(json), known);
  return config.ok() ? std::string() : config.status().message();
}

// A request with :authority, :path and extra headers.
inline http::HeaderMap request(
    std::string_view host, std::string_view path,
    std::initializer_list<std::pair<std::string, std::string>> extra = {}) {
  http::HeaderMap headers;
  headers.add(":method", "GET");
  headers.add(":scheme", "http");
  headers.add(":authority", host);
  headers.add(":path", path);
  for (const auto& [k, v] : extra) headers.add(k, v);
  return headers;
}

// One virtual host matching every domain, with the given routes (a JSON array body).
inline std::string oneVhost(const std::string& routes) {
  return R"({"name":"rc","virtual_hosts":[{"name":"vh","domains":["*"],"routes":[)" + routes +
         "]}]}";
}

// The name of the route chosen for a request ("<none>" when none matches).
inline std::string routeName(const RouteConfig& config, const http::HeaderMap& headers,
                             uint64_t random = 0) {
  const Route* route = config.route(headers, random);
  return route ? route->name() : "<none>";
}

}  // namespace remora::router::test
