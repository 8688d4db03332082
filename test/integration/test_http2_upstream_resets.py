"""What an HTTP/2 upstream's resets and protocol errors become (Envoy's mapping): RST_STREAM
before the response is a 503 local reply naming the reset reason, REFUSED_STREAM too unless a
retry policy takes it; a reset after the response started resets the downstream stream (the
client's HTTP/2 stream gets RST_STREAM); a connection error from the upstream (a bad frame) ends
that upstream connection with GOAWAY(PROTOCOL_ERROR) and fails its streams with a 502
(reset reason: protocol error). The upstream
is a raw-frame server (h2_frames.H2Server) scripted per request."""

import struct

from conftest import bootstrap, curl, free_ports, static_cluster, wait_until
from h2_frames import (DATA, END_STREAM, GOAWAY, HEADERS, INTERNAL_ERROR, PROTOCOL_ERROR,
                       REFUSED_STREAM, RST_STREAM, H2Conn, H2Server, frame, headers_frame,
                       request_headers)
from http_harness import http_listener, route, vhost
from test_http2_upstream import protocol_options


def respond(conn, sid, body=b"ok", end=True):
    conn.send(headers_frame(sid, [(":status", "200"), ("content-type", "text/plain")],
                            end_stream=False) +
              frame(DATA, END_STREAM if end else 0, sid, body))


def rst(conn, sid, code):
    conn.send(frame(RST_STREAM, 0, sid, struct.pack(">I", code)))


class Script:
    """The upstream's behaviour, one action per request stream in arrival order; `ok` after the
    list runs out."""

    def __init__(self, *actions):
        self.actions = list(actions)

    def __call__(self, conn, sid):
        action = self.actions.pop(0) if self.actions else "ok"
        if action == "ok":
            respond(conn, sid)
        elif action == "refuse":
            rst(conn, sid, REFUSED_STREAM)
        elif action == "reset":
            rst(conn, sid, INTERNAL_ERROR)
        elif action == "reset-after-headers":
            respond(conn, sid, b"partial", end=False)
            rst(conn, sid, INTERNAL_ERROR)
        elif action == "bad-frame":
            conn.send(frame(DATA, 0, 0, b"x"))  # DATA on stream 0: a connection error


def start(remora, server, route_extra=None, hcm_extra=None):
    port, admin = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="up", **(route_extra or {}))])]}
    cluster = static_cluster("up", [server.port], **protocol_options("h2"))
    proc = remora(bootstrap([http_listener("h", port, rc, hcm_extra=hcm_extra or {})],
                            [cluster], admin))
    return proc, port


def test_upstream_rst_before_response_is_a_503_naming_the_reason(remora):
    with H2Server(Script("reset", "refuse", "ok")) as server:
        proc, port = start(remora, server)
        resp = curl(f"http://127.0.0.1:{port}/a")
        assert resp is not None and resp.status == 503, resp
        assert resp.body == ("upstream connect error or disconnect/reset before headers. "
                             "reset reason: remote reset"), resp.body
        resp = curl(f"http://127.0.0.1:{port}/b")
        assert resp is not None and resp.status == 503, resp
        assert resp.body.endswith("reset reason: remote refused stream reset"), resp.body
        # The upstream connection outlives its streams' resets.
        resp = curl(f"http://127.0.0.1:{port}/c")
        assert resp is not None and resp.status == 200 and resp.body == "ok"
        stats = proc.stats()
        assert stats["cluster.up.upstream_cx_total"] == 1
        assert stats["cluster.up.http2.rx_reset"] == 2
        assert stats["cluster.up.upstream_rq_rx_reset"] == 2
        assert stats["http.ingress_http.downstream_rq_5xx"] == 2


def test_refused_stream_is_retried_with_retry_on_refused_stream(remora):
    with H2Server(Script("refuse")) as server:
        retry = {"retry_policy": {"retry_on": "refused-stream", "num_retries": 1}}
        proc, port = start(remora, server, route_extra=retry)
        resp = curl(f"http://127.0.0.1:{port}/")
        assert resp is not None and resp.status == 200, resp
        assert proc.stats()["cluster.up.upstream_rq_retry_success"] == 1


def test_upstream_reset_after_response_started_resets_the_downstream_stream(remora):
    with H2Server(Script("reset-after-headers")) as server:
        proc, port = start(remora, server)
        with H2Conn(port) as c:
            c.send(headers_frame(1, request_headers(port, "/partial")))
            end = c.stream_ended(1)
            assert end is not None and end.type == RST_STREAM, c.frames
            assert [f.type for f in c.of_stream(1) if f.type == HEADERS] == [HEADERS]
            # The connection serves on.
            c.send(headers_frame(3, request_headers(port, "/next")))
            end = c.stream_ended(3)
            assert end is not None and end.type != RST_STREAM, c.frames
            assert not [f for f in c.frames if f.type == GOAWAY]
        stats = proc.stats()
        assert stats["cluster.up.upstream_rq_rx_reset"] == 1
        assert stats["http.ingress_http.downstream_rq_tx_reset"] == 1
        assert stats["http2.tx_reset"] == 1


def test_upstream_connection_error_ends_that_connection_only(remora):
    with H2Server(Script("bad-frame", "ok")) as server:
        proc, port = start(remora, server)
        resp = curl(f"http://127.0.0.1:{port}/bad")
        # Envoy's answer to an upstream protocol error: 502, flag UPE.
        assert resp is not None and resp.status == 502, resp
        assert resp.body.endswith("reset reason: protocol error"), resp.body
        # The server's thread reads the connection: look at what it collected.
        conn = server.conns[0]
        wait_until(lambda: conn.closed, 5, what="remora closed the upstream connection")
        goaways = [f for f in conn.frames if f.type == GOAWAY]
        assert len(goaways) == 1 and goaways[0].error_code == PROTOCOL_ERROR, conn.frames
        # A new connection takes the next request.
        resp = curl(f"http://127.0.0.1:{port}/good")
        assert resp is not None and resp.status == 200 and resp.body == "ok"
        stats = proc.stats()
        assert stats["cluster.up.http2.rx_protocol_error"] == 1
        assert stats["cluster.up.upstream_cx_total"] == 2
