"""HTTP/2 flow control bounds memory per stream (issue 4's must-show): on one client connection,
stream 1's reader stops with its window full while stream 3 moves 64 MiB, and remora's peak RSS
(VmHWM, release build) stays under 64 MiB. Stream 1 carries far more than that limit, so a codec
or router that kept reading it instead of pausing it would cross the line.

Downloads: the client never returns stream 1's window. Both upstream protocols: HTTP/1.1 (the test
backend, paused by not reading its socket) and HTTP/2 (nghttpd, paused by not returning the
upstream stream's window, which the cluster sets to 1 MiB: with Envoy's 256 MiB default an
upstream may legally push 256 MiB into a paused stream, and the test then fails).
Uploads: stream 1's upstream never reads, so remora must stop returning the client's window; the
listener's HTTP/2 windows are 1 MiB per stream for the same reason.
Either way stream 1 moves again once its reader does: paused, not lost."""

import hashlib

import pytest

import json
import threading

from conftest import BLOCK, MiB, SANITIZED, bootstrap, free_ports, pattern, pattern_digest, \
    static_cluster, wait_until
from h2_frames import DATA, END_STREAM, HEADERS, RST_STREAM, WindowedH2Conn, headers_frame, \
    request_headers
from http_harness import http_listener, route, vhost
from test_http2_upstream import Nghttpd, protocol_options

RSS_LIMIT_KIB = 64 * 1024
BULK = 64 * MiB  # stream 3's transfer
STALLED_BODY = 256 * MiB  # what stream 1 asks for: far more than the RSS limit
CLIENT_STREAM_WINDOW = MiB  # what the client lets each stream have in flight
# The upstream HTTP/2 windows remora advertises: what a paused upstream stream may still push.
UPSTREAM_H2 = {"initial_stream_window_size": MiB, "initial_connection_window_size": 16 * MiB}
# The same for what clients send to the listener.
DOWNSTREAM_H2 = dict(UPSTREAM_H2)


def assert_rss_bounded(proc):
    if SANITIZED:
        return  # ASan's shadow memory and quarantine make RSS meaningless
    hwm = proc.vm_hwm_kib()
    print(f"remora VmHWM {hwm} KiB")
    assert hwm < RSS_LIMIT_KIB, f"remora peak RSS {hwm} KiB >= {RSS_LIMIT_KIB} KiB"


def start(remora, upstream_port, cluster_extra):
    port, admin = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="b")])]}
    proc = remora(bootstrap([http_listener("h", port, rc)],
                            [static_cluster("b", [upstream_port], **cluster_extra)], admin))
    return proc, port


@pytest.fixture(params=["h1", "h2"])
def upstream(request, http_backends, tmp_path):
    """(port, cluster options, path and headers asking for n bytes, digest of n bytes)."""
    if request.param == "h1":
        backend = http_backends("source")
        yield (backend.port, {},
               lambda n: ("/bytes", [("x-backend-body-bytes", str(n))]),
               lambda n: pattern_digest(n, seed=2))
        return
    docroot = tmp_path / "htdocs"
    docroot.mkdir()
    for n in (BULK, STALLED_BODY):
        with open(docroot / f"zeros{n}", "wb") as f:
            f.truncate(n)  # sparse: nghttpd reads zeros without the disk holding them
    server = Nghttpd(docroot, tmp_path / "nghttpd.log")
    try:
        yield (server.port, protocol_options("h2", h2=UPSTREAM_H2),
               lambda n: (f"/zeros{n}", []),
               lambda n: hashlib.sha256(bytes(n)).hexdigest())
    finally:
        server.close()


