"""CONNECT tunnelling (Envoy's "CONNECT support"): with upgrade_configs CONNECT and a route's
connect_matcher + connect_config, remora terminates the CONNECT and carries its payload as raw TCP
to the cluster. A real proxy client (curl -p -x) tunnels HTTP through it; HTTP/2 CONNECT streams
(raw frames) tunnel bytes both ways with half-close; without connect_config the CONNECT is proxied
to an upstream that terminates it; refused CONNECTs get Envoy's 403."""

import json
import socket
import subprocess

from conftest import Backend, bootstrap, echo_handler, free_ports, static_cluster
from h2_frames import (DATA, END_STREAM, HEADERS, RST_STREAM, H2Conn, frame, headers_frame)
from http_harness import http_listener, route, vhost

PREFIX = "http.connect."
CONNECT_HCM = {"stat_prefix": "connect", "upgrade_configs": [{"upgrade_type": "CONNECT"}]}


def terminate_route(cluster="tunnel", **extra):
    return {"match": {"connect_matcher": {}},
            "route": {"cluster": cluster,
                      "upgrade_configs": [{"upgrade_type": "CONNECT", "connect_config": {}}],
                      **extra}}


def start(remora, target_port, routes=None, hcm_extra=None, clusters=None):
    listener_port, admin_port = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=routes or [terminate_route()])]}
    proc = remora(bootstrap(
        [http_listener("connect", listener_port, rc, hcm_extra={**CONNECT_HCM, **(hcm_extra or {})})],
        clusters or [static_cluster("tunnel", [target_port])], admin_port))
    return proc, listener_port


def curl_through_proxy(proxy_port, url, extra=()):
    """curl tunnelling through an HTTP CONNECT proxy (-p -x); returns (exit code, stdout)."""
    proc = subprocess.run(
        ["curl", "-sS", "--max-time", "10", "-p", "-x", f"http://127.0.0.1:{proxy_port}",
         *extra, url], capture_output=True, timeout=20)
    return proc.returncode, proc.stdout, proc.stderr


def test_curl_tunnels_http_through_an_http1_connect(remora, http_backends):
    backend = http_backends("b")
    proc, port = start(remora, backend.port)
    # The CONNECT target is curl's; remora sends the payload to the route's cluster.
    code, out, err = curl_through_proxy(port, f"http://origin.example:{backend.port}/through")
    assert code == 0, err
    assert json.loads(out)["path"] == "/through"
    (seen,) = backend.wait_requests(1)
    # The request inside the tunnel reached the backend untouched: nothing of remora's HTTP
    # handling (no x-forwarded-for, no x-request-id) applies to tunnelled bytes.
    assert seen["method"] == "GET" and seen["path"] == "/through"
    assert seen["headers"]["host"] == f"origin.example:{backend.port}"
    assert "x-request-id" not in seen["headers"] and "x-forwarded-proto" not in seen["headers"]
    proc.wait_stat(PREFIX + "downstream_cx_upgrades_active", lambda v: v == 0)
    stats = proc.stats()
    assert stats[PREFIX + "downstream_cx_upgrades_total"] == 1
    assert stats[PREFIX + "downstream_rq_2xx"] == 1
    assert stats["cluster.tunnel.upstream_cx_total"] == 1
    assert stats["cluster.tunnel.upstream_rq_200"] == 1


def raw_connect(port, target="db.internal:5432"):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, head
        head += chunk
    return sock, head.decode("latin-1")


def test_http1_tunnel_carries_bytes_both_ways_with_half_close(remora):
    echo = Backend(echo_handler)
    try:
        proc, port = start(remora, echo.port)
        sock, head = raw_connect(port)
        with sock:
            status_line = head.split("\r\n")[0]
            assert status_line.startswith("HTTP/1.1 200"), head
            # No framing on a 2xx to CONNECT (RFC 9110 §9.3.6).
            lower = head.lower()
            assert "content-length" not in lower and "transfer-encoding" not in lower, head
            payload = bytes(range(256)) * 4096  # 1 MiB, every byte value
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)  # our FIN reaches the echo server, which then closes
            echoed = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                echoed += chunk
            assert echoed == payload
        proc.wait_stat(PREFIX + "downstream_cx_upgrades_active", lambda v: v == 0)
        proc.wait_stat("cluster.tunnel.upstream_cx_active", lambda v: v == 0)
        assert proc.stat(PREFIX + "downstream_rq_completed") == 1
    finally:
        echo.close()


