// Registers envoy.filters.network.http_connection_manager.
#include "filters/network/factory.h"

#include "config/extension_registry.h"
#include "filters/network/http_connection_manager/config.h"
#include "filters/network/http_connection_manager/conn_manager.h"

namespace remora::filters::network::http_connection_manager {
namespace {

class HcmFactory final : public NamedNetworkFilterConfigFactory {
 public:
  StatusOr<FilterFactoryCb> createFilterFactory(const google::protobuf::Message& message,
                                                FactoryContext& context) const override {
    auto config = HcmConfig::create(static_cast<const HcmConfig::Proto&>(message), context.stats,
                                    context.cluster_names, context.route_providers,
                                    context.init_manager);
    if (!config.ok()) return config.status();
    return FilterFactoryCb([config = *config, drain = context.drain_decision](
                               net::Connection& connection, server::WorkerContext& worker) {
      connection.addReadFilter(std::make_shared<ConnectionManager>(config, worker, drain));
    });
  }
};

const config::RegisterExtension kRegistration{
    config::ExtensionCategory::NetworkFilter, "envoy.filters.network.http_connection_manager",
    HcmConfig::Proto::descriptor()->full_name(),
    std::shared_ptr<const NamedNetworkFilterConfigFactory>(std::make_shared<HcmFactory>())};

}  // namespace
}  // namespace remora::filters::network::http_connection_manager
