// Registers envoy.filters.http.health_check.
#include "config/extension_registry.h"
#include "filters/http/factory.h"
#include "filters/http/health_check/health_check_filter.h"

namespace remora::filters::http::health_check {
namespace {

class HealthCheckFactory final : public NamedHttpFilterConfigFactory {
 public:
  StatusOr<FilterFactoryCb> createFilterFactory(const google::protobuf::Message& message,
                                                FactoryContext&) const override {
    auto config = HealthCheckConfig::create(static_cast<const HealthCheckConfig::Proto&>(message));
    if (!config.ok()) return config.status();
    return FilterFactoryCb([config = *config](remora::http::FilterChainFactoryCallbacks& callbacks,
                                              server::WorkerContext& worker) {
      callbacks.addStreamFilter(std::make_shared<HealthCheckFilter>(config, worker));
    });
  }
};

const config::RegisterExtension kRegistration{
    config::ExtensionCategory::HttpFilter, "envoy.filters.http.health_check",
    HealthCheckConfig::Proto::descriptor()->full_name(),
    std::shared_ptr<const NamedHttpFilterConfigFactory>(std::make_shared<HealthCheckFactory>())};

}  // namespace
}  // namespace remora::filters::http::health_check