def test_connect_refused_without_upgrade_config_and_no_route(remora, http_backends):
    backend = http_backends("b")
    listener_port, admin_port = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[{"match": {"connect_matcher": {}},
                                           "route": {"cluster": "tunnel"}}])]}
    proc = remora(bootstrap(
        [http_listener("plain", listener_port, rc, hcm_extra={"stat_prefix": "connect"})],
        [static_cluster("tunnel", [backend.port])], admin_port))
    # Envoy's default: CONNECT is an upgrade neither the HCM nor the route enables: 403. (A
    # route's upgrade_configs would override the HCM's.)
    sock, head = raw_connect(listener_port)
    sock.close()
    assert head.startswith("HTTP/1.1 403"), head
    assert proc.stat(PREFIX + "downstream_rq_ws_on_non_ws_route") == 1
    assert backend.requests == []

    # Enabled, but only the connect_matcher route may take it: a CONNECT never matches a
    # path route, so with none left it is a 404.
    proc2, port2 = start(remora, backend.port, routes=[route(cluster="tunnel")])
    sock, head = raw_connect(port2)
    sock.close()
    assert head.startswith("HTTP/1.1 404"), head


def test_tunnels_count_against_max_connections(remora):
    """A terminated CONNECT's upstream connection takes a max_connections slot: with one open
    tunnel and a limit of 1, the next CONNECT is refused with Envoy's overflow 503 (UO); once
    the tunnel closes, a new one opens."""
    echo = Backend(echo_handler)
    try:
        cluster = static_cluster("tunnel", [echo.port], circuit_breakers={
            "thresholds": [{"max_connections": 1}]})
        proc, port = start(remora, echo.port, clusters=[cluster])
        first, head = raw_connect(port)
        assert head.startswith("HTTP/1.1 200"), head
        second, head = raw_connect(port)
        second.close()
        assert head.startswith("HTTP/1.1 503"), head
        assert "x-envoy-overloaded: true" in head.lower()
        assert proc.stat("cluster.tunnel.upstream_cx_overflow") == 1
        assert proc.stat("cluster.tunnel.circuit_breakers.default.cx_open") == 1
        first.shutdown(socket.SHUT_WR)
        while first.recv(65536):
            pass
        first.close()
        proc.wait_stat("cluster.tunnel.upstream_cx_active", lambda v: v == 0)
        proc.wait_stat("cluster.tunnel.circuit_breakers.default.cx_open", lambda v: v == 0)
        third, head = raw_connect(port)
        third.close()
        assert head.startswith("HTTP/1.1 200"), head
    finally:
        echo.close()


def test_connect_target_unreachable_is_a_503(remora):
    dead_port = free_ports(1)[0]
    proc, port = start(remora, dead_port)
    sock, head = raw_connect(port)
    sock.close()
    assert head.startswith("HTTP/1.1 503"), head
    assert proc.stat("cluster.tunnel.upstream_cx_connect_fail") == 1


def h2_connect_headers(authority):
    # RFC 9113 §8.5: :method CONNECT and :authority only.
    return [(":method", "CONNECT"), (":authority", authority)]


def stream_data(conn, stream_id):
    return b"".join(f.payload for f in conn.of_stream(stream_id) if f.type == DATA)


