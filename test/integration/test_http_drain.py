"""Graceful drain of HTTP connections (Envoy's drain sequence): when a listener drains
(/drain_listeners?graceful, SIGTERM) its HTTP/2 connections get a GOAWAY naming the highest stream
id at once (streams in flight and those racing with it are still served), the final GOAWAY
drain_timeout later, and close when their last stream ends; an HTTP/1 connection answers its next
response with "Connection: close" and closes after it, or closes after drain_timeout if idle.
/healthcheck/fail drains a drain_type DEFAULT listener at its next response, not a MODIFY_ONLY one.
"""

import signal
import time

from conftest import bootstrap, free_ports, static_cluster
from h2_frames import (DATA, END_STREAM, GOAWAY, HEADERS, NO_ERROR, H2Conn, headers_frame,
                       request_headers)
from http_harness import RawHttp, http_listener, request_bytes, route, vhost

PREFIX = "http.drain."
MAX_STREAM_ID = 2**31 - 1


def start(remora, backend, *args, hcm_extra=None, listener_extra=None, drain_timeout="1s"):
    listener_port, admin_port = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="b")])]}
    proc = remora(bootstrap(
        [http_listener("drain", listener_port, rc,
                       hcm_extra={"stat_prefix": "drain", "drain_timeout": drain_timeout,
                                  **(hcm_extra or {})},
                       **(listener_extra or {}))],
        [static_cluster("b", [backend.port])], admin_port), *args)
    return proc, listener_port


def goaways(conn):
    return [f for f in conn.frames if f.type == GOAWAY]


def test_http2_drain_sends_goaway_and_finishes_streams_in_flight(remora, http_backends):
    backend = http_backends("b")
    proc, port = start(remora, backend, hcm_extra={"codec_type": "HTTP2"})
    with H2Conn(port) as conn:
        conn.send(headers_frame(1, request_headers(port, "/slow",
                                                   extra=[("x-backend-delay-ms", "1500")])))
        backend.wait_requests(1)
        assert proc.post("/drain_listeners?graceful").status == 200
        notice = conn.wait_for(lambda f: f.type == GOAWAY)
        assert notice is not None, conn.frames
        assert notice.last_stream_id == MAX_STREAM_ID and notice.error_code == NO_ERROR
        # A stream that raced with the notice is still served.
        conn.send(headers_frame(3, request_headers(port, "/racing")))
        assert conn.stream_ended(3) is not None
        # The stream in flight completes: the final GOAWAY does not cut it.
        end = conn.stream_ended(1, timeout=10)
        assert end is not None and end.type in (HEADERS, DATA), conn.frames
        final = conn.wait_for(lambda f: f.type == GOAWAY and f.last_stream_id != MAX_STREAM_ID)
        assert final is not None, conn.frames
        assert final.last_stream_id == 3 and final.error_code == NO_ERROR
        assert conn.wait_closed(timeout=5)
    assert [r["path"] for r in backend.requests] == ["/slow", "/racing"]
    stats = proc.stats()
    assert stats[PREFIX + "downstream_cx_drain_close"] == 1
    assert stats[PREFIX + "downstream_rq_2xx"] == 2
    assert stats[PREFIX + "downstream_cx_destroy_active_rq"] == 0


def test_http1_drain_closes_after_the_response_in_flight(remora, http_backends):
    backend = http_backends("b")
    proc, port = start(remora, backend)
    with RawHttp(port) as busy, RawHttp(port) as idle:
        assert idle.send(request_bytes(path="/first"))
        first = idle.read_response()
        assert first.status == 200 and first.header("connection") != "close"
        assert busy.send(request_bytes(path="/slow", headers=[("x-backend-delay-ms", "1000")]))
        backend.wait_requests(2)
        drain_at = time.monotonic()
        assert proc.post("/drain_listeners?graceful").status == 200
        resp = busy.read_response()
        assert resp.status == 200
        assert resp.header("connection") == "close"
        busy.read_to_close()
        # The idle keep-alive connection is closed once drain_timeout (1 s) has passed.
        idle.read_to_close(timeout=10)
        assert time.monotonic() - drain_at >= 0.9
    assert proc.stat(PREFIX + "downstream_cx_drain_close") == 2


def test_sigterm_drains_http2_connections_then_exits(remora, http_backends):
    backend = http_backends("b")
    proc, port = start(remora, backend, "--drain-time-s", "60",
                       hcm_extra={"codec_type": "HTTP2"})
    with H2Conn(port) as conn:
        conn.send(headers_frame(1, request_headers(port, "/slow",
                                                   extra=[("x-backend-delay-ms", "1000")])))
        backend.wait_requests(1)
        started = time.monotonic()
        proc.signal(signal.SIGTERM)
        notice = conn.wait_for(lambda f: f.type == GOAWAY)
        assert notice is not None and notice.last_stream_id == MAX_STREAM_ID
        assert conn.stream_ended(1, timeout=10).type in (HEADERS, DATA)
        assert conn.wait_closed(timeout=10)
        # With its last connection gone the process exits long before --drain-time-s.
        assert proc.wait_exit(timeout=10) == 0
        assert time.monotonic() - started < 10
        assert len(goaways(conn)) == 2


def test_health_check_failure_drains_default_listeners_only(remora, http_backends):
    backend = http_backends("b")
    default, default_port = start(remora, backend)
    modify_only, modify_port = start(remora, backend,
                                     listener_extra={"drain_type": "MODIFY_ONLY"})
    for proc in (default, modify_only):
        assert proc.post("/healthcheck/fail").status == 200
    with RawHttp(default_port) as c:
        assert c.send(request_bytes(path="/a"))
        assert c.read_response().header("connection") == "close"
        c.read_to_close()
    with RawHttp(modify_port) as c:
        assert c.send(request_bytes(path="/a"))
        assert c.read_response().header("connection") != "close"
        assert c.is_open()
    assert default.stat(PREFIX + "downstream_cx_drain_close") == 1
    assert modify_only.stat(PREFIX + "downstream_cx_drain_close") == 0
    # /healthcheck/ok ends it: new connections are kept alive again.
    assert default.post("/healthcheck/ok").status == 200
    with RawHttp(default_port) as c:
        assert c.send(request_bytes(path="/b"))
        assert c.read_response().header("connection") != "close"
