"""Upstream failures, timeouts and connection pools end to end: Envoy's local replies (status,
body byte for byte), response flags (NR, UH, UF, UC, UT, SI) and cluster stats for each, and the
HTTP/1 pool's keep-alive reuse, max_requests_per_connection and idle timeout."""

import http.client
import socket
import subprocess
import time

import pytest

from conftest import bootstrap, curl, free_port, free_ports, static_cluster
from http_harness import (RawHttp, RawRequestReader, file_access_log, http_listener, request_bytes,
                          route, vhost, wait_log_lines)

LOG_FORMAT = ("%RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_REQUEST_ATTEMPT_COUNT% "
              "%RESPONSE_CODE_DETAILS% %UPSTREAM_TRANSPORT_FAILURE_REASON%\n")


def start(remora, clusters, route_config, log=None, **hcm_extra):
    port, admin = free_ports(2)
    made = [c if isinstance(c, dict) else static_cluster(c.name, [c.port]) for c in clusters]
    if log is not None:
        hcm_extra["access_log"] = [file_access_log(log, LOG_FORMAT)]
    proc = remora(bootstrap([http_listener("http", port, route_config, hcm_extra=hcm_extra)],
                            made, admin))
    return proc, port


def get(port, path="/", headers=(), method="GET", timeout=10.0, data=None):
    resp = curl(f"http://127.0.0.1:{port}{path}", method=method,
                headers=[f"{k}: {v}" for k, v in headers], data=data, timeout=timeout)
    assert resp is not None, f"{method} {path}: connection failed"
    return resp


# Envoy honours its x-envoy-* control headers only on internal requests (cleanInternalHeaders
# strips them from others): one internal address in x-forwarded-for makes the request internal.
INTERNAL = ("x-forwarded-for", "10.0.0.7")


def one_route(cluster, **action):
    return {"virtual_hosts": [vhost(routes=[route(cluster=cluster, **action)])]}


def http_options(**common):
    """A cluster's typed_extension_protocol_options with HTTP/1 and these common options."""
    return {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "common_http_protocol_options": common,
        "explicit_http_config": {"http_protocol_options": {}}}}


# --------------------------------------------------------------------------------------------
# Local replies for upstream failures


def test_no_healthy_upstream_503_uh(remora, tmp_path):
    log = tmp_path / "access.log"
    empty = {"name": "empty", "type": "STATIC", "connect_timeout": "1s",
             "load_assignment": {"cluster_name": "empty", "endpoints": []}}
    proc, port = start(remora, [empty], one_route("empty"), log=log)
    resp = get(port)
    assert (resp.status, resp.body) == (503, "no healthy upstream")
    assert resp.headers["content-type"] == "text/plain"
    stats = proc.stats()
    assert stats["cluster.empty.upstream_cx_none_healthy"] == 1
    assert stats["cluster.empty.upstream_rq_503"] == 1
    assert wait_log_lines(log, 1) == ["503 UH 0 no_healthy_upstream -"]


def test_connect_refused_503_uf(remora, tmp_path):
    log = tmp_path / "access.log"
    dead = static_cluster("dead", [free_port()])
    proc, port = start(remora, [dead], one_route("dead"), log=log)
    resp = get(port)
    assert resp.status == 503
    assert resp.body == ("upstream connect error or disconnect/reset before headers. reset reason: "
                         "remote connection failure, transport failure reason: delayed connect "
                         "error: Connection refused")
    stats = proc.stats()
    assert stats["cluster.dead.upstream_cx_connect_fail"] == 1
    assert stats["cluster.dead.upstream_rq_503"] == 1
    assert wait_log_lines(log, 1) == [
        "503 UF 1 upstream_reset_before_response_started{remote_connection_failure,delayed_connect_"
        "error:_Connection_refused} delayed_connect_error:_Connection_refused"]


def test_upstream_closes_before_headers_503_uc(remora, http_backends, tmp_path):
    b1 = http_backends("b1")
    log = tmp_path / "access.log"
    proc, port = start(remora, [b1], one_route("b1"), log=log)
    resp = get(port, headers=[("x-backend-reset", "1")])
    assert resp.status == 503
    assert resp.body == ("upstream connect error or disconnect/reset before headers. reset reason: "
                         "connection termination")
    assert len(b1.requests) == 1  # a fresh connection: nothing to re-send
    assert proc.stats()["cluster.b1.upstream_rq_503"] == 1
    assert wait_log_lines(log, 1) == [
        "503 UC 1 upstream_reset_before_response_started{connection_termination} -"]


