"""Circuit breakers (cluster.circuit_breakers), as Envoy documents them: each limit overflows at
exactly the configured number with real concurrent clients against a slow backend; overflowed
requests get Envoy's 503 with x-envoy-overloaded and the UO flag; the overflow counters and the
circuit_breakers.<priority>.* gauges agree; retries stop at max_retries and at the retry budget;
tcp_proxy honours max_connections."""

import threading

import pytest

from conftest import (bootstrap, closed_by_peer, connect, free_ports, recv_exactly,
                      static_cluster, tcp_listener, wait_until, Backend, run_remora)
from http_harness import (file_access_log, http_listener, read_log_lines, request_bytes, route,
                          vhost, RawHttp)

OVERFLOW_BODY = b"upstream connect error or disconnect/reset before headers. reset reason: overflow"
CB = "cluster.b.circuit_breakers."


def thresholds(*entries):
    return {"circuit_breakers": {"thresholds": list(entries)}}


def proxy(remora, tmp_path, backend, cluster_extra, routes=None, concurrency=1):
    """remora routing / to cluster "b" (the backend), with an access log of status and flags."""
    listener_port, admin_port = free_ports(2)
    routes = routes or [route(cluster="b")]
    rc = {"virtual_hosts": [vhost(routes=routes)]}
    log = tmp_path / "access.log"
    hcm_extra = {"access_log": [file_access_log(log, "%RESPONSE_CODE% %RESPONSE_FLAGS%\n")]}
    cfg = bootstrap([http_listener("http", listener_port, rc, hcm_extra=hcm_extra)],
                    [static_cluster("b", [backend.port], **cluster_extra)], admin_port)
    return remora(cfg, concurrency=concurrency), listener_port, log


def request(port, path="/", headers=()):
    with RawHttp(port, timeout=15) as c:
        c.send(request_bytes(path=path, headers=list(headers)))
        return c.read_response()


def fire(port, n, headers=(), path="/"):
    """Starts n concurrent requests, each on its own connection; returns (threads, results)."""
    results = [None] * n

    def one(i):
        results[i] = request(port, path, headers)

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    return threads, results


def join(threads, results):
    for t in threads:
        t.join(timeout=20)
    assert all(r is not None for r in results), "a client got no response"
    return results


def assert_overflow_reply(resp):
    assert resp.status == 503
    assert resp.header("x-envoy-overloaded") == "true"
    assert resp.body == OVERFLOW_BODY


def test_max_requests_overflows_at_exactly_the_limit_across_workers(remora, http_backends,
                                                                    tmp_path):
    backend = http_backends("b")
    proc, port, log = proxy(remora, tmp_path, backend, thresholds(
        {"max_requests": 5, "track_remaining": True}), concurrency=2)
    assert proc.stat(CB + "default.remaining_rq") == 5
    assert proc.stat(CB + "default.rq_open") == 0
    threads, results = fire(port, 8, [("x-backend-delay-ms", "1500")])
    # While the five are upstream the breaker is open and nothing remains.
    proc.wait_stat("cluster.b.upstream_rq_pending_overflow", lambda v: v == 3)
    proc.wait_stat("cluster.b.upstream_rq_active", lambda v: v == 5)
    assert proc.stat(CB + "default.rq_open") == 1
    assert proc.stat(CB + "default.remaining_rq") == 0
    results = join(threads, results)
    ok = [r for r in results if r.status == 200]
    overflowed = [r for r in results if r.status != 200]
    assert len(ok) == 5 and len(overflowed) == 3
    for r in overflowed:
        assert_overflow_reply(r)
    assert len(backend.requests) == 5
    stats = proc.stats()
    assert stats["cluster.b.upstream_rq_pending_overflow"] == 3
    assert stats["cluster.b.upstream_rq_503"] == 3
    proc.wait_stat(CB + "default.rq_open", lambda v: v == 0)
    proc.wait_stat(CB + "default.remaining_rq", lambda v: v == 5)
    lines = sorted(read_log_lines(log, 8))
    assert lines == ["200 -"] * 5 + ["503 UO"] * 3


