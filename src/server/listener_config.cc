#include "server/listener_config.h"

#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>

#include "config/extension_registry.h"

namespace remora::server {

namespace {

using google::protobuf::Message;

constexpr std::string_view kTypePrefix = "type.googleapis.com/";

// Unpacks an extension's typed_config into its generated message, or the default instance when
// the config names a well-known extension without one.
StatusOr<std::unique_ptr<Message>> unpackExtension(const config::Extension& extension,
                                                   const google::protobuf::Any* any) {
  const auto* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
          extension.config_type);
  if (descriptor == nullptr) return Status::error("no descriptor for " + extension.config_type);
  std::unique_ptr<Message> message(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor)->New());
  if (any != nullptr && !any->UnpackTo(message.get())) {
    return Status::error("typed_config: cannot unpack " + any->type_url());
  }
  return message;
}

// Finds a registered extension by typed_config type (preferred) or by name.
StatusOr<const config::Extension*> findExtension(config::ExtensionCategory category,
                                                 const std::string& name,
                                                 const google::protobuf::Any* any) {
  auto& registry = config::ExtensionRegistry::get();
  if (any != nullptr && !any->type_url().empty()) {
    std::string_view type = any->type_url();
    auto slash = type.rfind('/');
    if (slash != std::string_view::npos) type.remove_prefix(slash + 1);
    if (const auto* e = registry.byType(category, type)) return e;
    return Status::error("not supported by remora: typed_config: " + std::string(type));
  }
  if (const auto* e = registry.byName(category, name)) return e;
  return Status::error("not supported by remora: " + std::string(config::categoryName(category)) +
                       " '" + name + "'");
}

}  // namespace

std::string statNameOf(const net::Address& address) {
  std::string s = address.asString();
  std::replace(s.begin(), s.end(), ':', '_');
  return s;
}

ListenerStats::ListenerStats(stats::Store& s, const std::string& prefix)
    : downstream_cx_total(s.counter(prefix + "downstream_cx_total")),
      downstream_cx_active(s.gauge(prefix + "downstream_cx_active")),
      downstream_cx_destroy(s.counter(prefix + "downstream_cx_destroy")),
      no_filter_chain_match(s.counter(prefix + "no_filter_chain_match")),
      downstream_listener_filter_error(s.counter(prefix + "downstream_listener_filter_error")),
      downstream_listener_filter_remote_close(
          s.counter(prefix + "downstream_listener_filter_remote_close")),
      downstream_pre_cx_timeout(s.counter(prefix + "downstream_pre_cx_timeout")),
      downstream_pre_cx_active(s.gauge(prefix + "downstream_pre_cx_active")),
      downstream_cx_length_ms(s.histogram(prefix + "downstream_cx_length_ms")) {}

ListenerConfig::ListenerConfig(const envoy::config::listener::v3::Listener& proto,
                               stats::Store& store, net::Address address)
    : proto_(proto), address_(address), stats_(store, "listener." + statNameOf(address) + ".") {}

bool ListenerConfig::inbound() const {
  return proto_.traffic_direction() == envoy::config::core::v3::INBOUND;
}

