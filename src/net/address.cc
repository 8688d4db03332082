#include "net/address.h"

#include <arpa/inet.h>

#include <cstring>

namespace remora::net {

StatusOr<Address> Address::parse(std::string_view ip, uint16_t port) {
  Address a;
  std::string text(ip);
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
  if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return a;
  }
  a.storage_ = {};
  if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return a;
  }
  return Status::error("malformed IP address: '" + std::string(ip) + "'");
}

Address Address::fromSockaddr(const sockaddr* sa, socklen_t len) {
  Address a;
  std::memcpy(&a.storage_, sa, std::min<size_t>(len, sizeof(a.storage_)));
  return a;
}

socklen_t Address::sockAddrLen() const {
  return family() == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

uint16_t Address::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

std::string Address::ip() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf, sizeof(buf));
  } else if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf, sizeof(buf));
  }
  return buf;
}

std::string Address::asString() const {
  if (family() == AF_INET6) return "[" + ip() + "]:" + std::to_string(port());
  return ip() + ":" + std::to_string(port());
}

bool Address::isAnyAddress() const {
  if (family() == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr.s_addr == htonl(INADDR_ANY);
  }
  if (family() == AF_INET6) {
    return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr);
  }
  return false;
}

namespace {
// Returns the address bytes and their count, unwrapping v4-mapped IPv6.
const uint8_t* ipBytes(const sockaddr_storage& s, size_t& len) {
  if (s.ss_family == AF_INET) {
    len = 4;
    return reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(&s)->sin_addr);
  }
  const auto* a6 = &reinterpret_cast<const sockaddr_in6*>(&s)->sin6_addr;
  if (IN6_IS_ADDR_V4MAPPED(a6)) {
    len = 4;
    return reinterpret_cast<const uint8_t*>(a6) + 12;
  }
  len = 16;
  return reinterpret_cast<const uint8_t*>(a6);
}
}  // namespace

bool Address::inCidr(const Address& prefix, uint32_t prefix_len) const {
  if (!valid() || !prefix.valid()) return false;
  size_t len_a, len_p;
  const uint8_t* a = ipBytes(storage_, len_a);
  const uint8_t* p = ipBytes(prefix.storage_, len_p);
  if (len_a != len_p) return false;
  if (prefix_len > len_a * 8) return false;
  uint32_t full = prefix_len / 8;
  if (std::memcmp(a, p, full) != 0) return false;
  uint32_t rem = prefix_len % 8;
  if (rem == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rem));
  return (a[full] & mask) == (p[full] & mask);
}

bool Address::operator==(const Address& other) const {
  if (family() != other.family()) return false;
  return port() == other.port() && ip() == other.ip();
}

}  // namespace remora::net