def test_pending_limit_with_connection_limit(remora, http_backends, tmp_path):
    backend = http_backends("b")
    proc, port, log = proxy(remora, tmp_path, backend, thresholds(
        {"max_connections": 2, "max_pending_requests": 2, "track_remaining": True}))
    slow = [("x-backend-delay-ms", "1500")]
    first, first_results = fire(port, 2, slow)
    proc.wait_stat("cluster.b.upstream_rq_active", lambda v: v == 2)
    assert proc.stat(CB + "default.cx_open") == 1
    assert proc.stat(CB + "default.remaining_cx") == 0
    # Six more: no connection may open, two wait, four are refused at once.
    more, more_results = fire(port, 6, slow)
    proc.wait_stat("cluster.b.upstream_rq_pending_overflow", lambda v: v == 4)
    proc.wait_stat("cluster.b.upstream_rq_pending_active", lambda v: v == 2)
    assert proc.stat(CB + "default.rq_pending_open") == 1
    assert proc.stat(CB + "default.remaining_pending") == 0
    results = join(first, first_results) + join(more, more_results)
    assert sorted(r.status for r in results) == [200] * 4 + [503] * 4
    for r in results:
        if r.status == 503:
            assert_overflow_reply(r)
    stats = proc.stats()
    # Each waiting request wanted a connection the limit refused; only two ever opened.
    assert stats["cluster.b.upstream_cx_overflow"] == 2
    assert stats["cluster.b.upstream_cx_total"] == 2
    assert stats["cluster.b.upstream_rq_pending_overflow"] == 4
    assert stats["cluster.b.upstream_rq_pending_total"] == 4
    proc.wait_stat(CB + "default.rq_pending_open", lambda v: v == 0)
    assert proc.stat(CB + "default.remaining_pending") == 2
    # The two keep-alive connections still hold the connection limit.
    assert proc.stat(CB + "default.cx_open") == 1
    assert sorted(read_log_lines(log, 8)) == ["200 -"] * 4 + ["503 UO"] * 4


RETRY = {"retry_on": "5xx", "num_retries": 1,
         "retry_back_off": {"base_interval": "0.001s", "max_interval": "0.002s"}}


def failing_twice(key):
    # Both the first attempt and its retry answer 503 after 800 ms: a retry holds its slot in the
    # retry breaker for as long as the retried attempt runs.
    return [("x-backend-status", "503"), ("x-backend-fail-times", "2"),
            ("x-backend-fail-key", key), ("x-backend-delay-ms", "800")]


def fire_keyed(port, keys):
    results = {}

    def one(k):
        results[k] = request(port, headers=failing_twice(k))

    threads = [threading.Thread(target=one, args=(k,), daemon=True) for k in keys]
    for t in threads:
        t.start()
    return threads, results


def test_max_retries_limits_concurrent_retries(remora, http_backends, tmp_path):
    backend = http_backends("b")
    proc, port, log = proxy(remora, tmp_path, backend,
                            thresholds({"max_retries": 2, "track_remaining": True}),
                            routes=[route(cluster="b", retry_policy=RETRY)])
    assert proc.stat(CB + "default.remaining_retries") == 2
    keys = [f"k{i}" for i in range(5)]
    threads, results = fire_keyed(port, keys)
    proc.wait_stat("cluster.b.upstream_rq_retry_overflow", lambda v: v == 3)
    proc.wait_stat(CB + "default.rq_retry_open", lambda v: v == 1)
    assert proc.stat(CB + "default.remaining_retries") == 0
    for t in threads:
        t.join(timeout=20)
    # Every client gets the backend's own 503: three because no retry was allowed, two after
    # their retry failed too. None is an overflow reply.
    assert sorted(r.status for r in results.values()) == [503] * 5
    assert all(r.header("x-envoy-overloaded") is None for r in results.values())
    stats = proc.stats()
    assert stats["cluster.b.upstream_rq_retry"] == 2
    assert stats["cluster.b.upstream_rq_retry_overflow"] == 3
    assert stats["cluster.b.upstream_rq_retry_limit_exceeded"] == 2
    per_key = {k: sum(1 for r in backend.requests if r["headers"].get("x-backend-fail-key") == k)
               for k in keys}
    assert sorted(per_key.values()) == [1, 1, 1, 2, 2]
    proc.wait_stat(CB + "default.rq_retry_open", lambda v: v == 0)
    assert proc.stat(CB + "default.remaining_retries") == 2
    # The refused retries are flagged UO; the exhausted ones URX.
    assert sorted(read_log_lines(log, 5)) == ["503 UO"] * 3 + ["503 URX"] * 2