StatusOr<std::shared_ptr<const ListenerConfig>> ListenerConfig::create(
    const envoy::config::listener::v3::Listener& proto, stats::Store& store,
    const std::set<std::string, std::less<>>& cluster_names,
    router::RouteConfigProviderManager* route_providers, init::Manager* init_manager) {
  const auto& sa = proto.address().socket_address();
  auto address = net::Address::parse(sa.address(), static_cast<uint16_t>(sa.port_value()));
  if (!address.ok()) return address.status().withPrefix("address.socket_address.address");
  std::shared_ptr<ListenerConfig> config(new ListenerConfig(proto, store, *address));

  if (proto.has_bind_to_port()) config->bind_to_port_ = proto.bind_to_port().value();
  if (proto.has_use_original_dst()) config->use_original_dst_ = proto.use_original_dst().value();
  if (proto.has_per_connection_buffer_limit_bytes()) {
    config->buffer_limit_ = proto.per_connection_buffer_limit_bytes().value();
  }
  if (proto.has_listener_filters_timeout()) {
    config->listener_filters_timeout_ = std::chrono::milliseconds(
        google::protobuf::util::TimeUtil::DurationToMilliseconds(proto.listener_filters_timeout()));
  }

  for (int i = 0; i < proto.listener_filters_size(); ++i) {
    const auto& lf = proto.listener_filters(i);
    const std::string path = "listener_filters[" + std::to_string(i) + "]";
    const google::protobuf::Any* any = lf.has_typed_config() ? &lf.typed_config() : nullptr;
    auto extension = findExtension(config::ExtensionCategory::ListenerFilter, lf.name(), any);
    if (!extension.ok()) return extension.status().withPrefix(path);
    auto message = unpackExtension(**extension, any);
    if (!message.ok()) return message.status().withPrefix(path);
    const auto& factory =
        *std::static_pointer_cast<const filters::listener::NamedListenerFilterConfigFactory>(
            (*extension)->factory);
    auto cb = factory.createFilterFactory(**message, store);
    if (!cb.ok()) return cb.status().withPrefix(path);
    config->listener_filters_.push_back(std::move(*cb));
  }

  // drain_type DEFAULT (the default) also drains while /healthcheck/fail holds; MODIFY_ONLY
  // only on a drain.
  config->drain_decision_ = std::make_shared<DrainDecision>(
      config->inbound(), proto.drain_type() == envoy::config::listener::v3::Listener::DEFAULT);
  filters::network::FactoryContext context{store, cluster_names, config->drain_decision_,
                                           route_providers, init_manager};
  auto buildChain = [&](const envoy::config::listener::v3::FilterChain& chain,
                        const std::string& path) -> StatusOr<FilterChainConfig> {
    FilterChainConfig out;
    out.name = chain.name();
    out.transport_socket_factory = net::rawBufferSocketFactory();
    if (chain.has_transport_socket()) {
      const auto& ts = chain.transport_socket();
      const google::protobuf::Any* any = ts.has_typed_config() ? &ts.typed_config() : nullptr;
      auto extension = findExtension(config::ExtensionCategory::TransportSocket, ts.name(), any);
      if (!extension.ok()) return extension.status().withPrefix(path + ".transport_socket");
      out.transport_socket_factory =
          std::static_pointer_cast<const net::TransportSocketFactory>((*extension)->factory);
    }
    for (int j = 0; j < chain.filters_size(); ++j) {
      const auto& filter = chain.filters(j);
      const std::string fpath = path + ".filters[" + std::to_string(j) + "]";
      const google::protobuf::Any* any =
          filter.has_typed_config() ? &filter.typed_config() : nullptr;
      auto extension = findExtension(config::ExtensionCategory::NetworkFilter, filter.name(), any);
      if (!extension.ok()) return extension.status().withPrefix(fpath);
      auto message = unpackExtension(**extension, any);
      if (!message.ok()) return message.status().withPrefix(fpath);
      const auto& factory =
          *std::static_pointer_cast<const filters::network::NamedNetworkFilterConfigFactory>(
              (*extension)->factory);
      auto cb = factory.createFilterFactory(**message, context);
      if (!cb.ok()) return cb.status().withPrefix(fpath + ".typed_config");
      out.filter_factories.push_back(std::move(*cb));
    }
    return out;
  };

  for (int i = 0; i < proto.filter_chains_size(); ++i) {
    const std::string path = "filter_chains[" + std::to_string(i) + "]";
    const auto& chain = proto.filter_chains(i);
    // Envoy rejects two chains with the same match: the second could never be chosen.
    for (int k = 0; k < i; ++k) {
      if (google::protobuf::util::MessageDifferencer::Equals(
              chain.filter_chain_match(), proto.filter_chains(k).filter_chain_match())) {
        return Status::error(path + ".filter_chain_match: duplicates the match of filter_chains[" +
                             std::to_string(k) + "]");
      }
    }
    // As Envoy: "*.example.com" is the only wildcard form; "*w.example.com" or "www.*" are refused.
    const auto& names = chain.filter_chain_match().server_names();
    for (int n = 0; n < names.size(); ++n) {
      const std::string& name = names[n];
      const size_t star = name.find('*');
      if (star != std::string::npos && (star != 0 || name.size() < 3 || name[1] != '.' ||
                                        name.find('*', 1) != std::string::npos)) {
        return Status::error(path + ".filter_chain_match.server_names[" + std::to_string(n) +
                             "]: partial wildcards are not supported in \"server_names\": \"" +
                             name + "\"");
      }
    }
    auto built = buildChain(chain, path);
    if (!built.ok()) return built.status();
    config->chains_.push_back(std::move(*built));
    config->chain_matches_.push_back(FilterChainMatchSpec::fromProto(chain.filter_chain_match()));
  }
  if (proto.has_default_filter_chain()) {
    auto built = buildChain(proto.default_filter_chain(), "default_filter_chain");
    if (!built.ok()) return built.status();
    config->default_chain_ = std::make_unique<FilterChainConfig>(std::move(*built));
  }
  return std::shared_ptr<const ListenerConfig>(std::move(config));
}

const FilterChainConfig* ListenerConfig::findFilterChain(const net::ConnectionInfo& info) const {
  int index = selectFilterChain(chain_matches_, info);
  if (index >= 0) return &chains_[index];
  return default_chain_.get();
}

}  // namespace remora::server
