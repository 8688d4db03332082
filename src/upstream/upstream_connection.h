#pragma once

#include <memory>
#include <string>

#include "event/dispatcher.h"
#include "net/connection_impl.h"
#include "upstream/cluster.h"

namespace remora::upstream {

// Starts a non-blocking connect to `host` (its currentAddress(), recorded as the connection's
// remote address) with the cluster's buffer limit and counts nothing: what
// the active health checker uses (Envoy's health check connections stay out of the cluster's
// upstream_cx_* stats, so a cluster that only ever saw health checks still "carried no traffic").
// On failure sets `error` and returns nullptr.
std::unique_ptr<net::ConnectionImpl> createHostConnection(
    event::Dispatcher& dispatcher, const Host& host, const Cluster& cluster, std::string& error,
    const net::TransportSocketOptions& transport_options = {});

// Starts a non-blocking connect to `host` for `cluster`, as every upstream user (HTTP/1 and
// HTTP/2 pools, CONNECT tunnels) does: counts upstream_cx_total and upstream_cx_active (cluster
// and host), applies the cluster's buffer limit and byte counters. The caller adds its callbacks
// and filters; the connect completes (or fails) on the dispatcher. On failure it counts
// upstream_cx_connect_fail, sets `error` and returns nullptr. `transport_options`: what the
// transport socket is asked for (the HTTP/2 pool offers ALPN "h2").
std::unique_ptr<net::ConnectionImpl> openUpstreamConnection(
    event::Dispatcher& dispatcher, const Host& host, const Cluster& cluster, std::string& error,
    const net::TransportSocketOptions& transport_options = {});

// The other end of openUpstreamConnection: an upstream connection closed. Counts
// upstream_cx_active down (cluster and host), upstream_cx_destroy and its _local/_remote split.
void chargeUpstreamConnectionClosed(const Host& host, const Cluster& cluster,
                                    net::ConnectionEvent event);

}  // namespace remora::upstream
