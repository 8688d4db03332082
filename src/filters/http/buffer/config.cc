// Registers envoy.filters.http.buffer.
#include "config/extension_registry.h"
#include "filters/http/buffer/buffer_filter.h"
#include "filters/http/factory.h"

namespace remora::filters::http::buffer {
namespace {

using Proto = envoy::extensions::filters::http::buffer::v3::Buffer;
using PerRouteProto = envoy::extensions::filters::http::buffer::v3::BufferPerRoute;

class BufferFactory final : public NamedHttpFilterConfigFactory {
 public:
  StatusOr<FilterFactoryCb> createFilterFactory(const google::protobuf::Message& message,
                                                FactoryContext&) const override {
    auto settings = BufferSettings::create(static_cast<const Proto&>(message));
    return FilterFactoryCb(
        [settings](remora::http::FilterChainFactoryCallbacks& callbacks, server::WorkerContext&) {
          callbacks.addStreamDecoderFilter(std::make_shared<BufferFilter>(settings));
        });
  }
  std::string_view routeSpecificConfigType() const override {
    return PerRouteProto::descriptor()->full_name();
  }
  StatusOr<router::RouteSpecificFilterConfigConstSharedPtr> createRouteSpecificFilterConfig(
      const google::protobuf::Message& config, stats::Store*) const override {
    return router::RouteSpecificFilterConfigConstSharedPtr(
        BufferSettings::create(static_cast<const PerRouteProto&>(config)));
  }
};

const config::RegisterExtension kRegistration{
    config::ExtensionCategory::HttpFilter, std::string(kFilterName),
    Proto::descriptor()->full_name(),
    std::shared_ptr<const NamedHttpFilterConfigFactory>(std::make_shared<BufferFactory>())};

}  // namespace
}  // namespace remora::filters::http::buffer