def test_upstream_closes_mid_response_uc(remora, http_backends, tmp_path):
    """Headers went out already: the client's stream is reset, the log says UC. As Envoy, what
    was written for the client before the reset is flushed before the close: the head and the
    1000 bytes, then the connection ends."""
    b1 = http_backends("b1")
    log = tmp_path / "access.log"
    proc, port = start(remora, [b1], one_route("b1"), log=log)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/", headers={"x-backend-body-bytes": "100000", "x-backend-truncate": "1000"})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("content-length") == "100000"
    with pytest.raises(http.client.IncompleteRead) as err:
        resp.read()
    assert len(err.value.partial) == 1000
    conn.close()
    assert wait_log_lines(log, 1) == [
        "200 UC 1 upstream_reset_after_response_started{connection_termination} -"]
    # Remora still serves afterwards.
    assert get(port).status == 200


def test_reset_flushes_what_was_queued_in_the_same_read(remora, backends, tmp_path):
    """The response head, part of the body and the upstream's FIN reach remora in one segment
    (TCP_CORK), so all of it is queued for the client when the reset comes: the client still
    receives every byte of it before the connection closes."""
    def truncating(conn):
        RawRequestReader(conn).read_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000)
        conn.close()  # uncorks: the data and the FIN leave together

    b1 = backends(truncating)
    log = tmp_path / "access.log"
    proc, port = start(remora, [static_cluster("b1", [b1.port])], one_route("b1"), log=log)
    with RawHttp(port) as c:
        c.send(request_bytes("GET", "/"))
        head = c.read_head()
        assert head is not None and head.status == 200, head
        assert head.header("content-length") == "100000"
        body = c.read_to_close()
    assert body == b"x" * 5000
    assert wait_log_lines(log, 1) == [
        "200 UC 1 upstream_reset_after_response_started{connection_termination} -"]


# --------------------------------------------------------------------------------------------
# Timeouts


def timed_get(port, path="/", headers=()):
    t0 = time.monotonic()
    resp = get(port, path, headers)
    return resp, time.monotonic() - t0


def test_route_timeout_504_ut(remora, http_backends, tmp_path):
    b1 = http_backends("b1")
    log = tmp_path / "access.log"
    proc, port = start(remora, [b1], one_route("b1", timeout="0.4s"), log=log)
    resp, elapsed = timed_get(port, headers=[("x-backend-delay-ms", "3000")])
    assert (resp.status, resp.body) == (504, "upstream request timeout")
    assert 0.35 <= elapsed < 2.5, elapsed
    stats = proc.stats()
    assert stats["cluster.b1.upstream_rq_timeout"] == 1
    assert stats["cluster.b1.upstream_rq_504"] == 1
    assert wait_log_lines(log, 1) == ["504 UT 1 upstream_response_timeout -"]


