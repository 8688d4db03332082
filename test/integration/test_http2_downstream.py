"""HTTP/2 clients through remora to the HTTP/1.1 test backend: codec selection (AUTO by the
preface, HTTP1, HTTP2), h2 → h1 bridging (:authority → Host, connection-specific headers, te,
trailers both ways, streamed bodies), many streams on one connection, resets, GOAWAY, and hostile
frames answered per RFC 9113 without touching other streams or connections. Real clients: curl
--http2-prior-knowledge, nghttp and h2load; raw frames from h2_frames for what no client sends."""

import hashlib
import json
import re
import subprocess

import pytest

from conftest import SANITIZED, bootstrap, curl, free_ports, static_cluster, wait_until
from h2_frames import (DATA, END_STREAM, GOAWAY, HEADERS, PROTOCOL_ERROR, FRAME_SIZE_ERROR,
                       RST_STREAM, REFUSED_STREAM, SETTINGS, SETTINGS_MAX_CONCURRENT_STREAMS,
                       STREAM_CLOSED, WINDOW_UPDATE, CANCEL, H2Conn, frame, headers_frame,
                       request_headers)
from http_harness import http_listener, route, vhost

HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def upstream_trailers():
    """The cluster passes HTTP/1 trailers (explicit_http_config enable_trailers)."""
    return {"typed_extension_protocol_options": {HTTP_OPTIONS: {
        "@type": "type.googleapis.com/" + HTTP_OPTIONS,
        "explicit_http_config": {"http_protocol_options": {"enable_trailers": True}}}}}


def start(remora, backend, hcm_extra=None, cluster_extra=None):
    port, admin = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="b")])]}
    proc = remora(bootstrap([http_listener("h", port, rc, hcm_extra=hcm_extra or {})],
                            [static_cluster("b", [backend.port], **(cluster_extra or {}))],
                            admin))
    return proc, port


def h2curl(url, *args, timeout=10):
    """curl with prior-knowledge HTTP/2; returns (status line, headers dict, body bytes) or
    None when curl failed."""
    proc = subprocess.run(["curl", "-sS", "-i", "--http2-prior-knowledge", "--max-time",
                           str(timeout), *args, url], capture_output=True, timeout=timeout + 5)
    if proc.returncode != 0:
        return None
    head, _, body = proc.stdout.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers, body


# --------------------------------------------------------------------------------------------
# Codec selection and bridging


def test_auto_serves_h2_prior_knowledge_and_h1_on_one_listener(remora, http_backends):
    backend = http_backends("b")
    proc, port = start(remora, backend)
    got = h2curl(f"http://127.0.0.1:{port}/h2/path?q=1", "-H", "te: trailers",
                 "-H", "x-custom: yes")
    assert got is not None
    status, headers, body = got
    assert status.startswith("HTTP/2 200"), status
    assert headers["server"] == "envoy"
    seen = json.loads(body)
    assert seen["method"] == "GET" and seen["path"] == "/h2/path?q=1"
    # :authority became Host; te: trailers crossed; nothing HTTP/2-only leaked into HTTP/1.
    assert seen["headers"]["host"] == f"127.0.0.1:{port}"
    assert seen["headers"]["te"] == "trailers"
    assert seen["headers"]["x-custom"] == "yes"
    assert not any(name.startswith(":") for name, _ in seen["header_list"])
    # HTTP/1.1 on the same listener.
    resp = curl(f"http://127.0.0.1:{port}/h1")
    assert resp is not None and resp.status == 200
    stats = proc.stats()
    assert stats["http.ingress_http.downstream_cx_http2_total"] == 1
    assert stats["http.ingress_http.downstream_rq_http2_total"] == 1
    assert stats["http.ingress_http.downstream_cx_http1_total"] == 1
    assert stats["http.ingress_http.downstream_rq_http1_total"] == 1


