"""A cluster's upstream_bind_config.source_address is the source of every connection remora opens to
its hosts: tcp_proxy, the HTTP/1 pool, the HTTP/2 pool and active health checks. Istio's inbound
clusters use 127.0.0.6 this way; loopback needs neither IP_FREEBIND nor IP_TRANSPARENT."""

import json
import socket

from conftest import (bootstrap, connect, curl, free_ports, recv_all, run_remora,
                      static_cluster, tcp_listener)
from http_harness import http_listener, route, vhost


def bound(cluster, source):
    cluster["upstream_bind_config"] = {"source_address": {"address": source, "port_value": 0}}
    return cluster


def http_handler(conn):
    """Answers one HTTP/1.1 request with 200 (enough to see who connected)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    conn.shutdown(socket.SHUT_WR)
    recv_all(conn)
    return None


def test_tcp_proxy_http_pool_and_health_checks_connect_from_the_bound_source(remora, backends):
    tcp_backend = backends(lambda conn: (conn.sendall(b"hi\n"), recv_all(conn)) and None)
    http_backend = backends(http_handler)
    checked = backends(lambda conn: recv_all(conn) and None)
    tcp_port, http_port, admin_port = free_ports(3)
    hc = {"timeout": "1s", "interval": "0.1s", "no_traffic_interval": "0.1s",
          "unhealthy_threshold": 2, "healthy_threshold": 1, "tcp_health_check": {}}
    clusters = [
        bound(static_cluster("tcp", [tcp_backend.port]), "127.0.0.2"),
        bound(static_cluster("http", [http_backend.port]), "127.0.0.3"),
        bound(static_cluster("checked", [checked.port], health_checks=[hc]), "127.0.0.4"),
    ]
    listeners = [
        tcp_listener("tcp", tcp_port, "tcp"),
        http_listener("http", http_port, {"virtual_hosts": [vhost(routes=[route(cluster="http")])]}),
    ]
    proc = remora(bootstrap(listeners, clusters, admin_port))

    with connect(tcp_port) as s:
        assert s.recv(3) == b"hi\n"
    r = curl(f"http://127.0.0.1:{http_port}/")
    assert r is not None and r.status == 200, r
    checked.wait_accepted(1)
    tcp_backend.wait_accepted(1)
    assert {p[0] for p in tcp_backend.peers} == {"127.0.0.2"}
    assert {p[0] for p in http_backend.peers} == {"127.0.0.3"}
    assert {p[0] for p in checked.peers} == {"127.0.0.4"}
    # Many connections share the source address: the port comes with each connect.
    for _ in range(3):
        assert curl(f"http://127.0.0.1:{http_port}/").status == 200
    assert len({p[1] for p in http_backend.peers}) == len(http_backend.peers)
    assert proc.stat("cluster.http.upstream_cx_connect_fail") == 0


def test_http2_pool_connects_from_the_bound_source(remora, backends):
    """The HTTP/2 pool opens its connection from the source too (h2c prior knowledge; the backend
    answers the preface with SETTINGS, enough for remora to consider the connection up)."""
    seen = []

    def h2_handler(conn):
        seen.append(conn.getpeername()[0])
        conn.sendall(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")  # SETTINGS
        recv_all(conn)

    backend = backends(h2_handler)
    port, admin_port = free_ports(2)
    h2 = {"typed_extension_protocol_options": {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}}}}}
    cluster = bound(static_cluster("h2", [backend.port], **h2), "127.0.0.5")
    remora(bootstrap([http_listener("http", port, {"virtual_hosts": [
        vhost(routes=[route(cluster="h2", timeout="0.5s")])]})], [cluster], admin_port))
    curl(f"http://127.0.0.1:{port}/", timeout=3)  # the backend never answers the stream
    backend.wait_accepted(1)
    assert {p[0] for p in backend.peers} == {"127.0.0.5"}


def test_a_malformed_source_address_is_rejected(tmp_path):
    cfg = bootstrap([], [bound(static_cluster("c", [1]), "not-an-ip")])
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(cfg))
    proc = run_remora(["--mode", "validate", "-c", str(path)])
    assert proc.returncode != 0
    assert "static_resources.clusters[0].upstream_bind_config.source_address.address" in \
        proc.stdout + proc.stderr
