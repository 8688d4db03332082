"""HTTP/2 PING keepalive (Http2ProtocolOptions.connection_keepalive), downstream and upstream: a
PING every interval (plus jitter); a peer that answers keeps its connection, one that has gone
silent loses it once the timeout passes without an ACK (Envoy's http2.keepalive_timeout). The
silent peers are raw-frame endpoints that never acknowledge a PING."""

import time

from conftest import bootstrap, curl, free_ports, static_cluster
from h2_frames import DATA, HEADERS, PING, H2Conn, H2Server, headers_frame, request_headers
from http_harness import http_listener, route, vhost

HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
KEEPALIVE = {"interval": "0.2s", "timeout": "0.3s", "interval_jitter": {"value": 10}}


def downstream(remora, http_backends):
    backend = http_backends("b")
    listener_port, admin_port = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="b")])]}
    proc = remora(bootstrap(
        [http_listener("ka", listener_port, rc, hcm_extra={
            "stat_prefix": "ka", "codec_type": "HTTP2",
            "http2_protocol_options": {"connection_keepalive": KEEPALIVE}})],
        [static_cluster("b", [backend.port])], admin_port))
    return proc, listener_port


def pings(conn):
    return [f for f in conn.frames if f.type == PING and not f.flags & 0x1]


def test_a_client_that_answers_pings_keeps_its_connection(remora, http_backends):
    proc, port = downstream(remora, http_backends)
    with H2Conn(port) as conn:
        # Several intervals pass; each PING is answered (H2Conn ACKs them).
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            conn.wait_for(lambda f: False, timeout=0.1)
        assert len(pings(conn)) >= 3, conn.frames
        assert all(len(p.payload) == 8 for p in pings(conn))
        assert not conn.closed
        conn.send(headers_frame(1, request_headers(port, "/still-here")))
        assert conn.stream_ended(1).type in (HEADERS, DATA)
    assert proc.stat("http2.keepalive_timeout") == 0


def test_a_silent_client_is_disconnected_after_the_timeout(remora, http_backends):
    proc, port = downstream(remora, http_backends)
    with H2Conn(port, answer_pings=False) as conn:
        first = conn.wait_for(lambda f: f.type == PING, timeout=2)
        assert first is not None
        sent_at = time.monotonic()
        assert conn.wait_closed(timeout=3)
        # Closed once the 0.3 s timeout passed, not before.
        assert time.monotonic() - sent_at >= 0.2
    assert proc.stat("http2.keepalive_timeout") == 1
    proc.wait_stat("http.ka.downstream_cx_active", lambda v: v == 0)


def test_a_silent_upstream_is_disconnected_and_its_stream_fails(remora):
    # Completes the SETTINGS exchange, then answers nothing: no PING ACK, no response.
    server = H2Server(answer_pings=False)
    try:
        listener_port, admin_port = free_ports(2)
        rc = {"virtual_hosts": [vhost(routes=[route(cluster="up", timeout="10s")])]}
        cluster = static_cluster("up", [server.port], typed_extension_protocol_options={
            HTTP_OPTIONS: {"@type": "type.googleapis.com/" + HTTP_OPTIONS,
                           "explicit_http_config": {"http2_protocol_options": {
                               "connection_keepalive": KEEPALIVE}}}})
        proc = remora(bootstrap([http_listener("ka", listener_port, rc,
                                               hcm_extra={"stat_prefix": "ka"})],
                                [cluster], admin_port))
        started = time.monotonic()
        resp = curl(f"http://127.0.0.1:{listener_port}/", timeout=8)
        elapsed = time.monotonic() - started
        # The upstream never answers: the keepalive timeout ends the connection, and with it the
        # request, long before the route timeout.
        assert resp is not None and resp.status == 503, resp
        assert "reset reason: connection termination" in resp.body, resp.body
        assert elapsed < 3, elapsed
        assert server.conns and len(pings(server.conns[0])) >= 1
        assert proc.stat("cluster.up.http2.keepalive_timeout") == 1
        proc.wait_stat("cluster.up.upstream_cx_active", lambda v: v == 0)
    finally:
        server.close()
