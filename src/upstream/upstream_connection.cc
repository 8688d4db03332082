#include "upstream/upstream_connection.h"

#include "net/socket.h"
#include "net/transport_socket_factory.h"

namespace remora::upstream {

std::unique_ptr<net::ConnectionImpl> createHostConnection(
    event::Dispatcher& dispatcher, const Host& host, const Cluster& cluster, std::string& error,
    const net::TransportSocketOptions& transport_options) {
  // Read once: a LOGICAL_DNS host's address may move while this runs.
  const net::Address address = host.currentAddress();
  auto fd = net::startConnect(address, cluster.upstreamBindAddress());
  if (!fd.ok()) {
    error = std::string(fd.status().message());
    return nullptr;
  }
  auto connection = std::make_unique<net::ConnectionImpl>(
      dispatcher, *fd, net::rawBufferSocketFactory()->create(transport_options), false);
  connection->setBufferLimits(cluster.perConnectionBufferLimit());
  connection->connect(address);
  return connection;
}

std::unique_ptr<net::ConnectionImpl> openUpstreamConnection(
    event::Dispatcher& dispatcher, const Host& host, const Cluster& cluster, std::string& error,
    const net::TransportSocketOptions& transport_options) {
  auto& stats = cluster.stats();
  stats.upstream_cx_total.inc();
  host.stats.cx_total.fetch_add(1, std::memory_order_relaxed);
  auto connection = createHostConnection(dispatcher, host, cluster, error, transport_options);
  if (connection == nullptr) {
    stats.upstream_cx_connect_fail.inc();
    host.stats.cx_connect_fail.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  stats.upstream_cx_active.inc();
  host.stats.cx_active.fetch_add(1, std::memory_order_relaxed);
  net::ConnectionByteStats byte_stats;
  byte_stats.rx_total = &stats.upstream_cx_rx_bytes_total;
  byte_stats.tx_total = &stats.upstream_cx_tx_bytes_total;
  connection->setByteStats(byte_stats);
  return connection;
}

void chargeUpstreamConnectionClosed(const Host& host, const Cluster& cluster,
                                    net::ConnectionEvent event) {
  auto& stats = cluster.stats();
  stats.upstream_cx_active.dec();
  stats.upstream_cx_destroy.inc();
  (event == net::ConnectionEvent::RemoteClose ? stats.upstream_cx_destroy_remote
                                              : stats.upstream_cx_destroy_local)
      .inc();
  host.stats.cx_active.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace remora::upstream
