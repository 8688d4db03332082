#pragma once

#include <google/protobuf/message.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace remora::config {

// Where an extension plugs in; names follow Envoy's extension categories.
enum class ExtensionCategory {
  ListenerFilter,      // envoy.filters.listener.*
  NetworkFilter,       // envoy.filters.network.*
  TransportSocket,     // envoy.transport_sockets.*
  AccessLogger,        // envoy.access_loggers.*
  HttpFilter,          // envoy.filters.http.*
  RetryHostPredicate,  // envoy.retry_host_predicates.*
};

std::string_view categoryName(ExtensionCategory category);

// One extension remora implements: its well-known name and the fully-qualified name of its config
// message (the `typed_config` @type without "type.googleapis.com/"). `factory` is opaque here:
// each layer registers and reads back its own factory type (see filters/*/factory.h).
struct Extension {
  ExtensionCategory category;
  std::string name;
  std::string config_type;
  std::shared_ptr<const void> factory;
};

// Every extension remora supports, registered once at static-init time by name and config type.
// Registering the same name or type twice in a category is fatal.
class ExtensionRegistry {
 public:
  static ExtensionRegistry& get();

  void add(Extension extension);
  // Lookups return nullptr when remora has no such extension.
  const Extension* byName(ExtensionCategory category, std::string_view name) const;
  const Extension* byType(ExtensionCategory category, std::string_view config_type) const;
  std::vector<const Extension*> all() const;

 private:
  std::vector<std::unique_ptr<Extension>> extensions_;
};

// Registers an extension from a namespace-scope static:
//   static const config::RegisterExtension kReg{ExtensionCategory::NetworkFilter,
//       "envoy.filters.network.tcp_proxy", "envoy.extensions...TcpProxy", factory};
struct RegisterExtension {
  RegisterExtension(ExtensionCategory category, std::string name, std::string config_type,
                    std::shared_ptr<const void> factory) {
    ExtensionRegistry::get().add({category, std::move(name), std::move(config_type), std::move(factory)});
  }
};

}  // namespace remora::config
