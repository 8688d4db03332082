// envoy.transport_sockets.raw_buffer, registered so configs may name it explicitly.
#include "config/extension_registry.h"
#include "envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.pb.h"
#include "net/transport_socket_factory.h"

namespace remora::net {

namespace {
class RawBufferSocketFactory final : public TransportSocketFactory {
 public:
  TransportSocketPtr create(const TransportSocketOptions&) const override {
    return std::make_unique<RawBufferSocket>();  // plain bytes negotiate nothing
  }
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
