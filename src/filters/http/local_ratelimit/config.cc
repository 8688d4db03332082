// Registers envoy.filters.http.local_ratelimit.
#include "config/extension_registry.h"
#include "filters/http/factory.h"
#include "filters/http/local_ratelimit/local_ratelimit_filter.h"

namespace remora::filters::http::local_ratelimit {
namespace {

using Proto = LocalRateLimitConfig::Proto;

class LocalRateLimitFactory final : public NamedHttpFilterConfigFactory {
 public:
  StatusOr<FilterFactoryCb> createFilterFactory(const google::protobuf::Message& message,
                                                FactoryContext& context) const override {
    auto config = LocalRateLimitConfig::create(static_cast<const Proto&>(message), context.stats,
                                               false, std::chrono::steady_clock::now());
    if (!config.ok()) return config.status();
    return FilterFactoryCb(
        [config = std::move(config.value())](remora::http::FilterChainFactoryCallbacks& callbacks,
                                             server::WorkerContext&) {
          callbacks.addStreamFilter(std::make_shared<LocalRateLimitFilter>(config));
        });
  }

  // A route's LocalRateLimit replaces the filter's, with its own bucket and stats.
  std::string_view routeSpecificConfigType() const override {
    return Proto::descriptor()->full_name();
  }
  StatusOr<router::RouteSpecificFilterConfigConstSharedPtr> createRouteSpecificFilterConfig(
      const google::protobuf::Message& message, stats::Store* stats) const override {
    if (stats == nullptr)
      return Status::error("needs a stats store (route table built without one)");
    auto config = LocalRateLimitConfig::create(static_cast<const Proto&>(message), *stats, true,
                                               std::chrono::steady_clock::now());
    if (!config.ok()) return config.status();
    return router::RouteSpecificFilterConfigConstSharedPtr(std::move(config.value()));
  }
};

const config::RegisterExtension kRegistration{
    config::ExtensionCategory::HttpFilter, "envoy.filters.http.local_ratelimit",
    Proto::descriptor()->full_name(),
    std::shared_ptr<const NamedHttpFilterConfigFactory>(std::make_shared<LocalRateLimitFactory>())};

}  // namespace
}  // namespace remora::filters::http::local_ratelimit
