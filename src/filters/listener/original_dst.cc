// envoy.filters.listener.original_dst: restores the destination a connection had before an
// iptables REDIRECT sent it to us, so filter chains and ORIGINAL_DST clusters see where the
// application meant to go.
#include "config/extension_registry.h"
#include "envoy/extensions/filters/listener/original_dst/v3/original_dst.pb.h"
#include "filters/listener/factory.h"
#include "net/socket.h"

namespace remora::filters::listener {
namespace {

class OriginalDstFilter final : public ListenerFilter {
 public:
  net::FilterStatus onAccept(ListenerFilterCallbacks& callbacks) override {
    auto original = net::originalDestination(callbacks.fd());
    // No conntrack entry means nobody redirected this connection: keep the local address.
    if (original && original->valid()) {
      callbacks.info().local_address = *original;
      callbacks.info().local_address_restored = true;
    }
    return net::FilterStatus::Continue;
  }
};

class OriginalDstFactory final : public NamedListenerFilterConfigFactory {
 public:
  StatusOr<ListenerFilterFactoryCb> createFilterFactory(const google::protobuf::Message&,
                                                        stats::Store&) const override {
    return ListenerFilterFactoryCb([] { return std::make_unique<OriginalDstFilter>(); });
  }
};

const config::RegisterExtension kRegistration{
    config::ExtensionCategory::ListenerFilter, "envoy.filters.listener.original_dst",
    envoy::extensions::filters::listener::original_dst::v3::OriginalDst::descriptor()->full_name(),
    std::shared_ptr<const NamedListenerFilterConfigFactory>(
        std::make_shared<OriginalDstFactory>())};

}  // namespace
}  // namespace remora::filters::listener