def test_retry_budget_follows_active_requests(remora, http_backends, tmp_path):
    backend = http_backends("b")
    budget = {"budget_percent": {"value": 20.0}, "min_retry_concurrency": 1}
    proc, port, _ = proxy(remora, tmp_path, backend,
                          thresholds({"max_retries": 100, "retry_budget": budget}),
                          routes=[route(cluster="b", retry_policy=RETRY)])
    # Ten long requests keep the active count at 10 or more: 20% of 10..14 allows 2 retries
    # (max_retries 100 does not apply under a budget).
    background, background_results = fire(port, 10, [("x-backend-delay-ms", "3000")])
    proc.wait_stat("cluster.b.upstream_rq_active", lambda v: v == 10)
    threads, results = fire_keyed(port, [f"k{i}" for i in range(4)])
    for t in threads:
        t.join(timeout=20)
    stats = proc.stats()
    assert stats["cluster.b.upstream_rq_retry"] == 2
    assert stats["cluster.b.upstream_rq_retry_overflow"] == 2
    assert sorted(r.status for r in results.values()) == [503] * 4
    assert [r.status for r in join(background, background_results)] == [200] * 10


def test_high_priority_route_uses_high_thresholds(remora, http_backends, tmp_path):
    backend = http_backends("b")
    routes = [route(match={"prefix": "/high"}, cluster="b", priority="HIGH"),
              route(cluster="b")]
    proc, port, log = proxy(remora, tmp_path, backend, thresholds(
        {"priority": "HIGH", "max_requests": 1}, {"max_requests": 10}), routes=routes)
    slow = [("x-backend-delay-ms", "1000")]
    high, high_results = fire(port, 3, slow, path="/high")
    default, default_results = fire(port, 3, slow, path="/default")
    high_results = join(high, high_results)
    default_results = join(default, default_results)
    assert sorted(r.status for r in high_results) == [200, 503, 503]
    assert [r.status for r in default_results] == [200] * 3
    assert proc.stat("cluster.b.upstream_rq_pending_overflow") == 2
    assert proc.stat(CB + "high.rq_open") == 0
    assert proc.stat(CB + "default.rq_open") == 0


def hold_open(conn):
    """Backend handler: echo once, then hold the connection until the peer closes."""
    data = conn.recv(1)
    conn.sendall(data)
    while conn.recv(4096):
        pass


def test_tcp_proxy_max_connections(remora, tmp_path):
    backend = Backend(hold_open)
    try:
        listener_port, admin_port = free_ports(2)
        cfg = bootstrap([tcp_listener("tcp", listener_port, "b")],
                        [static_cluster("b", [backend.port],
                                        **thresholds({"max_connections": 2,
                                                      "track_remaining": True}))], admin_port)
        proc = remora(cfg)
        clients = [connect(listener_port) for _ in range(2)]
        for c in clients:
            c.sendall(b"x")
            assert recv_exactly(c, 1) == b"x"
        assert proc.stat(CB + "default.cx_open") == 1
        assert proc.stat(CB + "default.remaining_cx") == 0
        third = connect(listener_port)
        assert closed_by_peer(third)
        assert proc.stat("cluster.b.upstream_cx_overflow") == 1
        assert backend.accepted == 2
        # A slot frees when a connection ends.
        clients[0].close()
        proc.wait_stat(CB + "default.cx_open", lambda v: v == 0)
        fourth = connect(listener_port)
        fourth.sendall(b"y")
        assert recv_exactly(fourth, 1) == b"y"
        for c in (clients[1], third, fourth):
            c.close()
    finally:
        backend.close()


def test_unsupported_circuit_breaker_fields_are_rejected(tmp_path):
    import json
    port, = free_ports(1)
    for extra in ({"per_host_thresholds": [{"max_connections": 1}]},
                  {"thresholds": [{"max_connection_pools": 1}]}):
        cfg = bootstrap([tcp_listener("tcp", port, "b")],
                        [static_cluster("b", [port], circuit_breakers=extra)])
        path = tmp_path / "cfg.yaml"
        path.write_text(json.dumps(cfg))
        result = run_remora(["-c", str(path), "--mode", "validate"])
        assert result.returncode != 0
        assert "not supported by remora" in result.stdout + result.stderr
