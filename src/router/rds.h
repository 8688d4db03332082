#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "envoy/admin/v3/config_dump_shared.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "init/manager.h"
#include "router/route_config_provider.h"
#include "xds/subscription_factory.h"

namespace remora::router {

// Envoy's http.<stat_prefix>.rds.<route_config_name>.* stats beyond the subscription's.
struct RdsStats {
  RdsStats(stats::Store& store, const std::string& prefix)
      : config_reload(store.counter(prefix + "config_reload")) {}
  stats::Counter& config_reload;
};

// One RDS route configuration (route_config_name from one config source), shared by every
// connection manager that names it. Its subscription asks for that one resource; each accepted
// response is validated, built and swapped in atomically (new streams see it, in-flight streams
// keep theirs). A response that does not validate is refused (NACK) and the last good config
// kept. Each listener using it warms until the first response (or its failure) arrives.
class RdsRouteConfigProvider final : public RouteConfigProvider, public xds::SubscriptionCallbacks {
 public:
  RdsRouteConfigProvider(std::string route_config_name, stats::Store& store,
                         const std::string& stat_prefix);
  // Makes and starts the subscription (a file source delivers at once).
  Status start(const envoy::config::core::v3::ConfigSource& source,
               xds::SubscriptionFactoryContext& context, const std::string& stat_prefix);

  std::shared_ptr<const RouteConfig> config() const override { return config_.load(); }
  // Makes `init_manager` (a warming listener's) wait for this provider's first response.
  void addInitTarget(init::Manager& init_manager);

  // SubscriptionCallbacks
  Status onConfigUpdate(const std::vector<xds::DecodedResource>& resources,
                        const std::string& version_info) override;
  Status onConfigUpdate(const std::vector<xds::DecodedResource>& added,
                        const std::vector<std::string>& removed,
                        const std::string& system_version_info) override;
  void onConfigUpdateFailed(xds::UpdateFailureReason reason, const Status& error) override;

  const std::string& routeConfigName() const { return name_; }
  // For /config_dump's dynamic_route_configs; has_config false until the first response.
  bool hasConfig() const { return has_config_; }
  const envoy::config::route::v3::RouteConfiguration& proto() const { return proto_; }
  const std::string& versionInfo() const { return version_; }
  std::chrono::system_clock::time_point lastUpdated() const { return last_updated_; }

 private:
  void releaseInitTargets();

  const std::string name_;
  stats::Store& store_;
  RdsStats stats_;
  std::atomic<std::shared_ptr<const RouteConfig>> config_;
  xds::SubscriptionPtr subscription_;
  std::vector<std::unique_ptr<init::Target>> init_targets_;
  bool first_response_done_ = false;
  bool has_config_ = false;
  envoy::config::route::v3::RouteConfiguration proto_;
  std::string version_;
  std::chrono::system_clock::time_point last_updated_;
};

// Hands out RDS providers, one per (route_config_name, config source), shared while any
// connection manager config holds it (Envoy's RouteConfigProviderManager). Main thread.
class RouteConfigProviderManager {
 public:
  RouteConfigProviderManager(stats::Store& store, xds::SubscriptionFactoryContext& context)
      : store_(store), context_(context) {}

  // The provider for `rds`, made (and its subscription started) on first use; `init_manager`
  // (nullable) warms on it.
  StatusOr<std::shared_ptr<RdsRouteConfigProvider>> rdsProvider(
      const envoy::extensions::filters::network::http_connection_manager::v3::Rds& rds,
      const std::string& stat_prefix, init::Manager* init_manager);

  // Drops the providers no connection manager config holds any more. Main thread only: a
  // provider (and its subscription) must not be destroyed on a worker that dropped the last
  // connection of a replaced listener.
  void collectUnused();

  // Every live provider's config, for /config_dump.
  void dump(envoy::admin::v3::RoutesConfigDump& out) const;

 private:
  stats::Store& store_;
  xds::SubscriptionFactoryContext& context_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<RdsRouteConfigProvider>> providers_;
};

}  // namespace remora::router
