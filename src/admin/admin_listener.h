#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>

#include "admin/admin_handlers.h"
#include "common/status.h"
#include "envoy/config/core/v3/address.pb.h"
#include "net/address.h"
#include "net/connection.h"
#include "net/listener.h"
#include "server/instance.h"

namespace remora::admin {

struct AdminListenerConfig {
  size_t max_request_head_bytes = 60 * 1024;
  size_t max_request_headers = 100;
  // Admin requests carry no meaningful body; larger bodies are refused with 413.
  uint64_t max_request_body_bytes = 1024 * 1024;
};

// The admin's HTTP/1.1 server: accepts on the main thread's dispatcher at bootstrap
// `admin.address`, parses requests with the strict HTTP/1 parser (pipelined requests answered in
// order), routes them through AdminHandlers and writes the responses. Keep-alive by default;
// "Connection: close" and HTTP/1.0 without keep-alive close after the response; a malformed
// request gets 400/413/431/501/505 and the connection closes.
class AdminListener {
 public:
  // Binds `address` (port 0 picks a free port) and starts accepting on server.dispatcher().
  static StatusOr<std::unique_ptr<AdminListener>> create(server::Instance& server,
                                                         const net::Address& address,
                                                         AdminListenerConfig config = {});
  ~AdminListener();

  // The bound address, with the kernel's port when 0 was asked for.
  const net::Address& localAddress() const { return local_address_; }
  // Open admin connections.
  size_t connectionCount() const { return connections_.size(); }
  // The endpoint table this listener serves.
  AdminHandlers& handlers() { return handlers_; }

  // Converts bootstrap `admin.address` (a socket_address with a numeric IP) to an Address.
  static StatusOr<net::Address> addressFromProto(const envoy::config::core::v3::Address& address);

 private:
  class Session;

  AdminListener(server::Instance& server, int fd, const net::Address& local,
                AdminListenerConfig config);
  void onAccept(int fd);
  void onSessionClosed(uint64_t id);

  server::Instance& server_;
  const AdminListenerConfig config_;
  AdminHandlers handlers_;
  const int listen_fd_;
  net::Address local_address_;
  std::unique_ptr<net::TcpListener> listener_;
  std::map<uint64_t, net::ConnectionPtr> connections_;
};

}  // namespace remora::admin
