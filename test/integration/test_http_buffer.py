"""envoy.filters.http.buffer end to end: a chunked upload reaches the backend whole with a
content-length, an upload over max_request_bytes gets Envoy's 413 and never reaches the backend,
and a route with the filter disabled streams a body far larger than the limit."""

import hashlib
import json
import random

import pytest

from conftest import bootstrap, connect, curl, free_ports, static_cluster
from http_harness import http_listener, route, vhost

BUFFER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer"
PER_ROUTE_TYPE = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute"
LIMIT = 4096


@pytest.fixture
def buffer_proxy(remora, http_backends):
    backend = http_backends("app")
    port, admin = free_ports(2)
    routes = [
        route({"prefix": "/stream"}, "app", typed_per_filter_config={
            "envoy.filters.http.buffer": {"@type": PER_ROUTE_TYPE, "disabled": True}}),
        route({"prefix": "/big"}, "app", typed_per_filter_config={
            "envoy.filters.http.buffer": {"@type": PER_ROUTE_TYPE, "buffer": {"max_request_bytes": 4 * LIMIT}}}),
        route({"prefix": "/"}, "app"),
    ]
    filters = [{"name": "envoy.filters.http.buffer",
                "typed_config": {"@type": BUFFER_TYPE, "max_request_bytes": LIMIT}}]
    proc = remora(bootstrap([http_listener("http", port, {"virtual_hosts": [vhost(routes=routes)]}, filters)],
                            [static_cluster("app", [backend.port])], admin))
    return proc, port, backend


def body(n, seed=5):
    return random.Random(seed).randbytes(n)


def raw_exchange(port, request):
    """Sends the request in one write; returns (status line, headers dict, body) read to EOF."""
    with connect(port) as s:
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return lines[0], headers, rest


def chunked(data, size=1000):
    out = b""
    for i in range(0, len(data), size):
        piece = data[i:i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def test_chunked_upload_arrives_with_content_length(buffer_proxy):
    proc, port, backend = buffer_proxy
    payload = body(3000)
    resp = curl(f"http://127.0.0.1:{port}/upload", method="POST", data=payload,
                headers=["Transfer-Encoding: chunked", "Content-Type: application/octet-stream"])
    assert resp is not None and resp.status == 200, resp
    seen = json.loads(resp.body)
    assert seen["headers"]["content-length"] == "3000"
    assert "transfer-encoding" not in seen["headers"]
    assert seen["body_bytes"] == 3000
    assert seen["body_sha"] == hashlib.sha256(payload).hexdigest()


def test_chunked_upload_with_trailers_over_raw_socket(buffer_proxy):
    proc, port, backend = buffer_proxy
    payload = body(2500)
    req = (b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
           + chunked(payload)[:-2] + b"x-checksum: 1\r\n\r\n")
    status, headers, rest = raw_exchange(port, req)
    assert status.startswith("HTTP/1.1 200"), status
    seen = json.loads(rest)
    assert seen["headers"]["content-length"] == "2500"
    assert seen["body_sha"] == hashlib.sha256(payload).hexdigest()


def test_upload_over_the_limit_gets_413_and_never_reaches_the_backend(buffer_proxy):
    proc, port, backend = buffer_proxy
    payload = body(LIMIT + 1)
    req = (b"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
           % len(payload) + payload)
    status, headers, rest = raw_exchange(port, req)
    assert status == "HTTP/1.1 413 Payload Too Large", status
    assert rest == b"Payload Too Large"
    assert headers["content-type"] == "text/plain"

    # Chunked, the same.
    req = (b"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
           + chunked(body(LIMIT + 500)))
    status, _, _ = raw_exchange(port, req)
    assert status.startswith("HTTP/1.1 413"), status

    assert backend.requests == []
    stats = proc.stats()
    assert stats["http.ingress_http.downstream_rq_too_large"] == 2
    assert stats["http.ingress_http.downstream_rq_4xx"] == 2
    # Exactly at the limit is fine.
    resp = curl(f"http://127.0.0.1:{port}/upload", method="POST", data=body(LIMIT))
    assert resp.status == 200 and json.loads(resp.body)["body_bytes"] == LIMIT


def test_route_raises_the_limit(buffer_proxy):
    proc, port, backend = buffer_proxy
    resp = curl(f"http://127.0.0.1:{port}/big", method="POST", data=body(3 * LIMIT),
                headers=["Transfer-Encoding: chunked"])
    assert resp.status == 200, resp
    assert json.loads(resp.body)["headers"]["content-length"] == str(3 * LIMIT)


def test_route_with_buffering_disabled_streams_a_large_body(buffer_proxy):
    proc, port, backend = buffer_proxy
    n = 3 * 1024 * 1024  # far over max_request_bytes, and over the 1 MiB stream buffer limit
    payload = body(n)
    resp = curl(f"http://127.0.0.1:{port}/stream", method="POST", data=payload,
                headers=["Transfer-Encoding: chunked"], timeout=30)
    assert resp is not None and resp.status == 200, resp
    seen = json.loads(resp.body)
    assert seen["headers"].get("transfer-encoding") == "chunked"  # passed on as it came
    assert "content-length" not in seen["headers"]
    assert seen["body_bytes"] == n
    assert seen["body_sha"] == hashlib.sha256(payload).hexdigest()
    assert proc.stats()["http.ingress_http.downstream_rq_too_large"] == 0
