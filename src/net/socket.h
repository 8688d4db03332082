#pragma once

#include <optional>

#include "common/status.h"
#include "net/address.h"

namespace remora::net {

// Socket helpers. All sockets are non-blocking and close-on-exec.

// Creates a listening TCP socket. reuse_port lets each worker own its own accept queue. An IPv6
// socket is v6-only unless ipv4_compat (Envoy's SocketAddress.ipv4_compat) lets "::" take IPv4.
StatusOr<int> createListenSocket(const Address& address, bool reuse_port, bool ipv4_compat = false,
                                 int backlog = 1024);
// The same socket bound but not yet listening: a connect to it is refused until
// startListening(). The server binds its listeners at startup (a taken port fails startup) and
// listens only once it is initialized, as Envoy does.
StatusOr<int> createBoundSocket(const Address& address, bool reuse_port, bool ipv4_compat = false);
Status startListening(int fd, int backlog = 1024);
// Starts a non-blocking connect; the fd becomes writable when it completes. A `source` binds the
// socket first (a cluster's upstream_bind_config); its family must be the destination's.
StatusOr<int> startConnect(const Address& address, const std::optional<Address>& source = {});
Address localAddress(int fd);
Address peerAddress(int fd);
// The destination before an iptables REDIRECT/DNAT (SO_ORIGINAL_DST, or IP6T_SO_ORIGINAL_DST).
std::optional<Address> originalDestination(int fd);
void setNoDelay(int fd);
// SO_ERROR of a socket, used to learn how a non-blocking connect ended.
int socketError(int fd);

}  // namespace remora::net
