#pragma once

#include <memory>

#include "net/transport_socket.h"

namespace remora::net {

// Makes the transport socket for each connection of a filter chain or cluster (Envoy's
// transport_socket extension). Built once from config; create() runs per connection.
class TransportSocketFactory {
 public:
  virtual ~TransportSocketFactory() = default;
  virtual TransportSocketPtr create(const TransportSocketOptions& options = {}) const = 0;
};
using TransportSocketFactoryConstSharedPtr = std::shared_ptr<const TransportSocketFactory>;

// The default when a chain or cluster names none: plain bytes.
TransportSocketFactoryConstSharedPtr rawBufferSocketFactory();

}  // namespace remora::net