def test_route_timeout_starts_when_request_complete(remora, http_backends):
    """Envoy arms the route timeout once the whole request has arrived: a slow upload does not
    use up the upstream's time."""
    b1 = http_backends("b1")
    _, port = start(remora, [b1], one_route("b1", timeout="0.5s"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12345")
        time.sleep(1.0)  # pacing the upload, not synchronising: the timer must not run yet
        s.sendall(b"67890")
        head = s.recv(65536)
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert b1.requests[0]["body_bytes"] == 10


def test_route_timeout_zero_disables(remora, http_backends):
    b1 = http_backends("b1")
    _, port = start(remora, [b1], one_route("b1", timeout="0s"))
    resp = get(port, headers=[("x-backend-delay-ms", "600")])
    assert resp.status == 200
    assert "x-envoy-expected-rq-timeout-ms" not in b1.requests[0]["headers"]


def test_timeout_request_header(remora, http_backends):
    b1 = http_backends("b1")
    proc, port = start(remora, [b1], one_route("b1"))  # the default route timeout: 15 s
    resp, elapsed = timed_get(port, headers=[("x-envoy-upstream-rq-timeout-ms", "300"),
                                             ("x-backend-delay-ms", "3000"), INTERNAL])
    assert (resp.status, resp.body) == (504, "upstream request timeout")
    assert elapsed < 2.5, elapsed
    # The upstream sees the budget it has, not the control header.
    ok = get(port, headers=[("x-envoy-upstream-rq-timeout-ms", "2500"), INTERNAL])
    seen = b1.requests[-1]["headers"]
    assert ok.status == 200
    assert seen["x-envoy-expected-rq-timeout-ms"] == "2500"
    assert "x-envoy-upstream-rq-timeout-ms" not in seen
    default = get(port)
    assert default.status == 200
    assert b1.requests[-1]["headers"]["x-envoy-expected-rq-timeout-ms"] == "15000"


def test_per_try_timeout_504_ut(remora, http_backends, tmp_path):
    b1 = http_backends("b1")
    log = tmp_path / "access.log"
    rc = one_route("b1", timeout="10s", retry_policy={
        "retry_on": "5xx", "num_retries": 1, "per_try_timeout": "0.3s",
        "retry_back_off": {"base_interval": "0.001s"}})
    proc, port = start(remora, [b1], rc, log=log)
    resp, elapsed = timed_get(port, headers=[("x-backend-delay-ms", "3000")])
    assert (resp.status, resp.body) == (504, "upstream request timeout")
    assert 0.55 <= elapsed < 2.5, elapsed  # two tries of 0.3 s each
    stats = proc.stats()
    assert stats["cluster.b1.upstream_rq_per_try_timeout"] == 2
    assert stats.get("cluster.b1.upstream_rq_timeout", 0) == 0  # the route timeout never fired
    assert stats["cluster.b1.upstream_rq_retry"] == 1
    assert stats["cluster.b1.upstream_rq_retry_limit_exceeded"] == 1
    assert stats["cluster.b1.upstream_rq_504"] == 1
    assert len(b1.requests) == 2
    # x-envoy-expected-rq-timeout-ms is the per-try budget.
    assert b1.requests[0]["headers"]["x-envoy-expected-rq-timeout-ms"] == "300"
    assert wait_log_lines(log, 1) == ["504 UT,URX 2 upstream_per_try_timeout -"]


def test_per_try_timeout_header_without_retries(remora, http_backends):
    b1 = http_backends("b1")
    proc, port = start(remora, [b1], one_route("b1"))
    resp, elapsed = timed_get(port, headers=[("x-envoy-upstream-rq-per-try-timeout-ms", "300"),
                                             ("x-backend-delay-ms", "3000"), INTERNAL])
    assert resp.status == 504 and elapsed < 2.5
    assert proc.stats()["cluster.b1.upstream_rq_per_try_timeout"] == 1
    assert len(b1.requests) == 1


def test_per_try_timeout_not_shorter_than_route_timeout_is_ignored(remora, http_backends):
    b1 = http_backends("b1")
    rc = one_route("b1", timeout="0.4s", retry_policy={"retry_on": "5xx", "per_try_timeout": "5s"})
    proc, port = start(remora, [b1], rc)
    resp = get(port, headers=[("x-backend-delay-ms", "3000")])
    assert resp.status == 504
    stats = proc.stats()
    assert stats["cluster.b1.upstream_rq_timeout"] == 1
    assert stats.get("cluster.b1.upstream_rq_per_try_timeout", 0) == 0
    assert b1.requests[0]["headers"]["x-envoy-expected-rq-timeout-ms"] == "400"


def test_route_idle_timeout_504_si(remora, http_backends, tmp_path):
    """The route's idle_timeout replaces the stream idle timeout; the request is complete, so
    the reply is Envoy's 504 "stream timeout" with SI."""
    b1 = http_backends("b1")
    log = tmp_path / "access.log"
    rc = {"virtual_hosts": [vhost(routes=[
        route({"prefix": "/idle"}, cluster="b1", timeout="10s", idle_timeout="0.3s"),
        route({"prefix": "/off"}, cluster="b1", idle_timeout="0s"),
        route({"prefix": "/"}, cluster="b1"),
    ])]}
    proc, port = start(remora, [b1], rc, log=log, stream_idle_timeout="0.4s")
    resp, elapsed = timed_get(port, "/idle", headers=[("x-backend-delay-ms", "3000")])
    assert (resp.status, resp.body) == (504, "stream timeout")
    assert 0.25 <= elapsed < 2.5, elapsed
    assert proc.stats()["http.ingress_http.downstream_rq_idle_timeout"] == 1
    # idle_timeout 0 turns the HCM's stream_idle_timeout (0.4 s) off for the route.
    assert get(port, "/off", headers=[("x-backend-delay-ms", "800")]).status == 200
    # Other routes keep the HCM's.
    assert get(port, "/", headers=[("x-backend-delay-ms", "3000")]).status == 504
    lines = wait_log_lines(log, 3)
    assert lines[0] == "504 SI 1 stream_idle_timeout -"
    assert lines[1].startswith("200 - 1 via_upstream")


# --------------------------------------------------------------------------------------------
# Connection pools


def test_keepalive_reuse_under_load(remora, http_backends):
    b1 = http_backends("b1")
    proc, port = start(remora, [b1], one_route("b1"))
    out = subprocess.run(["wrk", "-t1", "-c4", "-d1s", f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Non-2xx" not in out.stdout and "Socket errors" not in out.stdout, out.stdout
    stats = proc.stats()
    requests = stats["cluster.b1.upstream_rq_200"]
    assert requests >= 100, out.stdout
    # wrk keeps 4 connections busy: the pool needs at most 4 upstream connections for them all.
    assert stats["cluster.b1.upstream_cx_total"] <= 4, stats["cluster.b1.upstream_cx_total"]
    # wrk stops with up to one request in flight per connection; those never complete.
    assert 0 <= stats["cluster.b1.upstream_rq_total"] - requests <= 4


def test_max_requests_per_connection(remora, http_backends):
    b1 = http_backends("b1")
    cluster = static_cluster("b1", [b1.port],
                             typed_extension_protocol_options=http_options(max_requests_per_connection=3))
    proc, port = start(remora, [cluster], one_route("b1"))
    for _ in range(9):
        assert get(port).status == 200
    proc.wait_stat("cluster.b1.upstream_cx_max_requests", lambda v: v == 3)
    stats = proc.stats()
    assert stats["cluster.b1.upstream_cx_total"] == 3
    ports = [r["peer_port"] for r in b1.requests]
    assert [ports.count(p) for p in dict.fromkeys(ports)] == [3, 3, 3]


def test_upstream_idle_timeout_closes_pooled_connection(remora, http_backends):
    b1 = http_backends("b1")
    cluster = static_cluster("b1", [b1.port],
                             typed_extension_protocol_options=http_options(idle_timeout="0.3s"))
    proc, port = start(remora, [cluster], one_route("b1"))
    assert get(port).status == 200
    proc.wait_stat("cluster.b1.upstream_cx_idle_timeout", lambda v: v == 1)
    assert proc.stats()["cluster.b1.upstream_cx_active"] == 0
    assert get(port).status == 200
    stats = proc.stats()
    assert stats["cluster.b1.upstream_cx_total"] == 2
    assert b1.requests[0]["peer_port"] != b1.requests[1]["peer_port"]


def test_keepalive_race_resent_on_fresh_connection(remora, http_backends):
    """A pooled connection the upstream closes before answering: an idempotent request goes
    again on a new connection, and that is not a retry in Envoy's accounting."""
    b1 = http_backends("b1")
    proc, port = start(remora, [b1], one_route("b1"))
    assert get(port).status == 200  # pools a connection
    resp = get(port, headers=[("x-backend-reset", "1"), ("x-backend-fail-times", "1"),
                              ("x-backend-fail-key", "race")])
    assert resp.status == 200, resp
    stats = proc.stats()
    assert stats["cluster.b1.upstream_cx_total"] == 2
    assert stats.get("cluster.b1.upstream_rq_retry", 0) == 0
    assert len(b1.requests) == 3
    # A POST with a body that was written is not safe to send twice: 503 UC instead.
    assert get(port).status == 200
    resp = get(port, method="POST", data=b"payload",
               headers=[("x-backend-reset", "1"), ("x-backend-fail-times", "1"),
                        ("x-backend-fail-key", "post")])
    assert resp.status == 503, resp
    assert b1.fail_counts["post"] == 1
