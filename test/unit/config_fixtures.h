#pragma once

#include <set>
#include <string>

#include "common/status.h"
#include "config/bootstrap_loader.h"
#include "config/extension_registry.h"
#include "config/load_and_validate.h"

namespace remora::config::testing {

// Names of extensions registered only by this test binary: the compatibility-table test leaves
// them out.
inline std::set<std::string>& testOnlyExtensionNames() {
  static std::set<std::string> names;
  return names;
}

// Registers an extension for a test (once per name).
inline void registerTestExtension(Extension extension) {
  if (testOnlyExtensionNames().count(extension.name) != 0) return;
  testOnlyExtensionNames().insert(extension.name);
  ExtensionRegistry::get().add(std::move(extension));
}

// Registers this milestone's extensions (tcp_proxy, original_dst, raw_buffer) for config tests,
// unless the runtime layer already registered them. Returns the (category, name) pairs this call
// added, so the compatibility-table test can leave them out.
inline const std::set<std::string>& ensureFixtureExtensions() {
  static const std::set<std::string> added = [] {
    struct Fixture {
      ExtensionCategory category;
      const char* name;
      const char* type;
    };
    const Fixture fixtures[] = {
        {ExtensionCategory::ListenerFilter, "envoy.filters.listener.original_dst",
         "envoy.extensions.filters.listener.original_dst.v3.OriginalDst"},
        {ExtensionCategory::NetworkFilter, "envoy.filters.network.tcp_proxy",
         "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"},
        {ExtensionCategory::TransportSocket, "envoy.transport_sockets.raw_buffer",
         "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"},
    };
    std::set<std::string> out;
    auto& registry = ExtensionRegistry::get();
    for (const auto& f : fixtures) {
      if (registry.byName(f.category, f.name) != nullptr ||
          registry.byType(f.category, f.type) != nullptr) {
        continue;
      }
      registry.add({f.category, f.name, f.type, nullptr});
      out.insert(f.name);
    }
    return out;
  }();
  testOnlyExtensionNames().insert(added.begin(), added.end());
  return testOnlyExtensionNames();
}

// Parses YAML and runs the whole validation pipeline; the error message when it fails.
inline Status loadYaml(const std::string& yaml) {
  ensureFixtureExtensions();
  auto bootstrap = bootstrapFromYaml(yaml);
  if (!bootstrap.ok()) return bootstrap.status();
  return validateBootstrap(*bootstrap);
}

// A valid bootstrap: one listener proxying to one STATIC cluster.
inline const char* kValidYaml = R"(
node: {id: n1, cluster: c1}
admin:
  address: {socket_address: {address: 127.0.0.1, port_value: 15000}}
static_resources:
  listeners:
  - name: l1
    address: {socket_address: {address: 0.0.0.0, port_value: 8080}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
          cluster: backend
  clusters:
  - name: backend
    connect_timeout: 0.25s
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 9000}}}
)";

}  // namespace remora::config::testing
