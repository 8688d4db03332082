#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace remora::net {

// An IPv4 or IPv6 socket address. Value type; cheap to copy.
class Address {
 public:
  Address() = default;
  // Parses a numeric IP literal ("10.0.0.1", "::1"); hostnames are not resolved here.
  static StatusOr<Address> parse(std::string_view ip, uint16_t port);
  static Address fromSockaddr(const sockaddr* sa, socklen_t len);

  const sockaddr* sockAddr() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t sockAddrLen() const;
  int family() const { return storage_.ss_family; }
  bool valid() const { return family() == AF_INET || family() == AF_INET6; }
  uint16_t port() const;
  // The IP without port, e.g. "10.0.0.1" or "::1".
  std::string ip() const;
  // Envoy's form: "10.0.0.1:80", "[::1]:80".
  std::string asString() const;
  // 0.0.0.0 or ::
  bool isAnyAddress() const;
  // Whether this address lies within prefix/len (same family; v4-mapped v6 compared as v4).
  bool inCidr(const Address& prefix, uint32_t prefix_len) const;

  bool operator==(const Address& other) const;

 private:
  sockaddr_storage storage_{};
};

}  // namespace remora::net
