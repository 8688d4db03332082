// Registers envoy.filters.http.cors.
#include "config/extension_registry.h"
#include "filters/http/cors/cors_filter.h"
#include "filters/http/factory.h"

namespace remora::filters::http::cors {
namespace {

class CorsFactory final : public NamedHttpFilterConfigFactory {
 public:
  // The filter config (v3.Cors) is empty: the policy is per route.
  StatusOr<FilterFactoryCb> createFilterFactory(const google::protobuf::Message&,
                                                FactoryContext& context) const override {
    auto stats = std::make_shared<CorsStats>(context.stats, context.stats_prefix);
    return FilterFactoryCb(
        [stats](remora::http::FilterChainFactoryCallbacks& callbacks, server::WorkerContext&) {
          callbacks.addStreamFilter(std::make_shared<CorsFilter>(*stats));
        });
  }
  std::string_view routeSpecificConfigType() const override {
    return CorsPolicy::Proto::descriptor()->full_name();
  }
  StatusOr<router::RouteSpecificFilterConfigConstSharedPtr> createRouteSpecificFilterConfig(
      const google::protobuf::Message& config, stats::Store*) const override {
    auto policy = CorsPolicy::create(static_cast<const CorsPolicy::Proto&>(config));
    if (!policy.ok()) return policy.status();
    return router::RouteSpecificFilterConfigConstSharedPtr(std::move(*policy));
  }
};

const config::RegisterExtension kRegistration{
    config::ExtensionCategory::HttpFilter, std::string(kFilterName),
    envoy::extensions::filters::http::cors::v3::Cors::descriptor()->full_name(),
    std::shared_ptr<const NamedHttpFilterConfigFactory>(std::make_shared<CorsFactory>())};

}  // namespace
}  // namespace remora::filters::http::cors
