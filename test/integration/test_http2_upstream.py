"""Upstream HTTP/2: clusters whose HttpProtocolOptions say http2_protocol_options (or
use_downstream_protocol_config) reach a real HTTP/2 server, nghttpd, through remora's HTTP/2
connection pool: streams multiplexed on one connection up to the server's
SETTINGS_MAX_CONCURRENT_STREAMS, more connections when that is full, max_requests_per_connection,
and every downstream × upstream combination of HTTP/1.1 and HTTP/2, trailers included."""

import hashlib
import re
import subprocess
import time

import pytest

from conftest import bootstrap, curl, free_ports, is_listening, static_cluster, wait_until
from h2_frames import DATA, RST_STREAM, H2Conn, frame, headers_frame, request_headers
from http_harness import http_listener, route, vhost

HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def protocol_options(kind="h2", h2=None, common=None, h1=None):
    """typed_extension_protocol_options: kind "h2" (explicit HTTP/2), "h1" or "downstream"."""
    opts = {"@type": "type.googleapis.com/" + HTTP_OPTIONS}
    if kind == "h2":
        opts["explicit_http_config"] = {"http2_protocol_options": h2 or {}}
    elif kind == "h1":
        opts["explicit_http_config"] = {"http_protocol_options": h1 or {}}
    else:
        opts["use_downstream_protocol_config"] = {"http_protocol_options": h1 or {},
                                                  "http2_protocol_options": h2 or {}}
    if common:
        opts["common_http_protocol_options"] = common
    return {"typed_extension_protocol_options": {HTTP_OPTIONS: opts}}


class Nghttpd:
    """nghttpd (Debian's nghttp2-server) without TLS, serving `docroot`; -v output in a file."""

    def __init__(self, docroot, log_path, *args):
        self.port = free_ports(1)[0]
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            ["nghttpd", "--no-tls", "-v", "-a", "127.0.0.1", "-d", str(docroot), *args,
             str(self.port)], stdout=self._log, stderr=subprocess.STDOUT)
        wait_until(lambda: is_listening(self.port), 10, what="nghttpd listening")

    def log(self):
        return open(self.log_path, "rb").read().decode("latin-1")

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._log.close()


@pytest.fixture
def nghttpd(tmp_path):
    made = []

    def make(*args):
        docroot = tmp_path / f"htdocs{len(made)}"
        docroot.mkdir()
        (docroot / "hello").write_bytes(b"hello from nghttpd\n")
        (docroot / "big").write_bytes(bytes(range(256)) * (4 * 1024 * 1024 // 256))
        server = Nghttpd(docroot, tmp_path / f"nghttpd{len(made)}.log", *args)
        server.docroot = docroot
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


def start(remora, clusters, hcm_extra=None):
    port, admin = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="up")])]}
    proc = remora(bootstrap([http_listener("h", port, rc, hcm_extra=hcm_extra or {})],
                            clusters, admin))
    return proc, port


def h2curl(url, *args, timeout=10):
    return curl(url, timeout=timeout, extra=["--http2-prior-knowledge", *args])


@pytest.mark.parametrize("downstream", ["h1", "h2"])
def test_request_reaches_nghttpd_over_h2(remora, nghttpd, downstream):
    server = nghttpd()
    proc, port = start(remora, [static_cluster("up", [server.port], **protocol_options("h2"))])
    get = h2curl if downstream == "h2" else curl
    for _ in range(3):
        resp = get(f"http://127.0.0.1:{port}/hello")
        assert resp is not None and resp.status == 200, resp
        assert resp.body == "hello from nghttpd\n"
    stats = proc.stats()
    assert stats["cluster.up.upstream_cx_http2_total"] == 1
    assert stats["cluster.up.upstream_cx_total"] == 1
    assert stats["cluster.up.upstream_rq_total"] == 3
    assert stats["cluster.up.upstream_rq_200"] == 3
    # nghttpd saw :authority (from Host for the HTTP/1 client) and no connection-specific field.
    log = server.log()
    assert re.search(r":authority: 127\.0\.0\.1:%d" % port, log), log[-2000:]
    assert not re.search(r"\] (connection|keep-alive|transfer-encoding):", log)


