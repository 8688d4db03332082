#include "net/socket.h"

#include <fcntl.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace remora::net {

StatusOr<int> createListenSocket(const Address& address, bool reuse_port, bool ipv4_compat,
                                 int backlog) {
  auto fd = createBoundSocket(address, reuse_port, ipv4_compat);
  if (!fd.ok()) return fd;
  if (Status listening = startListening(*fd, backlog); !listening.ok()) {
    ::close(*fd);
    return Status::error("cannot listen on " + address.asString() + ": " + listening.message());
  }
  return fd;
}

StatusOr<int> createBoundSocket(const Address& address, bool reuse_port, bool ipv4_compat) {
  int fd = ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::error(std::string("socket(): ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (reuse_port) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (address.family() == AF_INET6) {
    int v6only = ipv4_compat ? 0 : 1;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
  }
  if (::bind(fd, address.sockAddr(), address.sockAddrLen()) != 0) {
    int err = errno;
    ::close(fd);
    return Status::error("cannot bind " + address.asString() + ": " + std::strerror(err));
  }
  return fd;
}

Status startListening(int fd, int backlog) {
  if (::listen(fd, backlog) != 0) return Status::error(std::strerror(errno));
  return Status();
}

StatusOr<int> startConnect(const Address& address, const std::optional<Address>& source) {
  if (source && source->family() != address.family()) {
    return Status::error("cannot bind to " + source->asString() + " to connect to " +
                         address.asString() + ": address families differ");
  }
  int fd = ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::error(std::string("socket(): ") + std::strerror(errno));
  setNoDelay(fd);
  if (source) {
    // Without a port, let connect() pick it: the 4-tuple, not the bind, must be unique, so many
    // connections to different hosts can share a source port.
    if (source->port() == 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    }
    if (::bind(fd, source->sockAddr(), source->sockAddrLen()) != 0) {
      int err = errno;
      ::close(fd);
      return Status::error("bind to " + source->asString() + ": " + std::strerror(err));
    }
  }
  int rc = ::connect(fd, address.sockAddr(), address.sockAddrLen());
  if (rc != 0 && errno != EINPROGRESS) {
    int err = errno;
    ::close(fd);
    return Status::error("connect to " + address.asString() + ": " + std::strerror(err));
  }
  return fd;
}

Address localAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return Address::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

Address peerAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return Address::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

std::optional<Address> originalDestination(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  Address local = localAddress(fd);
  int rc;
  if (local.family() == AF_INET6) {
    rc = ::getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len);
  } else {
    rc = ::getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len);
  }
  if (rc != 0) return std::nullopt;
  return Address::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

void setNoDelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int socketError(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

}  // namespace remora::net
