"""Hostile and malformed HTTP/1.1 requests against the connection manager, as raw bytes.

Each case checks what Envoy documents: the status of the local reply (400 for framing and
character errors, 431 for size and count limits, 501 for unknown codings, 426 for HTTP/1.0 when
it is not accepted, 408 for a stalled head), that nothing reached the upstream, that the
connection closes after the reply without parsing anything else from the bytes that followed
(a request smuggled behind the bad one must never be answered), that
http.<prefix>.downstream_cx_protocol_error counts it, and that remora keeps serving.
"""

import time

import pytest

from conftest import wait_until
from http_harness import RawHttp, request_bytes, single_route_proxy

# A second, valid request glued behind each hostile one: if remora ever answers it (or forwards
# it), the bad request desynchronised the parser.
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: test\r\n\r\n"

HEAD = b"POST / HTTP/1.1\r\nHost: test\r\n"
CHUNKED = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"

# (id, bytes, status, Envoy's response code details)
CASES = [
    ("cl_and_te", HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     400, "http1.content_length_and_chunked_not_allowed"),
    ("te_and_cl", HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
     400, "http1.content_length_and_chunked_not_allowed"),
    ("two_content_lengths", HEAD + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
     400, "http1.codec_error"),
    ("content_length_list", HEAD + b"Content-Length: 5, 6\r\n\r\nhello!", 400, "http1.codec_error"),
    ("content_length_sign", HEAD + b"Content-Length: +5\r\n\r\nhello", 400, "http1.codec_error"),
    ("content_length_overflow", HEAD + b"Content-Length: 99999999999999999999999\r\n\r\n", 400,
     "http1.codec_error"),
    ("te_unknown_coding", HEAD + b"Transfer-Encoding: gzip\r\n\r\n", 501,
     "http1.invalid_transfer_encoding"),
    ("te_chunked_twice", HEAD + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400,
     "http1.codec_error"),
    ("chunk_size_not_hex", CHUNKED + b"zz\r\nhello\r\n0\r\n\r\n", 400, "http1.codec_error"),
    ("chunk_size_empty", CHUNKED + b"\r\nhello\r\n0\r\n\r\n", 400, "http1.codec_error"),
    ("chunk_size_overflow", CHUNKED + b"1" + b"0" * 16 + b"\r\nhello\r\n0\r\n\r\n", 400,
     "http1.codec_error"),
    ("chunk_size_negative", CHUNKED + b"-5\r\nhello\r\n0\r\n\r\n", 400, "http1.codec_error"),
    ("chunk_missing_crlf", CHUNKED + b"5\r\nhelloXY0\r\n\r\n", 400, "http1.codec_error"),
    ("chunk_bare_lf", CHUNKED + b"5\nhello\r\n0\r\n\r\n", 400, "http1.codec_error"),
    ("header_without_colon", b"GET / HTTP/1.1\r\nHost: test\r\nfoo\r\n\r\n", 400,
     "http1.invalid_characters"),
    ("header_without_colon_with_space", b"GET / HTTP/1.1\r\nHost: test\r\nfoo bar\r\n\r\n", 400,
     "http1.codec_error"),
    ("nul_in_value", b"GET / HTTP/1.1\r\nHost: test\r\nx-a: b\x00c\r\n\r\n", 400,
     "http1.invalid_characters"),
    ("bare_cr_in_value", b"GET / HTTP/1.1\r\nHost: test\r\nx-a: b\rc\r\n\r\n", 400,
     "http1.invalid_characters"),
    ("bare_lf_line_end", b"GET / HTTP/1.1\r\nHost: test\nx-a: b\r\n\r\n", 400,
     "http1.invalid_characters"),
    ("obs_fold", b"GET / HTTP/1.1\r\nHost: test\r\nx-a: b\r\n c\r\n\r\n", 400,
     "http1.codec_error"),
    ("space_in_name", b"GET / HTTP/1.1\r\nHost: test\r\nx a: b\r\n\r\n", 400,
     "http1.codec_error"),
    ("space_before_colon", b"GET / HTTP/1.1\r\nHost: test\r\nx-a : b\r\n\r\n", 400,
     "http1.codec_error"),
    ("paren_in_name", b"GET / HTTP/1.1\r\nHost: test\r\nx(a): b\r\n\r\n", 400,
     "http1.invalid_characters"),
    ("nul_in_name", b"GET / HTTP/1.1\r\nHost: test\r\nx\x00a: b\r\n\r\n", 400,
     "http1.invalid_characters"),
    ("empty_name", b"GET / HTTP/1.1\r\nHost: test\r\n: b\r\n\r\n", 400,
     "http1.invalid_characters"),
    ("missing_host", b"GET / HTTP/1.1\r\nx-a: b\r\n\r\n", 400, "http1.codec_error"),
    ("two_hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "http1.codec_error"),
    ("bad_version", b"GET / HTTP/1.x\r\nHost: test\r\n\r\n", 400, "http1.codec_error"),
    ("http2_version", b"GET / HTTP/2.0\r\nHost: test\r\n\r\n", 505, "http1.codec_error"),
    ("space_in_target", b"GET /a b HTTP/1.1\r\nHost: test\r\n\r\n", 400, "http1.codec_error"),
    ("bad_method", b"G(T / HTTP/1.1\r\nHost: test\r\n\r\n", 400, "http1.codec_error"),
]


def start(remora, http_backends, **hcm_extra):
    backend = http_backends("bad_input_backend")
    proc, port = single_route_proxy(remora, backend, hcm_extra=hcm_extra or None)
    return proc, port, backend


def assert_still_serving(port, backend, before):
    """A fresh connection gets a normal answer, and that request is the only new one upstream."""
    with RawHttp(port) as c:
        assert c.send(request_bytes(path="/after"))
        resp = c.read_response()
    assert resp is not None and resp.status == 200, resp
    reqs = backend.wait_requests(before + 1)
    assert [r["path"] for r in reqs[before:]] == ["/after"], reqs


def expect_rejected(port, data, status, after=SMUGGLED):
    """Sends data (+ a smuggled request), expects one `status` reply, then the close."""
    with RawHttp(port) as c:
        c.send(data + after)
        resp = c.read_response()
        assert resp is not None, "connection closed without a response"
        assert resp.status == status, resp
        assert resp.header("connection") == "close", resp
        rest = c.read_to_close()
    assert rest == b"", f"bytes after the error reply: {rest[:300]!r}"
    return resp


@pytest.mark.parametrize("data,status,details", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rejected_without_reaching_upstream(remora, http_backends, data, status, details, tmp_path):
    log = tmp_path / "access.log"
    access_log = [{"name": "envoy.access_loggers.file", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
        "path": str(log),
        "log_format": {"text_format_source": {
            "inline_string": "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n"}}}}]
    proc, port, backend = start(remora, http_backends, access_log=access_log)
    resp = expect_rejected(port, data, status)
    assert resp.header("content-type") == "text/plain", resp
    proc.wait_stat("http.ingress_http.downstream_cx_protocol_error", lambda v: v == 1)
    assert backend.requests == []
    line = wait_until(lambda: log.exists() and log.read_text(), 5, what="access log line")
    assert line == f"{status} DPE {details}\n"
    assert_still_serving(port, backend, 0)


def test_oversized_headers_431(remora, http_backends):
    proc, port, backend = start(remora, http_backends)
    # Default max_request_headers_kb is 60: 59 KiB passes, 61 KiB is refused.
    ok = request_bytes(headers=[("x-big", "a" * (59 * 1024))])
    with RawHttp(port) as c:
        c.send(ok)
        resp = c.read_response()
    assert resp.status == 200, resp
    backend.wait_requests(1)
    expect_rejected(port, request_bytes(headers=[("x-big", "a" * (61 * 1024))]), 431)
    # Many small headers add up the same way.
    many = [(f"x-h{i}", "v" * 1000) for i in range(70)]
    expect_rejected(port, request_bytes(headers=many), 431)
    assert proc.stat("http.ingress_http.downstream_cx_protocol_error") == 2
    assert len(backend.requests) == 1
    assert_still_serving(port, backend, 1)


def test_max_request_headers_kb_configured(remora, http_backends):
    proc, port, backend = start(remora, http_backends, max_request_headers_kb=2)
    with RawHttp(port) as c:
        c.send(request_bytes(headers=[("x-big", "a" * 1500)]))
        assert c.read_response().status == 200
    expect_rejected(port, request_bytes(headers=[("x-big", "a" * 2100)]), 431)
    assert len(backend.requests) == 1


def test_max_headers_count(remora, http_backends):
    proc, port, backend = start(remora, http_backends,
                                common_http_protocol_options={"max_headers_count": 20})
    # Host plus 19 others is exactly the limit (Envoy counts the request's headers, Host included).
    with RawHttp(port) as c:
        c.send(request_bytes(headers=[(f"x-h{i}", "v") for i in range(19)]))
        assert c.read_response().status == 200
    expect_rejected(port, request_bytes(headers=[(f"x-h{i}", "v") for i in range(20)]), 431)
    assert len(backend.requests) == 1
    assert proc.stat("http.ingress_http.downstream_cx_protocol_error") == 1


def test_default_max_headers_count_is_100(remora, http_backends):
    proc, port, backend = start(remora, http_backends)
    expect_rejected(port, request_bytes(headers=[(f"x-h{i}", "v") for i in range(100)]), 431)
    assert backend.requests == []
    assert_still_serving(port, backend, 0)


def test_request_line_that_never_ends(remora, http_backends):
    """A request line longer than the header limit, never terminated: 431 once the limit passes
    (Envoy counts the request line against max_request_headers_kb), without waiting for more."""
    proc, port, backend = start(remora, http_backends, max_request_headers_kb=4)
    with RawHttp(port) as c:
        c.send(b"GET /" + b"a" * 8192)  # no CRLF, ever; the client keeps the connection open
        resp = c.read_response()
        assert resp is not None and resp.status == 431, resp
        c.read_to_close()
    assert backend.requests == []
    assert proc.stat("http.ingress_http.downstream_cx_protocol_error") == 1
    assert_still_serving(port, backend, 0)


def test_header_stream_that_never_ends(remora, http_backends):
    """Headers trickling in forever (each line valid) hit the size limit, not a memory limit."""
    proc, port, backend = start(remora, http_backends, max_request_headers_kb=8)
    with RawHttp(port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: test\r\n")
        sent = 0
        while sent < 16 * 1024 and c.send(b"x-more: " + b"m" * 100 + b"\r\n"):
            sent += 110
        resp = c.read_response()
        assert resp is not None and resp.status == 431, resp
        c.read_to_close()
    assert backend.requests == []


def test_stalled_headers_get_408_and_close(remora, http_backends):
    proc, port, backend = start(remora, http_backends, request_headers_timeout="0.5s")
    with RawHttp(port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: test\r\nx-partial: ")
        started = time.monotonic()
        resp = c.read_response()
        elapsed = time.monotonic() - started
        assert resp is not None and resp.status == 408, resp
        assert resp.header("connection") == "close", resp
        assert c.read_to_close(timeout=5) == b""
    assert 0.4 <= elapsed < 5, elapsed
    assert proc.stat("http.ingress_http.downstream_rq_header_timeout") == 1
    assert backend.requests == []
    assert_still_serving(port, backend, 0)


def test_request_headers_timeout_does_not_cut_a_slow_body(remora, http_backends):
    """The timer covers the head only: once the headers are in, a slow body is not a 408."""
    proc, port, backend = start(remora, http_backends, request_headers_timeout="0.3s")
    with RawHttp(port) as c:
        c.send(HEAD + b"Content-Length: 4\r\n\r\nab")
        # Wait past the headers timeout while the backend holds the half request.
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:
            assert c.is_open(wait=0.1), "closed while the body was arriving"
        c.send(b"cd")
        resp = c.read_response()
    assert resp.status == 200, resp
    assert backend.wait_requests(1)[0]["body_bytes"] == 4
    assert proc.stat("http.ingress_http.downstream_rq_header_timeout") == 0


def test_idle_connection_is_not_a_stalled_request(remora, http_backends):
    """request_headers_timeout starts with the first byte of a request, not with the connection."""
    proc, port, backend = start(remora, http_backends, request_headers_timeout="0.3s")
    with RawHttp(port) as c:
        assert c.is_open(wait=0.6)
        c.send(request_bytes())
        assert c.read_response().status == 200
        # ... and again between keep-alive requests.
        assert c.is_open(wait=0.6)
        c.send(request_bytes())
        assert c.read_response().status == 200
    assert proc.stat("http.ingress_http.downstream_rq_header_timeout") == 0


def test_http10_refused_with_426_by_default(remora, http_backends):
    proc, port, backend = start(remora, http_backends)
    resp = expect_rejected(port, b"GET / HTTP/1.0\r\nHost: test\r\n\r\n", 426)
    assert resp.body == b"Upgrade Required"
    assert backend.requests == []
    assert proc.stat("http.ingress_http.downstream_cx_protocol_error") == 1
    assert_still_serving(port, backend, 0)


def test_http10_served_when_accepted(remora, http_backends):
    proc, port, backend = start(remora, http_backends, http_protocol_options={
        "accept_http_10": True, "default_host_for_http_10": "legacy.example"})
    # Without keep-alive: one response, delimited by the close.
    with RawHttp(port) as c:
        c.send(b"GET /old HTTP/1.0\r\n\r\n" + SMUGGLED)
        resp = c.read_response()
        assert resp.status == 200, resp
        assert resp.version == "HTTP/1.0", resp
        assert c.read_to_close() == b""
    seen = backend.wait_requests(1)[0]
    assert seen["path"] == "/old"
    assert seen["headers"]["host"] == "legacy.example"
    # With keep-alive the connection stays open for the next request; Host wins over the default.
    # No 100 Continue to an HTTP/1.0 client (RFC 9110 §15.2): straight to the answer.
    with RawHttp(port) as c:
        c.send(b"POST /e HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi")
        resp = c.read_response(keep_1xx=True)
        assert resp.status == 200 and resp.version == "HTTP/1.0", resp
    with RawHttp(port) as c:
        c.send(b"GET /ka HTTP/1.0\r\nHost: given\r\nConnection: keep-alive\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 200 and resp.header("connection") == "keep-alive", resp
        c.send(b"GET /ka2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert c.read_response().status == 200
    reqs = backend.wait_requests(4)
    assert [(r["path"], r["headers"]["host"]) for r in reqs[2:]] == [
        ("/ka", "given"), ("/ka2", "legacy.example")]
    assert proc.stat("http.ingress_http.downstream_cx_protocol_error") == 0


def test_bad_request_after_a_good_one_on_the_same_connection(remora, http_backends):
    """A keep-alive connection whose second request is malformed: the first is answered, the
    second gets 400, the third (smuggled behind it) is never parsed."""
    proc, port, backend = start(remora, http_backends)
    with RawHttp(port) as c:
        c.send(request_bytes(path="/first") + HEAD + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nxy"
               + SMUGGLED)
        first = c.read_response()
        assert first.status == 200, first
        second = c.read_response()
        assert second.status == 400, second
        assert c.read_to_close() == b""
    assert [r["path"] for r in backend.wait_requests(1)] == ["/first"]
    assert proc.stat("http.ingress_http.downstream_cx_protocol_error") == 1


def test_many_hostile_connections_in_a_row(remora, http_backends):
    proc, port, backend = start(remora, http_backends)
    for _, data, status, _ in CASES * 2:
        expect_rejected(port, data, status)
    assert proc.stat("http.ingress_http.downstream_cx_protocol_error") == 2 * len(CASES)
    assert backend.requests == []
    assert_still_serving(port, backend, 0)


@pytest.mark.parametrize("host", ["a b", "a/b", "evil.com?x", "a\\b", "a{b}", "a\"b"])
def test_invalid_authority_is_400(remora, http_backends, host):
    """Envoy checks :authority characters (as nghttp2 does) before any filter runs."""
    proc, port, backend = start(remora, http_backends)
    with RawHttp(port) as c:
        c.send(f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        resp = c.read_response()
        assert resp.status == 400 and resp.body == b"Bad Request", resp
        # Not a codec error: the connection carries on.
        c.send(request_bytes(path="/after"))
        assert c.read_response().status == 200
    assert [r["path"] for r in backend.requests] == ["/after"]


@pytest.mark.parametrize("request_line", [b"OPTIONS * HTTP/1.1"])
def test_non_relative_path_never_reaches_a_route(remora, http_backends, request_line):
    """Even a route matching any path at all must not see a request without an origin-form path:
    Envoy answers 404 before the filter chain (downstream_rq_non_relative_path)."""
    from conftest import bootstrap, free_ports, static_cluster
    from http_harness import http_listener, route, vhost
    backend = http_backends("nonrel")
    port, admin = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route({"safe_regex": {"regex": ".*"}}, cluster="nonrel")])]}
    proc = remora(bootstrap([http_listener("http", port, rc)], [static_cluster("nonrel", [backend.port])],
                            admin))
    with RawHttp(port) as c:
        c.send(request_line + b"\r\nHost: example.com:443\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 404, resp
        c.send(request_bytes(path="/after"))
        assert c.read_response().status == 200
    assert [r["path"] for r in backend.requests] == ["/after"]
    assert proc.stat("http.ingress_http.downstream_rq_non_relative_path") == 1


def test_connect_without_an_upgrade_config_never_reaches_a_route(remora, http_backends):
    """A CONNECT has no path; it is an upgrade nobody enabled: Envoy's 403 before any route (even
    one matching every path) sees it, and the connection ends (test_connect.py has the rest)."""
    from conftest import bootstrap, free_ports, static_cluster
    from http_harness import http_listener, route, vhost
    backend = http_backends("nonrel")
    port, admin = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route({"safe_regex": {"regex": ".*"}}, cluster="nonrel")])]}
    proc = remora(bootstrap([http_listener("http", port, rc)], [static_cluster("nonrel", [backend.port])],
                            admin))
    with RawHttp(port) as c:
        c.send(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 403, resp
        c.read_to_close()
    assert backend.requests == []
    assert proc.stat("http.ingress_http.downstream_rq_ws_on_non_ws_route") == 1