def test_codec_type_http2_refuses_http1_and_http1_ignores_preface(remora, http_backends):
    backend = http_backends("b")
    _, h2_port = start(remora, backend, {"codec_type": "HTTP2"})
    got = h2curl(f"http://127.0.0.1:{h2_port}/")
    assert got is not None and got[0].startswith("HTTP/2 200")
    assert curl(f"http://127.0.0.1:{h2_port}/") is None  # no HTTP/1 answer: not a preface
    _, h1_port = start(remora, backend, {"codec_type": "HTTP1"})
    assert h2curl(f"http://127.0.0.1:{h1_port}/") is None
    resp = curl(f"http://127.0.0.1:{h1_port}/")
    assert resp is not None and resp.status == 200


def test_connection_specific_response_headers_are_not_sent_over_h2(remora, http_backends):
    backend = http_backends("b")
    _, port = start(remora, backend)
    # The backend answers with "connection: close": an HTTP/2 response must not carry it.
    got = h2curl(f"http://127.0.0.1:{port}/", "-H", "x-backend-close: 1")
    assert got is not None and got[0].startswith("HTTP/2 200")
    assert "connection" not in got[1] and "keep-alive" not in got[1]


def test_many_concurrent_streams_on_one_connection_with_h2load(remora, http_backends):
    backend = http_backends("b")
    proc, port = start(remora, backend)
    out = subprocess.run(["h2load", "-n", "200", "-c", "1", "-m", "32",
                          f"http://127.0.0.1:{port}/load"],
                         capture_output=True, text=True, timeout=60).stdout
    assert re.search(r"200 succeeded, 0 failed, 0 errored", out), out
    assert re.search(r"status codes: 200 2xx", out), out
    stats = proc.stats()
    assert stats["http.ingress_http.downstream_cx_http2_total"] == 1
    assert stats["http.ingress_http.downstream_rq_http2_total"] == 200
    assert stats["http.ingress_http.downstream_rq_2xx"] == 200
    assert len(backend.requests) == 200


