// Registers envoy.filters.http.router.
#include "envoy/extensions/filters/http/router/v3/router.pb.h"

#include "config/extension_registry.h"
#include "filters/http/factory.h"
#include "filters/http/router/router_filter.h"

namespace remora::filters::http {
namespace {

class RouterFactory final : public NamedHttpFilterConfigFactory {
 public:
  StatusOr<FilterFactoryCb> createFilterFactory(const google::protobuf::Message&, FactoryContext&) const override {
    return FilterFactoryCb([](remora::http::FilterChainFactoryCallbacks& callbacks, server::WorkerContext& worker) {
      callbacks.addStreamDecoderFilter(std::make_shared<router::RouterFilter>(worker));
    });
  }
  bool isTerminalFilter() const override { return true; }
};

const config::RegisterExtension kRegistration{
    config::ExtensionCategory::HttpFilter, "envoy.filters.http.router",
    envoy::extensions::filters::http::router::v3::Router::descriptor()->full_name(),
    std::shared_ptr<const NamedHttpFilterConfigFactory>(std::make_shared<RouterFactory>())};

}  // namespace
}  // namespace remora::filters::http
