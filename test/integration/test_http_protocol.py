"""HTTP/1.1 protocol behaviour through remora, end to end: pipelining, 100-continue, bodiless
responses, keep-alive and Connection: close on both sides, chunked bodies and trailers, the
connection manager's header mutations (XFF, x-request-id, server, path normalization), its
timeouts and connection limits, the upstream keep-alive race, and downstream disconnects."""

import hashlib
import json
import random
import re
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import bootstrap, free_ports, static_cluster, wait_until
from http_harness import (RawHttp, RawRequestReader, http_listener, raw_response, request_bytes,
                          route, single_route_proxy, vhost)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
FILE_LOG_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"


def file_log(path, fmt):
    return [{"name": "envoy.access_loggers.file", "typed_config": {
        "@type": FILE_LOG_TYPE, "path": str(path),
        "log_format": {"text_format_source": {"inline_string": fmt}}}}]


def log_lines(path, n, timeout=5.0):
    """The first n lines of an access log (the file logger flushes about once a second)."""
    def ready():
        if not path.exists():
            return None
        lines = path.read_text().splitlines()
        return lines if len(lines) >= n else None
    return wait_until(ready, timeout, what=f"{n} access log line(s)")


def get(conn, path="/", headers=(), method="GET", body=b""):
    conn.send(request_bytes(method=method, path=path, headers=headers, body=body))
    return conn.read_response(method=method)


def seen(resp):
    """What the harness backend saw, from its JSON answer."""
    return json.loads(resp.body)


# --------------------------------------------------------------------------------------------
# Framing and persistence


def test_pipelined_requests_answered_in_order(remora, http_backends):
    backend = http_backends("pipe")
    proc, port = single_route_proxy(remora, backend)
    # The first requests take longest upstream: answers must still come back in request order.
    reqs = [
        request_bytes(path="/p0", headers=[("x-backend-delay-ms", "300")]),
        request_bytes(method="POST", path="/p1", body=b"x" * 1000,
                      headers=[("x-backend-delay-ms", "200")]),
        request_bytes(method="HEAD", path="/p2"),
        request_bytes(path="/p3", headers=[("x-backend-status", "204")]),
        b"GET /p4 HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        request_bytes(path="/p5"),
    ]
    with RawHttp(port) as c:
        c.send(b"".join(reqs))
        methods = ["GET", "POST", "HEAD", "GET", "GET", "GET"]
        resps = [c.read_response(method=m) for m in methods]
        assert c.is_open()
    assert [r.status for r in resps] == [200, 200, 200, 204, 200, 200], resps
    assert seen(resps[0])["path"] == "/p0"
    assert seen(resps[1])["path"] == "/p1" and seen(resps[1])["body_bytes"] == 1000
    assert resps[2].body == b"" and int(resps[2].header("content-length")) > 0
    assert resps[3].body == b""
    assert seen(resps[4])["path"] == "/p4" and seen(resps[4])["body_bytes"] == 5
    assert seen(resps[5])["path"] == "/p5"
    assert [r["path"] for r in backend.requests] == ["/p0", "/p1", "/p2", "/p3", "/p4", "/p5"]
    assert proc.stat("http.ingress_http.downstream_cx_total") == 1


def test_many_pipelined_requests_past_the_buffer_limit(remora, http_backends):
    """More pipelined bytes than the connection's 1 MiB buffer: remora stops reading until it
    catches up, and every request is answered once, in order."""
    backend = http_backends("manypipe")
    proc, port = single_route_proxy(remora, backend)
    n = 200
    filler = "f" * 8000  # ~1.6 MB of request heads in all
    with RawHttp(port, timeout=60) as c:
        sender = threading.Thread(target=c.send, args=(b"".join(
            request_bytes(path=f"/{i}", headers=[("x-filler", filler)]) for i in range(n)),))
        sender.start()
        paths = [seen(c.read_response())["path"] for _ in range(n)]
        sender.join(30)
    assert paths == [f"/{i}" for i in range(n)]
    assert len(backend.requests) == n