def test_streams_multiplex_on_one_connection(remora, nghttpd):
    server = nghttpd()
    proc, port = start(remora, [static_cluster("up", [server.port], **protocol_options("h2"))])
    out = subprocess.run(["h2load", "-n", "100", "-c", "4", "-m", "10",
                          f"http://127.0.0.1:{port}/hello"],
                         capture_output=True, text=True, timeout=60).stdout
    assert re.search(r"100 succeeded, 0 failed, 0 errored", out), out
    stats = proc.stats()
    assert stats["cluster.up.upstream_rq_total"] == 100
    assert stats["cluster.up.upstream_cx_total"] == 1  # 4 clients, 40 streams at once, 1 upstream


def test_more_connections_when_peer_limit_is_reached(remora, nghttpd):
    # The server takes 2 streams at a time and sends 4 MiB through a 64 KiB window: streams stay
    # open long enough for 8 concurrent ones to need 4 connections.
    server = nghttpd("-m", "2", "-w", "16")
    proc, port = start(remora, [static_cluster("up", [server.port], **protocol_options("h2"))])
    out = subprocess.run(["h2load", "-n", "16", "-c", "1", "-m", "8",
                          f"http://127.0.0.1:{port}/big"],
                         capture_output=True, text=True, timeout=60).stdout
    assert re.search(r"16 succeeded, 0 failed, 0 errored", out), out
    stats = proc.stats()
    assert stats["cluster.up.upstream_rq_total"] == 16
    assert stats["cluster.up.upstream_cx_total"] >= 2, stats
    assert stats.get("http2.rx_reset", 0) == 0
    assert stats.get("cluster.up.http2.rx_reset", 0) == 0


def test_max_requests_per_connection_upstream(remora, nghttpd):
    server = nghttpd()
    proc, port = start(remora, [static_cluster("up", [server.port], **protocol_options(
        "h2", common={"max_requests_per_connection": 2}))])
    for _ in range(5):
        resp = curl(f"http://127.0.0.1:{port}/hello")
        assert resp is not None and resp.status == 200
    stats = proc.stats()
    assert stats["cluster.up.upstream_cx_total"] == 3
    assert stats["cluster.up.upstream_cx_max_requests"] >= 2


def test_use_downstream_protocol_config(remora, nghttpd, http_backends):
    server = nghttpd()
    proc, port = start(remora, [static_cluster("up", [server.port],
                                               **protocol_options("downstream"))])
    resp = h2curl(f"http://127.0.0.1:{port}/hello")
    assert resp is not None and resp.status == 200
    assert proc.stats()["cluster.up.upstream_cx_http2_total"] == 1
    # An HTTP/1.1 client's request goes upstream in HTTP/1.1, which nghttpd does not speak.
    resp = curl(f"http://127.0.0.1:{port}/hello")
    assert resp is not None and resp.status == 503
    assert proc.stats()["cluster.up.upstream_cx_http1_total"] == 1
    # The same cluster type towards the HTTP/1.1 backend serves HTTP/1.1 clients.
    backend = http_backends("b")
    proc2, port2 = start(remora, [static_cluster("up", [backend.port],
                                                 **protocol_options("downstream"))])
    resp = curl(f"http://127.0.0.1:{port2}/x")
    assert resp is not None and resp.status == 200
    assert proc2.stats()["cluster.up.upstream_cx_http1_total"] == 1