def test_stalled_stream_pins_only_its_window_while_another_moves_64mib(remora, upstream):
    upstream_port, cluster_extra, ask, digest_of = upstream
    proc, port = start(remora, upstream_port, cluster_extra)
    with WindowedH2Conn(port, CLIENT_STREAM_WINDOW, stalled={1}, timeout=60) as c:
        path, extra = ask(STALLED_BODY)
        c.send(headers_frame(1, request_headers(port, path, extra=extra)))
        # Stream 1 fills its window, and then nothing more may arrive on it.
        assert c.wait_for(lambda f: c.received.get(1, 0) >= CLIENT_STREAM_WINDOW, timeout=20), \
            c.frames[-5:]
        assert c.received[1] == CLIENT_STREAM_WINDOW

        path, extra = ask(BULK)
        c.send(headers_frame(3, request_headers(port, path, extra=extra)))
        end = c.stream_ended(3, timeout=120)
        assert end is not None and end.type == DATA and end.flags & END_STREAM, c.frames[-5:]
        assert c.received[3] == BULK
        assert c.digests[3].hexdigest() == digest_of(BULK)

        # Stream 1 is parked at its window: not reset, not ended, not a byte over.
        s1 = c.of_stream(1)
        assert not any(f.type == RST_STREAM or (f.type in (HEADERS, DATA) and f.flags & END_STREAM)
                       for f in s1), s1[-3:]
        assert c.received[1] == CLIENT_STREAM_WINDOW

        assert_rss_bounded(proc)

        # Paused, not lost: window returned, stream 1 moves again.
        c.release(1, 4 * MiB)
        assert c.wait_for(lambda f: c.received[1] >= CLIENT_STREAM_WINDOW + 4 * MiB, timeout=20), \
            c.received
    # The client went away: remora lets go of the stream and its upstream.
    proc.wait_stat("http.ingress_http.downstream_cx_active", lambda v: v == 0)
    wait_until(lambda: proc.stats()["http2.streams_active"] == 0, 10, what="streams released")


def stalled_reader(go):
    """A backend handler that reads nothing until `go` is set, then reads to EOF."""
    def handler(conn):
        go.wait(60)
        while conn.recv(MiB):
            pass
    return handler


def test_stalled_upload_pins_only_its_window_while_another_sends_64mib(remora, http_backends,
                                                                        backends):
    sink = http_backends("sink")
    go = threading.Event()
    stalled = backends(stalled_reader(go))
    try:
        port, admin = free_ports(2)
        rc = {"virtual_hosts": [vhost(routes=[route({"prefix": "/stalled"}, cluster="stalled"),
                                              route(cluster="sink")])]}
        proc = remora(bootstrap(
            [http_listener("h", port, rc, hcm_extra={"http2_protocol_options": DOWNSTREAM_H2})],
            [static_cluster("stalled", [stalled.port]), static_cluster("sink", [sink.port])],
            admin))
        source = pattern(21)
        with WindowedH2Conn(port, MiB, keep_bodies=True, timeout=60) as c:
            c.upload(1, request_headers(port, "/stalled", "POST",
                                        [("content-length", str(STALLED_BODY))]),
                     STALLED_BODY, source, BLOCK)
            c.upload(3, request_headers(port, "/sink", "POST", [("content-length", str(BULK))]),
                     BULK, source, BLOCK)
            end = c.stream_ended(3, timeout=120)
            assert end is not None and end.type == DATA and end.flags & END_STREAM, c.frames[-5:]
            seen = json.loads(bytes(c.bodies[3]))
            assert seen["body_bytes"] == BULK
            assert seen["body_sha"] == pattern_digest(BULK, seed=21)
            assert_rss_bounded(proc)

            # Stream 1 is stuck with its window used up, far from done, and not reset.
            assert c.uploading(1) and c.stream_send_window[1] <= 0, (c.sent, c.stream_send_window)
            assert c.sent[1] < STALLED_BODY
            assert not any(f.type == RST_STREAM for f in c.of_stream(1))

            # Once its upstream reads, remora returns stream 1's window again.
            stuck_at = c.sent[1]
            go.set()
            assert c.wait_for(lambda f: c.sent[1] >= stuck_at + 4 * MiB, timeout=20), c.sent
    finally:
        go.set()
    proc.wait_stat("http.ingress_http.downstream_cx_active", lambda v: v == 0)
