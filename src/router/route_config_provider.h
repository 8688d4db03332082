#pragma once

#include <atomic>
#include <memory>

#include "router/route_config.h"

namespace remora::router {

// Where a connection manager gets its routes (Envoy's RouteConfigProvider): the inline
// route_config, or an RDS subscription whose config changes at run time. A stream takes one
// snapshot when it first routes and keeps it: a new config reaches new streams while in-flight
// ones finish on theirs. Read by every worker; swapped on the main thread.
class RouteConfigProvider {
 public:
  virtual ~RouteConfigProvider() = default;
  // The current config; never null (an RDS provider starts with an empty config, which routes
  // nothing, until its first response — its listener warms until then).
  virtual std::shared_ptr<const RouteConfig> config() const = 0;
};
using RouteConfigProviderSharedPtr = std::shared_ptr<RouteConfigProvider>;

// The inline HttpConnectionManager.route_config.
class StaticRouteConfigProvider final : public RouteConfigProvider {
 public:
  explicit StaticRouteConfigProvider(std::shared_ptr<const RouteConfig> config)
      : config_(std::move(config)) {}
  std::shared_ptr<const RouteConfig> config() const override { return config_; }

 private:
  const std::shared_ptr<const RouteConfig> config_;
};

}  // namespace remora::router