@pytest.mark.parametrize("downstream", ["h1", "h2"])
@pytest.mark.parametrize("upstream", ["h1", "h2"])
def test_trailers_every_combination(remora, nghttpd, http_backends, downstream, upstream):
    """Response trailers from the upstream reach the client, and request trailers reach the
    upstream, for each downstream × upstream protocol."""
    hcm_extra = {"http_protocol_options": {"enable_trailers": True}}
    if upstream == "h2":
        server = nghttpd("--trailer", "x-resp-trailer: r1", "--no-content-length")
        cluster = static_cluster("up", [server.port], **protocol_options("h2"))
        path = "/hello"
    else:
        backend = http_backends("b")
        cluster = static_cluster("up", [backend.port], **protocol_options(
            "h1", h1={"enable_trailers": True}))
        path = "/t"
    proc, port = start(remora, [cluster], hcm_extra)
    url = f"http://127.0.0.1:{port}{path}"
    hdrs = [] if upstream == "h2" else ["-H", "x-backend-trailers: x-resp-trailer=r1"]
    # Response trailers.
    if downstream == "h2":
        out = subprocess.run(["nghttp", "-v", *hdrs, url], capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 0, out.stderr
        assert re.search(r"recv \(stream_id=\d+\) x-resp-trailer: r1", out.stdout), out.stdout
    else:
        out = subprocess.run(["curl", "-sS", "--raw", *hdrs, url], capture_output=True,
                             timeout=30)
        assert out.returncode == 0, out.stderr
        assert b"\r\n0\r\nx-resp-trailer: r1\r\n\r\n" in out.stdout, out.stdout[-300:]
    # Request trailers.
    if downstream == "h2":
        with H2Conn(port) as c:
            c.send(headers_frame(1, request_headers(port, path, "POST"), end_stream=False))
            c.send(frame(DATA, 0, 1, b"body"))
            c.send(headers_frame(1, [("x-req-trailer", "q1")], end_stream=True))
            end = c.stream_ended(1)
            assert end is not None and end.type != RST_STREAM
    else:
        import socket
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(f"POST {path} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
                      "4\r\nbody\r\n0\r\nx-req-trailer: q1\r\n\r\n".encode())
            got = b""
            while b"\r\n\r\n" not in got:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            assert got.startswith(b"HTTP/1.1 200"), got
    if upstream == "h2":
        wait_until(lambda: "x-req-trailer: q1" in server.log(), 5, what="trailer at nghttpd")
    else:
        wait_until(lambda: len(backend.requests) >= 2, 5, what="request at backend")
        assert backend.requests[-1]["trailers"] == {"x-req-trailer": "q1"}


def test_big_body_both_ways_over_h2_upstream(remora, nghttpd, tmp_path):
    server = nghttpd("--echo-upload")
    proc, port = start(remora, [static_cluster("up", [server.port], **protocol_options("h2"))])
    resp = subprocess.run(["curl", "-sS", "--max-time", "30", f"http://127.0.0.1:{port}/big"],
                          capture_output=True, timeout=40)
    assert resp.returncode == 0
    assert hashlib.sha256(resp.stdout).digest() == hashlib.sha256(
        (server.docroot / "big").read_bytes()).digest()
    upload = tmp_path / "up"
    upload.write_bytes(bytes(range(256)) * (8 * 1024 * 1024 // 256))
    resp = subprocess.run(["curl", "-sS", "--max-time", "30", "--http2-prior-knowledge",
                           "--data-binary", f"@{upload}", f"http://127.0.0.1:{port}/echo"],
                          capture_output=True, timeout=40)
    assert resp.returncode == 0
    assert resp.stdout == upload.read_bytes()


def test_upstream_reset_is_a_502_and_connection_survives(remora, nghttpd):
    """A stream the upstream resets ends that request only; the connection carries the next."""
    server = nghttpd()
    proc, port = start(remora, [static_cluster("up", [server.port], **protocol_options("h2"))])
    resp = curl(f"http://127.0.0.1:{port}/hello")
    assert resp is not None and resp.status == 200
    # nghttpd answers 404 for a missing file: a normal response, counted, the connection reused.
    resp = curl(f"http://127.0.0.1:{port}/missing")
    assert resp is not None and resp.status == 404
    resp = curl(f"http://127.0.0.1:{port}/hello")
    assert resp is not None and resp.status == 200
    assert proc.stats()["cluster.up.upstream_cx_total"] == 1


def test_upstream_connect_failure_is_503(remora):
    dead = free_ports(1)[0]
    proc, port = start(remora, [static_cluster("up", [dead], **protocol_options("h2"))])
    resp = curl(f"http://127.0.0.1:{port}/")
    assert resp is not None and resp.status == 503
    assert proc.stats()["cluster.up.upstream_cx_connect_fail"] == 1
