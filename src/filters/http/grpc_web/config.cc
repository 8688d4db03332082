// Registers envoy.filters.http.grpc_web.
#include "config/extension_registry.h"
#include "envoy/extensions/filters/http/grpc_web/v3/grpc_web.pb.h"
#include "filters/http/factory.h"
#include "filters/http/grpc_web/grpc_web_filter.h"

namespace remora::filters::http::grpc_web {
namespace {

using Proto = envoy::extensions::filters::http::grpc_web::v3::GrpcWeb;

class GrpcWebFactory final : public NamedHttpFilterConfigFactory {
 public:
  StatusOr<FilterFactoryCb> createFilterFactory(const google::protobuf::Message&,
                                                FactoryContext& context) const override {
    stats::Store* stats = &context.stats;
    return FilterFactoryCb(
        [stats](remora::http::FilterChainFactoryCallbacks& callbacks, server::WorkerContext&) {
          callbacks.addStreamFilter(std::make_shared<GrpcWebFilter>(*stats));
        });
  }
};

const config::RegisterExtension kRegistration{
    config::ExtensionCategory::HttpFilter, std::string(kFilterName),
    Proto::descriptor()->full_name(),
    std::shared_ptr<const NamedHttpFilterConfigFactory>(std::make_shared<GrpcWebFactory>())};

}  // namespace
}  // namespace remora::filters::http::grpc_web