def test_nghttp_parallel_streams_reach_backend(remora, http_backends):
    backend = http_backends("b")
    proc, port = start(remora, backend)
    urls = [f"http://127.0.0.1:{port}/p{i}" for i in range(10)]
    out = subprocess.run(["nghttp", "-n", "-s", *urls], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    assert sorted(r["path"] for r in backend.requests) == sorted(f"/p{i}" for i in range(10))
    assert proc.stats()["http.ingress_http.downstream_cx_http2_total"] == 1


def test_trailers_both_ways_h2_to_h1(remora, http_backends, tmp_path):
    backend = http_backends("b")
    _, port = start(remora, backend, {"http_protocol_options": {"enable_trailers": True}},
                    upstream_trailers())
    # Request trailers: raw frames, with no content-length, so HTTP/1 can carry them chunked.
    with H2Conn(port) as c:
        c.send(headers_frame(1, request_headers(port, "/trailers", "POST"), end_stream=False))
        c.send(frame(DATA, 0, 1, b"request body"))
        c.send(headers_frame(1, [("x-request-trailer", "rt1")], end_stream=True))
        end = c.stream_ended(1)
        assert end is not None and end.type != RST_STREAM, c.frames
    wait_until(lambda: len(backend.requests) == 1, 5, what="request at backend")
    record = backend.requests[0]
    assert record["headers"].get("transfer-encoding") == "chunked"
    assert record["body_bytes"] == len(b"request body")
    assert record["trailers"] == {"x-request-trailer": "rt1"}
    # Response trailers: the backend's chunked trailers arrive as an HTTP/2 trailers block.
    out = subprocess.run(["nghttp", "-v", "-H", "x-backend-trailers: x-resp-trailer=r1",
                          f"http://127.0.0.1:{port}/resp"], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    assert re.search(r"recv \(stream_id=\d+\) x-resp-trailer: r1", out.stdout), out.stdout
    # The trailers block is a HEADERS frame after the DATA, ending the stream.
    tail = out.stdout[out.stdout.index("x-resp-trailer: r1"):]
    assert "recv HEADERS frame" in tail and "END_STREAM" in tail
    # nghttp's own request trailers (with its content-length) reach the backend too.
    body = tmp_path / "body"
    body.write_bytes(b"x" * 1000)
    out = subprocess.run(["nghttp", "-d", str(body), "--trailer", "x-nghttp-trailer: n1",
                          f"http://127.0.0.1:{port}/up"], capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    wait_until(lambda: len(backend.requests) == 3, 5, what="third request")
    assert backend.requests[2]["body_bytes"] == 1000


def test_big_bodies_stream_both_ways(remora, http_backends, tmp_path):
    backend = http_backends("b")
    _, port = start(remora, backend)
    n = 16 * 1024 * 1024
    got = h2curl(f"http://127.0.0.1:{port}/down", "-H", f"x-backend-body-bytes: {n}",
                 timeout=30)
    assert got is not None and got[0].startswith("HTTP/2 200")
    assert len(got[2]) == n
    upload = tmp_path / "upload"
    data = bytes(range(256)) * (n // 256)
    upload.write_bytes(data)
    got = h2curl(f"http://127.0.0.1:{port}/up", "--data-binary", f"@{upload}", timeout=30)
    assert got is not None and got[0].startswith("HTTP/2 200")
    seen = json.loads(got[2])
    assert seen["body_bytes"] == n
    assert seen["body_sha"] == hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# Resets, GOAWAY, hostile frames


def test_client_reset_ends_only_that_stream(remora, http_backends):
    backend = http_backends("b")
    proc, port = start(remora, backend)
    with H2Conn(port) as c:
        c.send(headers_frame(1, request_headers(port, "/slow", extra=[
            ("x-backend-delay-ms", "500")])))
        wait_until(lambda: len(backend.requests) >= 0 and
                   proc.stat("http.ingress_http.downstream_rq_active") == 1, 5,
                   what="stream 1 active")
        c.send(frame(RST_STREAM, 0, 1, CANCEL.to_bytes(4, "big")))
        c.send(headers_frame(3, request_headers(port, "/after")))
        end = c.stream_ended(3)
        assert end is not None and end.type != RST_STREAM
        assert not [f for f in c.of_stream(1) if f.type in (HEADERS, DATA)]
    proc.wait_stat("http.ingress_http.downstream_rq_rx_reset", lambda v: v == 1)
    assert proc.stats()["http.ingress_http.downstream_rq_2xx"] == 1


def malformed_requests(port):
    """(name, header pairs) each a stream error per RFC 9113 §8.1.1."""
    base = request_headers(port)
    return [
        ("uppercase name", base + [("X-Upper", "1")]),
        ("connection-specific", base + [("connection", "keep-alive")]),
        ("te not trailers", base + [("te", "gzip")]),
        ("missing :path", [p for p in base if p[0] != ":path"]),
        ("pseudo after regular", [base[0], ("x-a", "1")] + base[1:]),
        ("unknown pseudo", base + [(":bogus", "1")]),
    ]


def test_malformed_requests_are_stream_errors(remora, http_backends):
    backend = http_backends("b")
    proc, port = start(remora, backend)
    with H2Conn(port) as c:
        stream = 1
        for name, pairs in malformed_requests(port):
            c.send(headers_frame(stream, pairs))
            rst = c.stream_ended(stream)
            assert rst is not None and rst.type == RST_STREAM, name
            assert rst.error_code == PROTOCOL_ERROR, name
            stream += 2
        # The connection is still good.
        c.send(headers_frame(stream, request_headers(port, "/ok")))
        end = c.stream_ended(stream)
        assert end is not None and end.type != RST_STREAM
        assert not [f for f in c.frames if f.type == GOAWAY]
    assert [r["path"] for r in backend.requests] == ["/ok"]
    assert proc.stats()["http2.rx_messaging_error"] >= len(malformed_requests(port))


@pytest.mark.parametrize("name,payload,code", [
    ("DATA on stream 0", frame(DATA, 0, 0, b"x"), PROTOCOL_ERROR),
    ("zero window increment", frame(WINDOW_UPDATE, 0, 0, b"\0\0\0\0"), PROTOCOL_ERROR),
    ("SETTINGS of bad length", frame(4, 0, 0, b"\0\0\0"), FRAME_SIZE_ERROR),
    ("even stream id", headers_frame(2, [(":method", "GET")]), PROTOCOL_ERROR),
])
def test_connection_errors_end_that_connection_only(remora, http_backends, name, payload, code):
    backend = http_backends("b")
    proc, port = start(remora, backend)
    with H2Conn(port) as bystander, H2Conn(port) as c:
        # Another connection has a request in flight while the bad frame arrives.
        bystander.send(headers_frame(1, request_headers(port, "/bystander", extra=[
            ("x-backend-delay-ms", "300")])))
        c.send(payload)
        goaway = c.wait_for(lambda f: f.type == GOAWAY)
        assert goaway is not None, (name, c.frames)
        assert goaway.error_code == code, (name, goaway)
        assert c.wait_closed()
        end = bystander.stream_ended(1)
        assert end is not None and end.type != RST_STREAM, bystander.frames
    assert proc.stats()["http.ingress_http.downstream_cx_protocol_error"] == 1


def test_header_list_over_limit_resets_the_stream(remora, http_backends):
    backend = http_backends("b")
    proc, port = start(remora, backend, {"max_request_headers_kb": 1})
    with H2Conn(port) as c:
        c.send(headers_frame(1, request_headers(port, extra=[("x-big", "a" * 2000)])))
        rst = c.stream_ended(1)
        assert rst is not None and rst.type == RST_STREAM
        c.send(headers_frame(3, request_headers(port, "/small")))
        end = c.stream_ended(3)
        assert end is not None and end.type != RST_STREAM
    assert [r["path"] for r in backend.requests] == ["/small"]
    assert proc.stats()["http2.header_overflow"] == 1


def test_streams_over_max_concurrent_streams_are_refused(remora, http_backends):
    """RFC 9113 §5.1.2: a HEADERS that exceeds the advertised SETTINGS_MAX_CONCURRENT_STREAMS is a
    stream error, RST_STREAM(REFUSED_STREAM), even once the setting is acknowledged (nghttp2
    alone would end the connection); the streams within the limit complete, a new stream is
    served once one of them is done, and another connection never notices."""
    backend = http_backends("b")
    proc, port = start(remora, backend,
                       {"http2_protocol_options": {"max_concurrent_streams": 2}})
    with H2Conn(port) as c, H2Conn(port) as other:
        # Reading the server's SETTINGS acknowledges it (H2Conn ACKs at once), ahead of the
        # HEADERS below on the same socket: the limit is in force.
        settings = c.wait_for(lambda f: f.type == SETTINGS and not f.flags & 1)
        assert settings is not None and settings.settings[SETTINGS_MAX_CONCURRENT_STREAMS] == 2
        delay = [("x-backend-delay-ms", "400")]
        burst = b"".join(headers_frame(sid, request_headers(port, f"/s{sid}", extra=delay))
                         for sid in (1, 3, 5, 7, 9, 11, 13))
        c.send(burst)
        for sid in (5, 7, 9, 11, 13):
            rst = c.wait_for(lambda f, sid=sid: f.stream_id == sid and f.type == RST_STREAM)
            assert rst is not None and rst.error_code == REFUSED_STREAM, (sid, c.frames)
        # The other connection is served while this one is at its limit.
        other.send(headers_frame(1, request_headers(port, "/other")))
        end = other.stream_ended(1)
        assert end is not None and end.type != RST_STREAM
        for sid in (1, 3):
            end = c.stream_ended(sid)
            assert end is not None and end.type != RST_STREAM, (sid, c.frames)
        # Both slots are free again.
        c.send(headers_frame(15, request_headers(port, "/s15")))
        end = c.stream_ended(15)
        assert end is not None and end.type != RST_STREAM, c.frames
        assert not [f for f in c.frames if f.type == GOAWAY]
        for sid in (5, 7, 9, 11, 13):
            assert not [f for f in c.of_stream(sid) if f.type in (HEADERS, DATA)]
    assert sorted(r["path"] for r in backend.requests) == ["/other", "/s1", "/s15", "/s3"]
    stats = proc.stats()
    assert stats.get("http.ingress_http.downstream_cx_protocol_error", 0) == 0
    assert stats["http2.tx_reset"] >= 5
    assert stats["http.ingress_http.downstream_rq_2xx"] == 4


def test_streams_over_the_limit_before_settings_ack_are_refused_too(remora, http_backends):
    """Before the client acknowledged the limit it cannot know it: the same REFUSED_STREAM, which
    tells it the stream was not processed and may be retried (RFC 9113 §8.7)."""
    backend = http_backends("b")
    proc, port = start(remora, backend,
                       {"http2_protocol_options": {"max_concurrent_streams": 1}})
    with H2Conn(port) as c:
        # Sent right behind the preface: the server's SETTINGS is not even read yet, let alone
        # acknowledged.
        delay = [("x-backend-delay-ms", "300")]
        c.send(headers_frame(1, request_headers(port, "/a", extra=delay)) +
               headers_frame(3, request_headers(port, "/b", extra=delay)))
        rst = c.wait_for(lambda f: f.stream_id == 3 and f.type == RST_STREAM)
        assert rst is not None and rst.error_code == REFUSED_STREAM
        end = c.stream_ended(1)
        assert end is not None and end.type != RST_STREAM
    assert [r["path"] for r in backend.requests] == ["/a"]


@pytest.mark.parametrize("name,first,second,code", [
    # RFC 9113 §5.1.1: opening 5 closed idle stream 3 for good; a HEADERS for it is an
    # unexpected stream identifier.
    ("skipped lower id", 5, 3, PROTOCOL_ERROR),
])
def test_headers_on_a_lower_stream_id_is_a_connection_error(remora, http_backends, name, first,
                                                            second, code):
    backend = http_backends("b")
    proc, port = start(remora, backend)
    with H2Conn(port) as bystander, H2Conn(port) as c:
        bystander.send(headers_frame(1, request_headers(port, "/bystander", extra=[
            ("x-backend-delay-ms", "300")])))
        c.send(headers_frame(first, request_headers(port, "/first")))
        end = c.stream_ended(first)
        assert end is not None and end.type != RST_STREAM
        if first == second:
            c.send(headers_frame(first + 2, request_headers(port, "/next")))
            assert c.stream_ended(first + 2) is not None
        c.send(headers_frame(second, request_headers(port, "/lower")))
        goaway = c.wait_for(lambda f: f.type == GOAWAY)
        assert goaway is not None, (name, c.frames)
        assert goaway.error_code == code, (name, goaway)
        assert c.wait_closed()
        end = bystander.stream_ended(1)
        assert end is not None and end.type != RST_STREAM
    assert "/lower" not in [r["path"] for r in backend.requests]
    assert proc.stats()["http.ingress_http.downstream_cx_protocol_error"] == 1


def test_headers_on_a_closed_stream_are_ignored(remora, http_backends):
    """Closed streams are not retained (see the next test), so, as behind Envoy, a HEADERS or DATA
    on a stream that already ended is ignored: nothing reaches an upstream and the connection
    serves on (RFC 9113 §5.1 also has an endpoint ignore frames on streams it reset)."""
    backend = http_backends("b")
    _, port = start(remora, backend)
    with H2Conn(port) as c:
        c.send(headers_frame(1, request_headers(port, "/first")))
        end = c.stream_ended(1)
        assert end is not None and end.type != RST_STREAM
        c.send(headers_frame(1, request_headers(port, "/again")))
        c.send(frame(DATA, 0, 1, b"late"))
        c.send(headers_frame(3, request_headers(port, "/next")))
        end = c.stream_ended(3)
        assert end is not None and end.type != RST_STREAM
        assert not [f for f in c.frames if f.type == GOAWAY]
    assert [r["path"] for r in backend.requests] == ["/first", "/next"]


def test_many_streams_on_one_connection_keep_memory_bounded(remora):
    """nghttp2 would keep every closed stream of a connection (its default limit is 2^31-1):
    200,000 requests on one h2load connection must not grow remora's peak RSS."""
    port, admin = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[{"match": {"prefix": "/"},
                                            "direct_response": {"status": 200,
                                                                "body": {"inline_string": "ok"}}}])]}
    proc = remora(bootstrap([http_listener("h2", port, rc, hcm_extra={"codec_type": "HTTP2"})], [],
                            admin))

    def load(n):
        out = subprocess.run(["h2load", "-n", str(n), "-c", "1", "-m", "10",
                              f"http://127.0.0.1:{port}/"], capture_output=True, text=True,
                             timeout=120).stdout
        assert f"{n} succeeded" in out, out

    load(20000)
    before = proc.vm_hwm_kib()
    load(200000)
    if SANITIZED:
        return  # ASan's quarantine holds freed memory: RSS is no measure there
    grown = proc.vm_hwm_kib() - before
    assert grown < 16 * 1024, f"peak RSS grew {grown} KiB over 200,000 streams"


def test_header_count_over_limit_resets_only_that_stream(remora, http_backends):
    """max_headers_count on HTTP/2: the stream is reset (Envoy resets rather than answering 431
    on HTTP/2); a stream in flight on the same connection and another connection carry on."""
    backend = http_backends("b")
    proc, port = start(remora, backend,
                       {"common_http_protocol_options": {"max_headers_count": 10}})
    with H2Conn(port) as c, H2Conn(port) as other:
        c.send(headers_frame(1, request_headers(port, "/slow", extra=[
            ("x-backend-delay-ms", "300")])))
        many = [(f"x-h{i}", "v") for i in range(10)]
        c.send(headers_frame(3, request_headers(port, "/many", extra=many)))
        rst = c.stream_ended(3)
        assert rst is not None and rst.type == RST_STREAM
        other.send(headers_frame(1, request_headers(port, "/other")))
        end = other.stream_ended(1)
        assert end is not None and end.type != RST_STREAM
        end = c.stream_ended(1)
        assert end is not None and end.type != RST_STREAM
        # HPACK state survived the dropped block: the next request decodes.
        c.send(headers_frame(5, request_headers(port, "/after")))
        end = c.stream_ended(5)
        assert end is not None and end.type != RST_STREAM
        assert not [f for f in c.frames if f.type == GOAWAY]
    assert sorted(r["path"] for r in backend.requests) == ["/after", "/other", "/slow"]
    assert proc.stats()["http2.header_overflow"] == 1


def test_max_requests_per_connection_sends_goaway_and_finishes_streams(remora, http_backends):
    backend = http_backends("b")
    proc, port = start(remora, backend, {
        "common_http_protocol_options": {"max_requests_per_connection": 2}})
    with H2Conn(port) as c:
        for sid in (1, 3):
            c.send(headers_frame(sid, request_headers(port, f"/r{sid}", extra=[
                ("x-backend-delay-ms", "200")])))
        goaway = c.wait_for(lambda f: f.type == GOAWAY)
        assert goaway is not None and goaway.error_code == 0
        assert goaway.last_stream_id == 3
        for sid in (1, 3):
            end = c.stream_ended(sid)
            assert end is not None and end.type != RST_STREAM
        assert c.wait_closed()
    stats = proc.stats()
    assert stats["http.ingress_http.downstream_cx_max_requests_reached"] == 1
    assert stats["http2.goaway_sent"] == 1
    assert stats["http.ingress_http.downstream_rq_2xx"] == 2