def test_random_pipelined_mix_arrives_byte_exact(remora, http_backends):
    """A seeded random mix of requests (methods, Content-Length and chunked bodies of odd sizes
    and chunkings, trailers), pipelined and written in random-sized pieces so that every framing
    element gets split across reads: each body reaches the backend byte-exact, in order, and
    each answer comes back to its request."""
    rng = random.Random(20261124)
    backend = http_backends("mix")
    proc, port = single_route_proxy(remora, backend)
    wire, expected = [], []
    for i in range(60):
        method = rng.choice(["GET", "POST", "PUT", "HEAD", "DELETE"])
        body = rng.randbytes(rng.choice([0, 1, 2, 17, 4096, 65537, 150001]))
        head = f"{method} /m{i} HTTP/1.1\r\nHost: test\r\nx-i: {i}\r\n"
        if body and rng.random() < 0.5:
            parts, pos = [], 0
            while pos < len(body):
                n = rng.choice([1, 3, 100, 8192, 70000])
                chunk = body[pos:pos + n]
                parts.append(b"%x" % len(chunk) + rng.choice([b"", b";ext=1"]) + b"\r\n" + chunk
                             + b"\r\n")
                pos += n
            trailer = rng.choice([b"", b"x-t: 1\r\n"])
            data = (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + b"".join(parts) + \
                b"0\r\n" + trailer + b"\r\n"
        else:
            data = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        wire.append(data)
        expected.append((method, f"/m{i}", len(body), hashlib.sha256(body).hexdigest()))
    blob = b"".join(wire)
    with RawHttp(port, timeout=60) as c:
        def sender():
            pos = 0
            while pos < len(blob):
                n = rng.choice([1, 2, 7, 64, 1000, 65536])
                c.sock.sendall(blob[pos:pos + n])
                pos += n
        t = threading.Thread(target=sender)
        t.start()
        resps = [c.read_response(method=m) for m, _, _, _ in expected]
        t.join(60)
    for (method, path, size, sha), resp in zip(expected, resps):
        assert resp.status == 200, (path, resp)
        if method != "HEAD":
            got = seen(resp)
            assert (got["method"], got["path"], got["body_bytes"], got["body_sha"]) == (
                method, path, size, sha)
    assert [(r["method"], r["path"], r["body_bytes"], r["body_sha"]) for r in backend.requests] == \
        expected


def test_random_upstream_framings_reach_the_client_byte_exact(remora, backends):
    """The upstream answers with seeded random framings (Content-Length, chunked with odd chunk
    sizes and extensions, trailers) written in random pieces: every body reaches the client
    byte-exact on one keep-alive connection each way."""
    rng = random.Random(7)
    plan = []
    for i in range(50):
        body = rng.randbytes(rng.choice([0, 1, 5, 1000, 65535, 65536, 200003]))
        chunked = bool(body) and rng.random() < 0.6
        plan.append((body, chunked))

    def handler(conn):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = RawRequestReader(conn)
        local = random.Random(8)
        while (req := reader.read_request()) is not None:
            body, chunked = plan[int(req["path"][1:])]
            if chunked:
                out, pos = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"], 0
                while pos < len(body):
                    n = local.choice([1, 9, 4096, 70000])
                    piece = body[pos:pos + n]
                    out.append(b"%X" % len(piece) + local.choice([b"", b" ;a=b"]) + b"\r\n" + piece
                               + b"\r\n")
                    pos += n
                out.append(b"0\r\n" + local.choice([b"", b"x-t: y\r\n"]) + b"\r\n")
                data = b"".join(out)
            else:
                data = raw_response(body=body)
            pos = 0
            while pos < len(data):
                n = local.choice([1, 13, 1500, 65536])
                conn.sendall(data[pos:pos + n])
                pos += n
    backend = backends(handler)
    proc, port = single_route_proxy(remora, backend)
    with RawHttp(port, timeout=60) as c:
        for i, (body, _) in enumerate(plan):
            resp = get(c, f"/{i}")
            assert resp.status == 200 and resp.body == body, (i, len(resp.body), len(body))
    assert backend.accepted == 1
    assert proc.stat("http.ingress_http.downstream_cx_total") == 1


def test_wrk_keep_alive_load(remora, http_backends):
    """wrk, 16 keep-alive connections for two seconds: no errors, every request counted."""
    backend = http_backends("wrk")
    proc, port = single_route_proxy(remora, backend)
    out = subprocess.run(["wrk", "-t", "2", "-c", "16", "-d", "2s", "--latency",
                          f"http://127.0.0.1:{port}/load"], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    m = re.search(r"(\d+) requests in", out.stdout)
    assert m, out.stdout
    total = int(m.group(1))
    assert total > 100, out.stdout
    assert "Socket errors" not in out.stdout and "Non-2xx" not in out.stdout, out.stdout
    # wrk may leave requests in flight when it stops; remora answered at least what wrk counted.
    stats = proc.stats()
    assert stats["http.ingress_http.downstream_rq_2xx"] >= total
    assert stats["http.ingress_http.downstream_rq_5xx"] == 0
    assert stats["http.ingress_http.downstream_cx_protocol_error"] == 0
    # Keep-alive both ways: a handful of connections, not one per request.
    # (wrk opens one extra connection first, to check the address.)
    assert stats["http.ingress_http.downstream_cx_total"] <= 17
    assert stats["cluster.wrk.upstream_cx_total"] <= 16


def test_expect_100_continue_with_curl(remora, http_backends, tmp_path):
    backend = http_backends("expect")
    proc, port = single_route_proxy(remora, backend)
    payload = tmp_path / "payload"
    data = bytes(range(256)) * (8 * 1024)  # 2 MiB: curl asks for 100-continue on large bodies
    payload.write_bytes(data)
    out = subprocess.run(["curl", "-sS", "-v", "--max-time", "20", "--data-binary", f"@{payload}",
                          "-H", "Expect: 100-continue", f"http://127.0.0.1:{port}/upload"],
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    stderr = out.stderr.decode()
    assert "< HTTP/1.1 100 Continue" in stderr, stderr
    assert "< HTTP/1.1 200 OK" in stderr, stderr
    answer = json.loads(out.stdout)
    assert answer["body_bytes"] == len(data)
    assert answer["body_sha"] == hashlib.sha256(data).hexdigest()
    # Envoy answers the expectation itself and does not pass it on.
    assert "expect" not in answer["headers"]


def test_expect_100_continue_raw(remora, http_backends):
    backend = http_backends("expect_raw")
    proc, port = single_route_proxy(remora, backend)
    with RawHttp(port) as c:
        c.send(b"POST /e HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        interim = c.read_response(keep_1xx=True)
        assert interim.status == 100, interim
        assert backend.requests == []  # the body has not been sent yet
        c.send(b"hello")
        resp = c.read_response()
    assert resp.status == 200 and seen(resp)["body_bytes"] == 5


def test_upstream_informational_responses_are_not_forwarded(remora, backends):
    """Remora answers Expect itself (case-insensitively) and, like Envoy without
    proxy_100_continue, drops the upstream's own 1xx: the client sees exactly one 100."""
    def handler(conn):
        reader = RawRequestReader(conn)
        while (req := reader.read_request()) is not None:
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n"
                         + raw_response(body=req["body"]))
    backend = backends(handler)
    proc, port = single_route_proxy(remora, backend)
    with RawHttp(port) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n")
        first = c.read_response(keep_1xx=True)
        assert first.status == 100, first
        c.send(b"abc")
        final = c.read_response(keep_1xx=True)
        assert final.status == 200 and final.body == b"abc", final
        assert get(c).status == 200


def test_close_delimited_upstream_response(remora, backends):
    """An upstream body that ends with its connection (no length, no chunking) reaches the
    client chunked, complete, on a connection that stays open."""
    def handler(conn):
        RawRequestReader(conn).read_head()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"z" * 100000)
    backend = backends(handler)
    proc, port = single_route_proxy(remora, backend)
    with RawHttp(port) as c:
        resp = get(c)
        assert resp.status == 200 and resp.body == b"z" * 100000, resp
        assert resp.header("transfer-encoding") == "chunked"
        assert get(c).body == b"z" * 100000
    assert backend.accepted == 2


def test_head_204_304_are_bodiless(remora, http_backends):
    """The upstream announces Content-Length on HEAD, 204 and 304 but sends no body: remora must
    not wait for one, must not send one, and both connections stay in sync for the next request."""
    backend = http_backends("bodiless")
    proc, port = single_route_proxy(remora, backend)
    with RawHttp(port) as c:
        head = get(c, "/h", method="HEAD", headers=[("x-backend-body-bytes", "12345")])
        assert head.status == 200 and head.header("content-length") == "12345", head
        no_content = get(c, "/n", headers=[("x-backend-status", "204")])
        assert no_content.status == 204, no_content
        # RFC 9110 §8.6: a 204 carries no Content-Length.
        assert no_content.header("content-length") is None, no_content
        assert no_content.header("transfer-encoding") is None, no_content
        not_modified = get(c, "/m", headers=[("x-backend-status", "304")])
        assert not_modified.status == 304 and not_modified.body == b"", not_modified
        last = get(c, "/after")
        assert last.status == 200 and seen(last)["path"] == "/after"
    stats = proc.stats()
    # The 204 announced a length: answered, but that upstream connection is not trusted again.
    assert stats["cluster.bodiless.upstream_cx_total"] == 2
    assert stats["http.ingress_http.downstream_cx_total"] == 1


def test_raw_upstream_bodiless_responses_keep_the_connection_in_sync(remora, backends):
    """A scripted upstream answers HEAD with Content-Length and no body, a 204 with
    'Content-Length: 0', and a 304: the one pooled connection carries all of them."""
    served = []

    def handler(conn):
        reader = RawRequestReader(conn)
        while (req := reader.read_request()) is not None:
            served.append(req["path"])
            if req["path"] == "/head":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n")
            elif req["path"] == "/204":
                conn.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            elif req["path"] == "/304":
                conn.sendall(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n")
            else:
                conn.sendall(raw_response(body=b"done"))
    backend = backends(handler)
    proc, port = single_route_proxy(remora, backend)
    with RawHttp(port) as c:
        assert get(c, "/head", method="HEAD").header("content-length") == "999"
        r204 = get(c, "/204")
        assert r204.status == 204 and r204.header("content-length") is None
        r304 = get(c, "/304")
        assert r304.status == 304 and r304.header("content-length") == "50" and r304.body == b""
        assert get(c, "/x").body == b"done"
    assert served == ["/head", "/204", "/304", "/x"]
    assert backend.accepted == 1


def test_keep_alive_reuses_both_connections(remora, http_backends):
    backend = http_backends("ka")
    proc, port = single_route_proxy(remora, backend)
    with RawHttp(port) as c:
        for i in range(5):
            assert get(c, f"/{i}").status == 200
    stats = proc.stats()
    assert stats["http.ingress_http.downstream_cx_total"] == 1
    assert stats["cluster.ka.upstream_cx_total"] == 1
    assert stats["http.ingress_http.downstream_rq_2xx"] == 5


def test_hop_by_hop_headers_are_stripped_both_ways(remora, backends):
    """Connection, the names it nominates, Keep-Alive, Proxy-Connection, Transfer-Encoding and
    Upgrade (without an upgrade) end at remora on requests and responses; TE survives on a
    request only as "trailers"; everything else crosses, in order."""
    seen_heads = []

    def handler(conn):
        reader = RawRequestReader(conn)
        while (head := reader.read_head()) is not None:
            seen_heads.append(head[2])
            conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: X-Resp-Hop, keep-alive\r\n"
                         b"X-Resp-Hop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: x\r\n"
                         b"Upgrade: h2c\r\nTE: trailers\r\nX-Resp-Kept: 2\r\n"
                         b"Content-Length: 2\r\n\r\nok")

    backend = backends(handler)
    proc, port = single_route_proxy(remora, backend)
    hop_names = {"connection", "keep-alive", "proxy-connection", "upgrade", "transfer-encoding"}
    with RawHttp(port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: test\r\nX-A: 1\r\nConnection: X-Nominated, Keep-Alive\r\n"
               b"X-Nominated: gone\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n"
               b"Upgrade: h2c\r\nTE: trailers, deflate\r\nX-B: 2\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 200 and resp.body == b"ok", resp
        names = [k for k, _ in resp.headers]
        assert not hop_names & set(names) - {"connection"}, resp.headers
        assert resp.header("connection") in (None, "keep-alive"), resp.headers
        assert "x-resp-hop" not in names and "te" not in names, resp.headers
        assert resp.header("x-resp-kept") == "2"
        # A request without any hop-by-hop header crosses untouched.
        c.send(b"GET / HTTP/1.1\r\nHost: test\r\nX-C: 3\r\n\r\n")
        assert c.read_response().status == 200
    first, second = seen_heads
    names = [k for k, _ in first]
    assert not hop_names & set(names), first
    assert "x-nominated" not in names, first
    assert dict(first)["te"] == "trailers", first
    assert names.index("x-a") < names.index("x-b"), first
    assert names.index("te") > names.index("x-b"), first  # re-added after the other headers
    assert dict(second)["x-c"] == "3" and "te" not in dict(second), second


def test_client_connection_close(remora, http_backends):
    backend = http_backends("cc")
    proc, port = single_route_proxy(remora, backend)
    with RawHttp(port) as c:
        c.send(request_bytes(headers=[("Connection", "close")]) + request_bytes(path="/never"))
        resp = c.read_response()
        assert resp.status == 200 and resp.header("connection") == "close", resp
        assert c.read_to_close() == b""
    assert "connection" not in seen(resp)["headers"]  # hop by hop: not forwarded
    # The upstream connection is not the client's to close: the next client reuses it.
    with RawHttp(port) as c:
        assert get(c).status == 200
    assert [r["path"] for r in backend.requests] == ["/", "/"]
    assert proc.stat("cluster.cc.upstream_cx_total") == 1


def test_upstream_connection_close(remora, http_backends):
    backend = http_backends("uc")
    proc, port = single_route_proxy(remora, backend)
    with RawHttp(port) as c:
        first = get(c, "/1", headers=[("x-backend-close", "1")])
        # Hop by hop: the upstream's close does not close the client's connection.
        assert first.status == 200 and first.header("connection") is None, first
        assert c.is_open()
        assert get(c, "/2").status == 200
    stats = proc.stats()
    assert stats["cluster.uc.upstream_cx_total"] == 2
    assert stats["http.ingress_http.downstream_cx_total"] == 1


def test_early_upstream_response_to_an_upload(remora, backends):
    """The upstream refuses an upload before reading it (413, then closes): the client gets the
    413, not a 503, and the connection closes since the request body was never read."""
    def handler(conn):
        RawRequestReader(conn).read_head()
        conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\nConnection: close"
                     b"\r\n\r\nnope")
        # Reset rather than close: remora's next write of the body fails, and the 413 it has
        # not read yet must still reach the client.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    backend = backends(handler)
    proc, port = single_route_proxy(remora, backend)
    with RawHttp(port) as c:
        c.send(b"POST /big HTTP/1.1\r\nHost: test\r\nContent-Length: 20000000\r\n\r\n")
        for _ in range(20):
            if not c.send(b"x" * 65536):
                break
        resp = c.read_response()
        assert resp.status == 413 and resp.body == b"nope", resp
        assert resp.header("connection") == "close"
        c.read_to_close()
    assert proc.stat("http.ingress_http.downstream_rq_4xx") == 1


def trailer_backend(served):
    """Answers every request with a chunked body and a trailer; records what it received."""
    def handler(conn):
        reader = RawRequestReader(conn)
        while (req := reader.read_request()) is not None:
            served.append(req)
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"6\r\nchunk1\r\n6\r\nchunk2\r\n0\r\nx-resp-trailer: rt\r\n\r\n")
    return handler


@pytest.mark.parametrize("enable", [True, False], ids=["enable_trailers", "default"])
def test_chunked_bodies_and_trailers(remora, backends, enable):
    served = []
    backend = backends(trailer_backend(served))
    proto = {"http_protocol_options": {"enable_trailers": True}} if enable else {}
    cluster_extra = {"typed_extension_protocol_options": {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http_protocol_options": {"enable_trailers": True}}}}} \
        if enable else None
    proc, port = single_route_proxy(remora, backend, hcm_extra=proto, cluster_extra=cluster_extra)
    with RawHttp(port) as c:
        c.send(b"POST /t HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"3\r\nabc\r\n4\r\ndefg\r\n0\r\nx-req-trailer: qt\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 200 and resp.body == b"chunk1chunk2", resp
        assert resp.header("transfer-encoding") == "chunked"
        # The connection is still in sync.
        assert get(c, "/next").status == 200
    req = served[0]
    assert req["chunked"] and req["body"] == b"abcdefg"
    if enable:
        assert req["trailers"] == {"x-req-trailer": "qt"}
        assert dict(resp.trailers) == {"x-resp-trailer": "rt"}
    else:
        # Envoy's HTTP/1 codec drops trailers unless enable_trailers is set.
        assert req["trailers"] == {}
        assert resp.trailers == []


BAD_UPSTREAM = [
    ("bad_status_line", b"HTTP/1.1 OK\r\n\r\n"),
    ("garbage", b"\x00\x01 nonsense\r\n\r\n"),
    ("cl_and_te", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
    ("two_content_lengths", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
    ("nul_in_header", b"HTTP/1.1 200 OK\r\nX-A: b\x00\r\nContent-Length: 0\r\n\r\n"),
    ("chunked_204", b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n"),
]


@pytest.mark.parametrize("answer", [c[1] for c in BAD_UPSTREAM], ids=[c[0] for c in BAD_UPSTREAM])
def test_malformed_upstream_response_is_502_upe(remora, backends, tmp_path, answer):
    def handler(conn):
        reader = RawRequestReader(conn)
        req = reader.read_request()
        conn.sendall(raw_response(body=b"fine") if req["path"] == "/good" else answer)
        while reader.read_request() is not None:  # later requests on this connection
            conn.sendall(raw_response(body=b"fine"))
    backend = backends(handler)
    log = tmp_path / "access.log"
    proc, port = single_route_proxy(remora, backend, hcm_extra={"access_log": file_log(
        log, "%RESPONSE_CODE% %RESPONSE_FLAGS%\n")})
    with RawHttp(port) as c:
        resp = get(c, "/bad")
        # Envoy answers an upstream protocol error with 502 (return_502_for_upstream_protocol_errors).
        assert resp.status == 502, resp
        assert resp.body == (b"upstream connect error or disconnect/reset before headers. "
                             b"reset reason: protocol error"), resp
        # The client's connection is unharmed, and the bad upstream connection is not reused.
        assert get(c, "/good").body == b"fine"
    assert log_lines(log, 2) == ["502 UPE", "200 -"]
    assert backend.accepted == 2


def test_malformed_upstream_body_after_headers_resets_the_client(remora, backends):
    """A chunked body that goes bad after the head was forwarded: too late for a 503, so the
    client's connection is closed and it never sees a complete response."""
    def handler(conn):
        reader = RawRequestReader(conn)
        while (req := reader.read_request()) is not None:
            if req["path"] == "/good":
                conn.sendall(raw_response(body=b"fine"))
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"4\r\nabcd\r\nzz\r\n")
    backend = backends(handler)
    proc, port = single_route_proxy(remora, backend)
    with RawHttp(port) as c:
        c.send(request_bytes())
        received = c.read_to_close()
    assert b"503" not in received and not received.endswith(b"0\r\n\r\n"), received
    with RawHttp(port) as c:
        assert get(c, "/good").body == b"fine"
    assert proc.proc.poll() is None


# --------------------------------------------------------------------------------------------
# Header mutations


XFF_CASES = [
    # (id, use_remote_address, xff_num_trusted_hops, request XFF, upstream XFF, internal,
    #  external address, trusted client address) — after Envoy's x-forwarded-for examples, with
    # the loopback client standing in for the downstream peer.
    ("edge_no_xff", True, 0, None, "127.0.0.1", True, None, "127.0.0.1"),
    ("edge_with_xff", True, 0, "203.0.113.128, 203.0.113.1",
     "203.0.113.128, 203.0.113.1,127.0.0.1", False, "127.0.0.1", "127.0.0.1"),
    ("edge_two_trusted_hops", True, 2, "203.0.113.128, 203.0.113.10, 203.0.113.1",
     "203.0.113.128, 203.0.113.10, 203.0.113.1,127.0.0.1", False, "203.0.113.10", "203.0.113.10"),
    ("internal_single_internal_xff", False, 0, "10.0.0.7", "10.0.0.7", True, None, "10.0.0.7"),
    ("internal_no_xff", False, 0, None, None, False, None, "127.0.0.1"),
    ("internal_last_xff", False, 0, "203.0.113.128, 192.0.2.5", "203.0.113.128, 192.0.2.5", False,
     None, "192.0.2.5"),
    ("internal_two_trusted_hops", False, 2, "203.0.113.128, 203.0.113.10, 203.0.113.1, 192.0.2.5",
     "203.0.113.128, 203.0.113.10, 203.0.113.1, 192.0.2.5", False, None, "203.0.113.10"),
]


@pytest.mark.parametrize("remote,hops,xff,up_xff,internal,external,client",
                         [c[1:] for c in XFF_CASES], ids=[c[0] for c in XFF_CASES])
def test_xff_and_internal_request(remora, http_backends, tmp_path, remote, hops, xff, up_xff,
                                  internal, external, client):
    backend = http_backends("xff")
    log = tmp_path / "access.log"
    proc, port = single_route_proxy(remora, backend, hcm_extra={
        "use_remote_address": remote, "xff_num_trusted_hops": hops,
        "access_log": file_log(log, "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%\n")})
    headers = [("x-envoy-internal", "true"), ("x-request-id", "caller-chosen-id"),
               ("x-envoy-downstream-service-cluster", "spoofed"), ("x-forwarded-proto", "https")]
    if xff is not None:
        headers.append(("X-Forwarded-For", xff))
    with RawHttp(port) as c:
        got = seen(get(c, headers=headers))["headers"]
    assert got.get("x-forwarded-for") == up_xff
    assert got.get("x-envoy-internal") == ("true" if internal else None)
    assert got.get("x-envoy-external-address") == external
    edge = remote and not internal
    # Edge requests from outside: x-request-id regenerated, x-envoy-* control headers dropped.
    if edge:
        assert UUID_RE.match(got["x-request-id"]), got
        assert "x-envoy-downstream-service-cluster" not in got
    else:
        assert got["x-request-id"] == "caller-chosen-id"
        assert got["x-envoy-downstream-service-cluster"] == "spoofed"
    # At the edge x-forwarded-proto is trusted from trusted hops only; behind another proxy it is
    # kept (Envoy's mutateRequestHeaders).
    assert got["x-forwarded-proto"] == ("http" if remote and not hops else "https")
    assert log_lines(log, 1) == [client]


# Envoy's cleanInternalHeaders: which x-envoy-* request headers a request may carry upstream.
# (request kind, use_remote_address, request XFF)
SANITIZE_CASES = [
    ("edge", True, "203.0.113.9"),         # an outside client at the edge
    ("external", False, None),             # behind another proxy, not shown to be internal
    ("internal", False, "10.0.0.7"),       # one internal address in XFF
]
EDGE_ONLY = "x-envoy-downstream-service-node"     # stripped at the edge only
ALWAYS = ("x-envoy-force-trace", "x-envoy-ip-tags")  # stripped from any external request
NOT_LISTED = ("x-envoy-original-path", "x-envoy-custom")  # never Envoy's business to strip


@pytest.mark.parametrize("kind,remote,xff", SANITIZE_CASES, ids=[c[0] for c in SANITIZE_CASES])
def test_internal_only_headers_stripped_from_external_requests(remora, http_backends, kind,
                                                               remote, xff):
    backend = http_backends("clean")
    proc, port = single_route_proxy(remora, backend, hcm_extra={"use_remote_address": remote})
    headers = [(name, "1") for name in (EDGE_ONLY,) + ALWAYS + NOT_LISTED]
    if xff is not None:
        headers.append(("x-forwarded-for", xff))
    with RawHttp(port) as c:
        got = seen(get(c, headers=headers))["headers"]
    for name in NOT_LISTED:
        assert got.get(name) == "1", (name, got)
    for name in ALWAYS:
        assert (name in got) == (kind == "internal"), (name, got)
    assert (EDGE_ONLY in got) == (kind != "edge"), got


def test_retry_header_honoured_only_from_internal_requests(remora, http_backends):
    """x-envoy-retry-on steers the router only when the request is internal: from anyone else
    it is removed before the router sees it (Envoy's cleanInternalHeaders)."""
    backend = http_backends("b1")
    proc, port = single_route_proxy(remora, backend)
    failing = [("x-backend-status", "503"), ("x-backend-fail-times", "1"),
               ("x-envoy-retry-on", "5xx")]
    with RawHttp(port) as c:
        assert get(c, headers=failing + [("x-backend-fail-key", "ext")]).status == 503
        assert get(c, headers=failing + [("x-backend-fail-key", "int"),
                                         ("x-forwarded-for", "10.0.0.7")]).status == 200
    assert backend.fail_counts == {"ext": 1, "int": 2}
    assert proc.stats()["cluster.b1.upstream_rq_retry"] == 1


def test_request_id_generation(remora, http_backends):
    backend = http_backends("rid")
    proc, port = single_route_proxy(remora, backend)
    with RawHttp(port) as c:
        ids = {seen(get(c))["headers"]["x-request-id"] for _ in range(3)}
        assert len(ids) == 3 and all(UUID_RE.match(i) for i in ids), ids
        # An internal request's id is kept.
        assert seen(get(c, headers=[("x-request-id", "abc")]))["headers"]["x-request-id"] == "abc"


def test_generate_request_id_false(remora, http_backends):
    backend = http_backends("norid")
    proc, port = single_route_proxy(remora, backend, hcm_extra={"generate_request_id": False})
    with RawHttp(port) as c:
        assert "x-request-id" not in seen(get(c))["headers"]
        assert seen(get(c, headers=[("x-request-id", "abc")]))["headers"]["x-request-id"] == "abc"


@pytest.mark.parametrize("name", [None, "remora-edge"])
def test_server_name(remora, http_backends, name):
    backend = http_backends("srv")
    proc, port = single_route_proxy(remora, backend,
                                    hcm_extra={"server_name": name} if name else None)
    with RawHttp(port) as c:
        resp = get(c)
        # The upstream's own Server header is overwritten; local replies carry it too.
        assert resp.header_all("server") == [name or "envoy"], resp
        assert re.match(r"^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$", resp.header("date")), resp
        c.send(b"GET / HTTP/1.1\r\nHost: test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
        bad = c.read_response()
        assert bad.status == 400 and bad.header("server") == (name or "envoy"), bad


PATH_CASES = [
    # (normalize_path, merge_slashes, sent, upstream)
    (False, False, "/a/../b//c/./d?x=/../y", "/a/../b//c/./d?x=/../y"),
    (True, False, "/a/../b//c/./d?x=/../y", "/b//c/d?x=/../y"),
    (False, True, "/a/../b//c/./d?x=//y", "/a/../b/c/./d?x=//y"),
    (True, True, "/a/../b//c/./d?x=//y", "/b/c/d?x=//y"),
    (True, False, "/%61%2e%2E/x/%2F", "/a../x/%2F"),
    (True, False, "/../../etc", "/etc"),
    # Fragments never reach routing or the upstream (Envoy strips them).
    (False, False, "/a/b#/../frag", "/a/b"),
    (True, True, "/a//b?q=1#x", "/a/b?q=1"),
]


@pytest.mark.parametrize("normalize,merge,sent,upstream", PATH_CASES)
def test_path_normalization(remora, http_backends, normalize, merge, sent, upstream):
    backend = http_backends("paths")
    proc, port = single_route_proxy(remora, backend, hcm_extra={
        "normalize_path": normalize, "merge_slashes": merge})
    with RawHttp(port) as c:
        assert seen(get(c, sent))["path"] == upstream


# --------------------------------------------------------------------------------------------
# Timeouts and connection limits


def test_stream_idle_timeout(remora, http_backends, tmp_path):
    backend = http_backends("sit")
    log = tmp_path / "access.log"
    proc, port = single_route_proxy(remora, backend, hcm_extra={
        "stream_idle_timeout": "0.3s",
        "access_log": file_log(log, "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n")})
    with RawHttp(port) as c:
        started = time.monotonic()
        resp = get(c, headers=[("x-backend-delay-ms", "1500")])
        # The request was complete: Envoy answers 504 (408 while the request is still arriving).
        assert resp.status == 504 and resp.body == b"stream timeout", resp
        assert 0.25 < time.monotonic() - started < 1.4
    assert proc.stat("http.ingress_http.downstream_rq_idle_timeout") == 1
    assert log_lines(log, 1) == ["504 SI stream_idle_timeout"]
    # A request body that stops arriving: 408, and the connection closes.
    with RawHttp(port) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nab")
        resp = c.read_response()
        assert resp.status == 408 and resp.body == b"stream timeout", resp
        c.read_to_close()
    # Activity keeps the stream alive: a body streamed slower than the total but faster than
    # the idle timeout per chunk is fine.
    with RawHttp(port) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 4\r\n\r\n")
        for piece in (b"a", b"b", b"c", b"d"):
            time.sleep(0.15)  # paces the client, below the idle timeout
            c.send(piece)
        resp = c.read_response()
    assert resp.status == 200 and seen(resp)["body_bytes"] == 4


def test_request_timeout_covers_the_request_only(remora, http_backends):
    backend = http_backends("rt")
    proc, port = single_route_proxy(remora, backend, hcm_extra={"request_timeout": "0.4s"})
    # A slow upstream answer is not the client's fault: no 408 (Envoy disarms the timer once the
    # request is complete).
    with RawHttp(port) as c:
        assert get(c, headers=[("x-backend-delay-ms", "800")]).status == 200
    # A request body that never completes is.
    with RawHttp(port) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nab")
        started = time.monotonic()
        resp = c.read_response()
        assert resp.status == 408 and resp.body == b"request timeout", resp
        assert 0.2 < time.monotonic() - started < 2.0
        assert resp.header("connection") == "close"
        c.read_to_close()
    assert proc.stat("http.ingress_http.downstream_rq_timeout") == 1
    assert proc.stat("http.ingress_http.downstream_rq_2xx") == 1


def test_connection_idle_timeout(remora, http_backends):
    backend = http_backends("cit")
    proc, port = single_route_proxy(remora, backend, hcm_extra={
        "common_http_protocol_options": {"idle_timeout": "0.4s"}})
    with RawHttp(port) as c:
        assert get(c).status == 200
        started = time.monotonic()
        assert c.read_to_close(timeout=5) == b""
        assert 0.3 < time.monotonic() - started < 3
    assert proc.stat("http.ingress_http.downstream_cx_idle_timeout") == 1
    # Bytes that begin no request (empty lines between requests) do not keep it open.
    with RawHttp(port) as c:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and c.send(b"\r\n") and c.is_open(wait=0.1):
            pass
        assert c.read_to_close(timeout=1) == b""
        assert time.monotonic() < deadline, "CRLFs kept an idle connection open"
    # A connection busy with a slow request is not idle.
    with RawHttp(port) as c:
        assert get(c, headers=[("x-backend-delay-ms", "700")]).status == 200


def test_max_connection_duration(remora, http_backends):
    backend = http_backends("mcd")
    proc, port = single_route_proxy(remora, backend, hcm_extra={
        "common_http_protocol_options": {"max_connection_duration": "0.5s"}})
    # A request in flight when the duration passes finishes, with Connection: close.
    with RawHttp(port) as c:
        resp = get(c, headers=[("x-backend-delay-ms", "900")])
        assert resp.status == 200 and resp.header("connection") == "close", resp
        assert c.read_to_close() == b""
    # An idle connection is closed when it passes.
    with RawHttp(port) as c:
        assert get(c).status == 200
        assert c.read_to_close(timeout=5) == b""
    assert proc.stat("http.ingress_http.downstream_cx_max_duration_reached") == 2


def test_max_requests_per_connection_downstream(remora, http_backends):
    backend = http_backends("mrpc")
    proc, port = single_route_proxy(remora, backend, hcm_extra={
        "common_http_protocol_options": {"max_requests_per_connection": 3}})
    with RawHttp(port) as c:
        # Pipelined past the limit: the 4th request is never parsed.
        c.send(request_bytes(path="/1") + request_bytes(path="/2") + request_bytes(path="/3")
               + request_bytes(path="/4"))
        resps = [c.read_response() for _ in range(3)]
        assert [r.header("connection") for r in resps] == [None, None, "close"], resps
        assert c.read_to_close() == b""
    assert [r["path"] for r in backend.requests] == ["/1", "/2", "/3"]
    assert proc.stat("http.ingress_http.downstream_cx_max_requests_reached") == 1


def test_max_requests_per_connection_upstream(remora, http_backends):
    backend = http_backends("umrpc")
    proc, port = single_route_proxy(remora, backend, cluster_extra={
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "common_http_protocol_options": {"max_requests_per_connection": 2},
                "explicit_http_config": {"http_protocol_options": {}}}}})
    with RawHttp(port) as c:
        for i in range(5):
            assert get(c, f"/{i}").status == 200
    stats = proc.stats()
    assert stats["cluster.umrpc.upstream_cx_total"] == 3
    assert stats["cluster.umrpc.upstream_cx_max_requests"] == 2


# --------------------------------------------------------------------------------------------
# The upstream keep-alive race


class RaceBackend:
    """A raw upstream whose first connection answers one request normally (keep-alive, no
    Connection: close) and then, on the second request, reads its head and closes without a
    byte of response: the keep-alive race, made deterministic. Later connections serve."""

    def __init__(self):
        self.served = []  # (connection number, method, path)
        self.cut = []     # (method, path) of requests the first connection dropped
        self.conns = 0
        self.lock = threading.Lock()

    def handler(self, conn):
        with self.lock:
            n = self.conns
            self.conns += 1
        reader = RawRequestReader(conn)
        while True:
            if n == 0 and len(self.served) == 1:
                method, path, _ = reader.read_head()
                self.cut.append((method, path))
                return  # closes the socket with the request unanswered
            req = reader.read_request()
            if req is None:
                return
            self.served.append((n, req["method"], req["path"]))
            conn.sendall(raw_response(body=f"{req['method']} {req['path']} on {n}".encode()))


def race_proxy(remora, backends, tmp_path):
    race = RaceBackend()
    backend = backends(race.handler)
    log = tmp_path / "access.log"
    proc, port = single_route_proxy(remora, backend, hcm_extra={"access_log": file_log(
        log, "%REQ(:METHOD)% %RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_REQUEST_ATTEMPT_COUNT%\n")})
    return race, proc, port, log


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_keepalive_race_idempotent_request_is_resent(remora, backends, tmp_path, method):
    race, proc, port, log = race_proxy(remora, backends, tmp_path)
    with RawHttp(port) as c:
        assert get(c, "/first").body == b"GET /first on 0"
        body = b"payload" if method == "PUT" else b""
        resp = get(c, "/second", method=method, body=body)
    assert resp.status == 200 and resp.body == f"{method} /second on 1".encode(), resp
    assert race.cut == [(method, "/second")]
    assert proc.stat("cluster.backend.upstream_cx_total") == 2
    # Not a retry in Envoy's accounting: no retry stat, no URX.
    assert proc.stat("cluster.backend.upstream_rq_retry") == 0
    assert log_lines(log, 2)[1].startswith(f"{method} 200 -")


@pytest.mark.parametrize("body", [b"", b"some-body"], ids=["no_body", "with_body"])
def test_keepalive_race_post_gets_503_uc(remora, backends, tmp_path, body):
    race, proc, port, log = race_proxy(remora, backends, tmp_path)
    with RawHttp(port) as c:
        assert get(c, "/first").status == 200
        resp = get(c, "/pay", method="POST", body=body,
                   headers=[("Content-Length", str(len(body)))])
        assert resp.status == 503, resp
        assert resp.body == (b"upstream connect error or disconnect/reset before headers. "
                             b"reset reason: connection termination"), resp
        # The client's connection survives an upstream failure.
        assert get(c, "/after").body == b"GET /after on 1"
    assert race.cut == [("POST", "/pay")]
    assert [s for s in race.served if s[2] == "/pay"] == []
    assert log_lines(log, 3)[1] == "POST 503 UC 1"


def test_stale_pooled_connection_noticed_before_reuse(remora, backends):
    """An upstream that closes an idle keep-alive connection without saying so: once remora has
    seen the close, the next request (even a POST) simply goes on a new connection."""
    served = []

    def handler(conn):
        req = RawRequestReader(conn).read_request()
        served.append(req["path"])
        conn.sendall(raw_response(body=b"ok"))
        # ... and close, though the response promised nothing of the sort.
    backend = backends(handler)
    proc, port = single_route_proxy(remora, backend)
    with RawHttp(port) as c:
        assert get(c, "/1").status == 200
        proc.wait_stat("cluster.backend.upstream_cx_destroy_remote", lambda v: v == 1)
        assert get(c, "/2", method="POST", body=b"x").status == 200
    assert served == ["/1", "/2"]


# --------------------------------------------------------------------------------------------
# Downstream disconnects


def test_downstream_disconnect_mid_request_body(remora, backends, tmp_path):
    """The client goes away halfway through its body: DC in the access log, and the upstream
    request is reset (its connection closes before the body completes)."""
    outcome = {}

    def handler(conn):
        reader = RawRequestReader(conn)
        method, path, headers = reader.read_head()
        outcome["head"] = (method, path)
        try:
            reader.read_body(headers)
            outcome["body"] = "complete"
        except (EOFError, ConnectionResetError):
            outcome["body"] = "cut"
    backend = backends(handler)
    log = tmp_path / "access.log"
    proc, port = single_route_proxy(remora, backend, hcm_extra={"access_log": file_log(
        log, "%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED%\n")})
    with RawHttp(port) as c:
        c.send(b"POST /up HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000)
        wait_until(lambda: "head" in outcome, 5, what="request head upstream")
    wait_until(lambda: "body" in outcome, 5, what="upstream request reset")
    assert outcome == {"head": ("POST", "/up"), "body": "cut"}
    assert log_lines(log, 1) == ["0 DC 5000"]
    stats = proc.stats()
    assert stats["http.ingress_http.downstream_cx_destroy_remote_active_rq"] == 1
    assert stats["http.ingress_http.downstream_rq_active"] == 0


def test_downstream_disconnect_while_waiting_for_response(remora, http_backends, tmp_path):
    backend = http_backends("dcwait")
    log = tmp_path / "access.log"
    proc, port = single_route_proxy(remora, backend, hcm_extra={"access_log": file_log(
        log, "%RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_HOST%\n")})
    with RawHttp(port) as c:
        c.send(request_bytes(headers=[("x-backend-delay-ms", "1000")]))
        backend.wait_requests(1)
    # The upstream request is reset: its connection goes, with the request still active.
    proc.wait_stat("cluster.dcwait.upstream_cx_destroy_with_active_rq", lambda v: v == 1)
    assert log_lines(log, 1) == [f"0 DC 127.0.0.1:{backend.port}"]
    assert proc.stat("cluster.dcwait.upstream_rq_2xx") in (None, 0)
