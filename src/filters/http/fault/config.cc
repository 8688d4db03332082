// Registers envoy.filters.http.fault.
#include "config/extension_registry.h"
#include "envoy/extensions/filters/http/fault/v3/fault.pb.h"
#include "filters/http/factory.h"
#include "filters/http/fault/fault_filter.h"

namespace remora::filters::http::fault {
namespace {

using Proto = envoy::extensions::filters::http::fault::v3::HTTPFault;

class FaultFactory final : public NamedHttpFilterConfigFactory {
 public:
  StatusOr<FilterFactoryCb> createFilterFactory(const google::protobuf::Message& message,
                                                FactoryContext& context) const override {
    auto settings = FaultSettings::create(static_cast<const Proto&>(message));
    if (!settings.ok()) return settings.status();
    auto config = std::make_shared<const FaultFilterConfig>(std::move(settings.value()),
                                                            context.stats, context.stats_prefix);
    return FilterFactoryCb(
        [config](remora::http::FilterChainFactoryCallbacks& callbacks, server::WorkerContext&) {
          callbacks.addStreamFilter(std::make_shared<FaultFilter>(config));
        });
  }

  // A route's HTTPFault replaces the filter's settings for that route (stats stay the filter's).
  std::string_view routeSpecificConfigType() const override {
    return Proto::descriptor()->full_name();
  }
  StatusOr<router::RouteSpecificFilterConfigConstSharedPtr> createRouteSpecificFilterConfig(
      const google::protobuf::Message& message, stats::Store*) const override {
    auto settings = FaultSettings::create(static_cast<const Proto&>(message));
    if (!settings.ok()) return settings.status();
    return router::RouteSpecificFilterConfigConstSharedPtr(std::move(settings.value()));
  }
};

const config::RegisterExtension kRegistration{
    config::ExtensionCategory::HttpFilter, "envoy.filters.http.fault",
    Proto::descriptor()->full_name(),
    std::shared_ptr<const NamedHttpFilterConfigFactory>(std::make_shared<FaultFactory>())};

}  // namespace
}  // namespace remora::filters::http::fault
