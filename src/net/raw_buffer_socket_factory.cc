// envoy.transport_sockets.raw_buffer, registered so configs may name it explicitly.
#include "envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.pb.h"

#include "config/extension_registry.h"
#include "net/transport_socket_factory.h"

namespace remora::net {

namespace {
class RawBufferSocketFactory final : public TransportSocketFactory {
 public:
  TransportSocketPtr create() const override { return std::make_unique<RawBufferSocket>(); }
};
}  // namespace

TransportSocketFactoryConstSharedPtr rawBufferSocketFactory() {
  static const auto factory = std::make_shared<const RawBufferSocketFactory>();
  return factory;
}

namespace {
const config::RegisterExtension kRegistration{
    config::ExtensionCategory::TransportSocket, "envoy.transport_sockets.raw_buffer",
    envoy::extensions::transport_sockets::raw_buffer::v3::RawBuffer::descriptor()->full_name(),
    std::shared_ptr<const TransportSocketFactory>(rawBufferSocketFactory())};
}  // namespace

}  // namespace remora::net
