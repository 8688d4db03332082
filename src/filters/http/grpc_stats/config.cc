// Registers envoy.filters.http.grpc_stats.
#include "config/extension_registry.h"
#include "filters/http/factory.h"
#include "filters/http/grpc_stats/grpc_stats_filter.h"

namespace remora::filters::http::grpc_stats {
namespace {

using Proto = GrpcStatsConfig::Proto;

class GrpcStatsFactory final : public NamedHttpFilterConfigFactory {
 public:
  StatusOr<FilterFactoryCb> createFilterFactory(const google::protobuf::Message& message,
                                                FactoryContext& context) const override {
    auto config = GrpcStatsConfig::create(static_cast<const Proto&>(message), context.stats);
    return FilterFactoryCb(
        [config](remora::http::FilterChainFactoryCallbacks& callbacks, server::WorkerContext&) {
          callbacks.addStreamFilter(std::make_shared<GrpcStatsFilter>(config));
        });
  }
};

const config::RegisterExtension kRegistration{
    config::ExtensionCategory::HttpFilter, std::string(kFilterName),
    Proto::descriptor()->full_name(),
    std::shared_ptr<const NamedHttpFilterConfigFactory>(std::make_shared<GrpcStatsFactory>())};

}  // namespace
}  // namespace remora::filters::http::grpc_stats
