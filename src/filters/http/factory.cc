#include "filters/http/factory.h"

#include "config/extension_registry.h"

namespace remora::filters::http {

namespace {

std::string_view typeOf(const google::protobuf::Any& any) {
  std::string_view url = any.type_url();
  auto slash = url.rfind('/');
  return slash == std::string_view::npos ? url : url.substr(slash + 1);
}

const NamedHttpFilterConfigFactory& factoryOf(const config::Extension& extension) {
  return *std::static_pointer_cast<const NamedHttpFilterConfigFactory>(extension.factory);
}

}  // namespace

StatusOr<std::pair<std::string, router::RouteSpecificFilterConfigConstSharedPtr>>
createRouteSpecificFilterConfig(std::string_view key, const google::protobuf::Any& any,
                                stats::Store* stats) {
  const std::string_view type = typeOf(any);
  auto& registry = config::ExtensionRegistry::get();
  const config::Extension* extension = registry.byName(config::ExtensionCategory::HttpFilter, key);
  if (extension == nullptr) {
    for (const config::Extension* candidate : registry.all()) {
      if (candidate->category == config::ExtensionCategory::HttpFilter &&
          factoryOf(*candidate).routeSpecificConfigType() == type) {
        extension = candidate;
        break;
      }
    }
  }
  if (extension == nullptr) return Status::error("not supported by remora: http filter " + std::string(key));
  const NamedHttpFilterConfigFactory& factory = factoryOf(*extension);
  if (factory.routeSpecificConfigType().empty()) {
    return Status::error("not supported by remora: per-route config for " + extension->name);
  }
  if (factory.routeSpecificConfigType() != type) {
    return Status::error(extension->name + " takes " + std::string(factory.routeSpecificConfigType()) +
                         " per route, not " + std::string(type));
  }
  const auto* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(std::string(type));
  if (descriptor == nullptr) return Status::error("unknown type " + std::string(type));
  std::unique_ptr<google::protobuf::Message> message(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor)->New());
  if (!any.UnpackTo(message.get())) return Status::error("cannot unpack " + std::string(type));
  auto parsed = factory.createRouteSpecificFilterConfig(*message, stats);
  if (!parsed.ok()) return parsed.status();
  return std::make_pair(extension->name, std::move(parsed.value()));
}

}  // namespace remora::filters::http
