#include "config/extension_registry.h"

#include "common/assert.h"

namespace remora::config {

std::string_view categoryName(ExtensionCategory category) {
  switch (category) {
    case ExtensionCategory::ListenerFilter: return "listener filter";
    case ExtensionCategory::NetworkFilter: return "network filter";
    case ExtensionCategory::TransportSocket: return "transport socket";
    case ExtensionCategory::AccessLogger: return "access logger";
    case ExtensionCategory::HttpFilter: return "http filter";
    case ExtensionCategory::RetryHostPredicate: return "retry host predicate";
  }
  return "extension";
}

ExtensionRegistry& ExtensionRegistry::get() {
  static ExtensionRegistry* registry = new ExtensionRegistry();
  return *registry;
}

void ExtensionRegistry::add(Extension extension) {
  RELEASE_ASSERT(byName(extension.category, extension.name) == nullptr,
                 "extension name registered twice");
  RELEASE_ASSERT(byType(extension.category, extension.config_type) == nullptr,
                 "extension config type registered twice");
  extensions_.push_back(std::make_unique<Extension>(std::move(extension)));
}

const Extension* ExtensionRegistry::byName(ExtensionCategory category, std::string_view name) const {
  for (const auto& e : extensions_) {
    if (e->category == category && e->name == name) return e.get();
  }
  return nullptr;
}

const Extension* ExtensionRegistry::byType(ExtensionCategory category,
                                           std::string_view config_type) const {
  for (const auto& e : extensions_) {
    if (e->category == category && e->config_type == config_type) return e.get();
  }
  return nullptr;
}

std::vector<const Extension*> ExtensionRegistry::all() const {
  std::vector<const Extension*> out;
  for (const auto& e : extensions_) out.push_back(e.get());
  return out;
}

}  // namespace remora::config