def test_http2_connect_streams_tunnel_side_by_side(remora):
    echo = Backend(echo_handler)
    try:
        proc, port = start(remora, echo.port, hcm_extra={"codec_type": "HTTP2"})
        with H2Conn(port) as conn:
            for sid in (1, 3):
                conn.send(headers_frame(sid, h2_connect_headers("db.internal:5432"),
                                        end_stream=False))
            for sid in (1, 3):
                resp = conn.wait_for(lambda f, s=sid: f.stream_id == s and f.type == HEADERS)
                assert resp is not None and not resp.flags & END_STREAM, conn.frames
                assert resp.payload[:1] == b"\x88"  # HPACK static index 8: ":status: 200"
            conn.send(frame(DATA, 0, 1, b"one,"))
            conn.send(frame(DATA, 0, 3, b"three"))
            conn.send(frame(DATA, END_STREAM, 1, b"done"))
            # Stream 1's END_STREAM is the echo server's EOF; it closes, and that FIN comes back
            # as END_STREAM, after every byte.
            assert conn.stream_ended(1) is not None
            assert stream_data(conn, 1) == b"one,done"
            assert not [f for f in conn.of_stream(1) if f.type == RST_STREAM]
            # Stream 3 is still open both ways.
            conn.send(frame(DATA, END_STREAM, 3, b"!"))
            assert conn.stream_ended(3) is not None
            assert stream_data(conn, 3) == b"three!"
            assert not conn.closed
        proc.wait_stat("cluster.tunnel.upstream_cx_active", lambda v: v == 0)
        assert proc.stat("cluster.tunnel.upstream_cx_total") == 2
        assert proc.stat(PREFIX + "downstream_cx_upgrades_total") == 2
    finally:
        echo.close()


def test_connect_without_connect_config_is_proxied_to_an_upstream_that_terminates_it(remora):
    # A second remora terminates; the first proxies the CONNECT to it as any other request.
    echo = Backend(echo_handler)
    try:
        inner, inner_port = start(remora, echo.port)
        outer_routes = [{"match": {"connect_matcher": {}},
                         "route": {"cluster": "inner",
                                   "upgrade_configs": [{"upgrade_type": "CONNECT"}]}}]
        outer, outer_port = start(remora, inner_port, routes=outer_routes,
                                  clusters=[static_cluster("inner", [inner_port])])
        sock, head = raw_connect(outer_port)
        with sock:
            assert head.startswith("HTTP/1.1 200"), head
            sock.sendall(b"ping through two proxies")
            sock.shutdown(socket.SHUT_WR)
            echoed = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                echoed += chunk
            assert echoed == b"ping through two proxies"
        assert outer.stat("cluster.inner.upstream_rq_200") == 1
        inner.wait_stat(PREFIX + "downstream_cx_upgrades_total", lambda v: v == 1)
    finally:
        echo.close()


def speaks_first_handler(conn):
    """Sends a greeting and ends its direction (FIN) at once, then reads the client's bytes
    until the client's FIN."""
    conn.sendall(b"hello from the server")
    conn.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return {"got": got}
        got += chunk


def test_tunnel_over_an_http2_cluster_outlives_its_response(remora):
    # client -h1 CONNECT-> front -h2 CONNECT-> inner (terminates) -tcp-> server. The server ends
    # its direction first; the front's HTTP/2 connection may take no other stream
    # (max_requests_per_connection 1), yet the tunnel's client direction must still get through.
    server = Backend(speaks_first_handler)
    try:
        inner, inner_port = start(remora, server.port, hcm_extra={"codec_type": "HTTP2"})
        h2 = {"typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3."
                         "HttpProtocolOptions",
                "common_http_protocol_options": {"max_requests_per_connection": 1},
                "explicit_http_config": {"http2_protocol_options": {}}}}}
        outer_routes = [{"match": {"connect_matcher": {}},
                         "route": {"cluster": "inner",
                                   "upgrade_configs": [{"upgrade_type": "CONNECT"}]}}]
        outer, outer_port = start(remora, inner_port, routes=outer_routes,
                                  clusters=[static_cluster("inner", [inner_port], **h2)])
        sock, head = raw_connect(outer_port)
        with sock:
            assert head.startswith("HTTP/1.1 200"), head
            got = b""
            while True:  # the server's greeting, then its FIN
                chunk = sock.recv(65536)
                if not chunk:
                    break
                got += chunk
            assert got == b"hello from the server"
            sock.sendall(b"late words")
            sock.shutdown(socket.SHUT_WR)
            (result,) = server.wait_results(1)
            assert result["got"] == b"late words"
        outer.wait_stat("cluster.inner.upstream_cx_active", lambda v: v == 0)
        assert outer.stat("cluster.inner.upstream_cx_http2_total") == 1
        assert outer.stat("cluster.inner.upstream_rq_active") == 0
    finally:
        server.close()
