"""Retries end to end: each retry_on condition against a real backend that fails the first
attempt(s) (x-backend-fail-times), Envoy's retry stats (upstream_rq_retry, _success,
_limit_exceeded, retry.upstream_rq_<code>), URX, back-off, the previous_hosts predicate, the
x-envoy-* request headers, and the request body replayed intact."""

import collections
import hashlib
import time

import pytest

from conftest import bootstrap, curl, free_port, free_ports, pattern, static_cluster
from http_harness import file_access_log, http_listener, route, vhost, wait_log_lines

FAST_BACK_OFF = {"base_interval": "0.001s", "max_interval": "0.002s"}


def start(remora, clusters, route_config, log=None, **hcm_extra):
    port, admin = free_ports(2)
    made = [c if isinstance(c, dict) else static_cluster(c.name, [c.port]) for c in clusters]
    if log is not None:
        hcm_extra["access_log"] = [file_access_log(log)]
    proc = remora(bootstrap([http_listener("http", port, route_config, hcm_extra=hcm_extra)],
                            made, admin))
    return proc, port


def retry_route(cluster="b1", **policy):
    policy.setdefault("retry_back_off", FAST_BACK_OFF)
    return {"virtual_hosts": [vhost(routes=[route(cluster=cluster, retry_policy=policy)])]}


# Envoy honours its x-envoy-* control headers only on internal requests (cleanInternalHeaders
# strips them from others): one internal address in x-forwarded-for makes the request internal.
INTERNAL = [("x-forwarded-for", "10.0.0.7")]


def failing(status, times=1, key="k", **more):
    headers = [("x-backend-status", str(status)), ("x-backend-fail-times", str(times)),
               ("x-backend-fail-key", key)]
    return headers + [(k, v) for k, v in more.items()]


def get(port, headers=(), method="GET", data=None, path="/"):
    resp = curl(f"http://127.0.0.1:{port}{path}", method=method,
                headers=[f"{k}: {v}" for k, v in headers], data=data,
                timeout=20)
    assert resp is not None, "connection failed"
    return resp


def test_503_once_becomes_200(remora, http_backends, tmp_path):
    b1 = http_backends("b1")
    log = tmp_path / "access.log"
    proc, port = start(remora, [b1], retry_route(retry_on="5xx", num_retries=2), log=log)
    resp = get(port, failing(503))
    assert resp.status == 200, resp
    assert [r["backend"] for r in b1.requests] == ["b1", "b1"]
    stats = proc.stats()
    assert stats["cluster.b1.upstream_rq_retry"] == 1
    assert stats["cluster.b1.upstream_rq_retry_success"] == 1
    # Envoy counts the retried response under retry.* only; the client's answer under the
    # plain names.
    assert stats["cluster.b1.retry.upstream_rq_503"] == 1
    assert stats["cluster.b1.retry.upstream_rq_5xx"] == 1
    assert stats["cluster.b1.retry.upstream_rq_completed"] == 1
    assert stats.get("cluster.b1.upstream_rq_503", 0) == 0
    assert stats["cluster.b1.upstream_rq_200"] == 1
    assert stats["cluster.b1.upstream_rq_completed"] == 1
    assert stats["cluster.b1.upstream_rq_total"] == 2
    assert wait_log_lines(log, 1) == ["200 - 2 via_upstream"]


@pytest.mark.parametrize("retry_on,codes,status,retried", [
    ("5xx", [], 500, True),
    ("5xx", [], 503, True),
    ("5xx", [], 404, False),
    ("gateway-error", [], 502, True),
    ("gateway-error", [], 504, True),
    ("gateway-error", [], 500, False),
    ("retriable-4xx", [], 409, True),
    ("retriable-4xx", [], 404, False),
    ("retriable-status-codes", [418, 429], 429, True),
    ("retriable-status-codes", [418], 500, False),
    ("connect-failure", [], 503, False),
    ("reset", [], 503, False),
])
def test_retry_on_status(remora, http_backends, retry_on, codes, status, retried):
    b1 = http_backends("b1")
    policy = {"retry_on": retry_on, "num_retries": 1}
    if codes:
        policy["retriable_status_codes"] = codes
    proc, port = start(remora, [b1], retry_route(**policy))
    resp = get(port, failing(status))
    stats = proc.stats()
    if retried:
        assert resp.status == 200, resp
        assert stats["cluster.b1.upstream_rq_retry"] == 1
        assert stats[f"cluster.b1.retry.upstream_rq_{status}"] == 1
    else:
        assert resp.status == status, resp
        assert stats.get("cluster.b1.upstream_rq_retry", 0) == 0
        assert stats[f"cluster.b1.upstream_rq_{status}"] == 1
    assert len(b1.requests) == (2 if retried else 1)


def test_retry_on_reset(remora, http_backends):
    b1 = http_backends("b1")
    proc, port = start(remora, [b1], retry_route(retry_on="reset", num_retries=1))
    resp = get(port, failing(200, **{"x-backend-reset": "1"}))
    assert resp.status == 200
    assert proc.stats()["cluster.b1.upstream_rq_retry"] == 1
    assert len(b1.requests) == 2


def test_no_retry_on_reset_without_policy_for_it(remora, http_backends):
    b1 = http_backends("b1")
    proc, port = start(remora, [b1], retry_route(retry_on="retriable-4xx", num_retries=1))
    resp = get(port, failing(200, **{"x-backend-reset": "1"}))
    assert resp.status == 503
    assert "reset reason: connection termination" in resp.body


def test_connect_failure_retried_to_live_endpoint(remora, http_backends):
    b1 = http_backends("b1")
    mixed = static_cluster("mixed", [free_port(), b1.port])
    proc, port = start(remora, [mixed], retry_route("mixed", retry_on="connect-failure", num_retries=1))
    for _ in range(4):
        assert get(port).status == 200
    stats = proc.stats()
    assert stats["cluster.mixed.upstream_cx_connect_fail"] >= 1
    assert stats["cluster.mixed.upstream_rq_retry"] == stats["cluster.mixed.upstream_cx_connect_fail"]
    assert stats["cluster.mixed.upstream_rq_retry_success"] == stats["cluster.mixed.upstream_rq_retry"]
    assert len(b1.requests) == 4


def test_connect_failure_retries_exhausted_urx(remora, tmp_path):
    log = tmp_path / "access.log"
    dead = static_cluster("dead", [free_port()])
    proc, port = start(remora, [dead], retry_route("dead", retry_on="connect-failure", num_retries=2),
                       log=log)
    resp = get(port)
    assert resp.status == 503
    assert resp.body == ("upstream connect error or disconnect/reset before headers. retried and "
                         "the latest reset reason: remote connection failure, transport failure "
                         "reason: delayed connect error: Connection refused")
    stats = proc.stats()
    assert stats["cluster.dead.upstream_cx_connect_fail"] == 3
    assert stats["cluster.dead.upstream_rq_retry"] == 2
    assert stats["cluster.dead.upstream_rq_retry_limit_exceeded"] == 1
    assert wait_log_lines(log, 1)[0].startswith("503 UF,URX 3 upstream_reset_before_response_started")


def test_num_retries_exhausted_urx(remora, http_backends, tmp_path):
    b1 = http_backends("b1")
    log = tmp_path / "access.log"
    proc, port = start(remora, [b1], retry_route(retry_on="5xx", num_retries=2), log=log)
    resp = get(port, failing(503, times=5))
    assert resp.status == 503  # the last attempt's own answer
    stats = proc.stats()
    assert stats["cluster.b1.upstream_rq_retry"] == 2
    assert stats["cluster.b1.upstream_rq_retry_limit_exceeded"] == 1
    assert stats.get("cluster.b1.upstream_rq_retry_success", 0) == 0
    assert stats["cluster.b1.retry.upstream_rq_503"] == 2
    assert stats["cluster.b1.upstream_rq_503"] == 1
    assert len(b1.requests) == 3
    assert wait_log_lines(log, 1) == ["503 URX 3 via_upstream"]


def test_retry_back_off_observed(remora, http_backends):
    """Envoy's fully jittered back-off: retry n waits a uniform [0, (2^n - 1) × base), capped at
    max_interval. Five retries at base 100 ms average over a second; all five finishing within
    the first 100 ms has odds of a few in a million."""
    b1 = http_backends("b1")
    proc, port = start(remora, [b1], retry_route(
        retry_on="5xx", num_retries=5,
        retry_back_off={"base_interval": "0.1s", "max_interval": "0.5s"}))
    t0 = time.monotonic()
    resp = get(port, failing(503, times=5))
    elapsed = time.monotonic() - t0
    assert resp.status == 200
    assert proc.stats()["cluster.b1.upstream_rq_retry"] == 5
    # Upper bound: 0.1 + 0.3 + 0.5 + 0.5 + 0.5 of back-off at most, plus slack for load.
    assert 0.1 <= elapsed < 1.9 + 2.0, elapsed


def request_attempts(backends):
    """x-request-id → [backend of each attempt, in order]."""
    attempts = collections.defaultdict(list)
    for b in backends:
        for r in b.requests:
            attempts[r["headers"]["x-request-id"]].append(b.name)
    return attempts


@pytest.mark.parametrize("predicate", [True, False])
def test_previous_hosts_predicate(remora, http_backends, predicate):
    """Two endpoints weighted 9:1, every answer a 503, one retry. With previous_hosts the retry
    always lands on the other endpoint; without it, mostly on the same one."""
    heavy, light = http_backends("heavy"), http_backends("light")
    cluster = static_cluster("pair", [heavy.port, light.port], weights=[9, 1])
    policy = {"retry_on": "5xx", "num_retries": 1}
    if predicate:
        policy["retry_host_predicate"] = [{
            "name": "envoy.retry_host_predicates.previous_hosts",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.retry.host."
                                      "previous_hosts.v3.PreviousHostsPredicate"}}]
        policy["host_selection_retry_max_attempts"] = 20
    proc, port = start(remora, [cluster], retry_route("pair", **policy))
    n = 10
    for _ in range(n):
        assert get(port, [("x-backend-status", "503")]).status == 503
    attempts = request_attempts([heavy, light])
    assert len(attempts) == n and all(len(a) == 2 for a in attempts.values())
    same_host = sum(1 for a in attempts.values() if a[0] == a[1])
    if predicate:
        assert same_host == 0, attempts
    else:
        assert same_host >= 5, attempts


def test_previous_hosts_by_name_only(remora, http_backends):
    """The predicate named without typed_config resolves like any other extension."""
    a, b = http_backends("a"), http_backends("b")
    cluster = static_cluster("pair", [a.port, b.port])
    proc, port = start(remora, [cluster], retry_route(
        "pair", retry_on="5xx", num_retries=1,
        retry_host_predicate=[{"name": "envoy.retry_host_predicates.previous_hosts"}]))
    assert get(port, [("x-backend-status", "503")]).status == 503
    assert sorted(request_attempts([a, b]).popitem()[1]) == ["a", "b"]


# --------------------------------------------------------------------------------------------
# Request headers


def test_retry_on_header_without_route_policy(remora, http_backends):
    b1 = http_backends("b1")
    proc, port = start(remora, [b1], {"virtual_hosts": [vhost(routes=[route(cluster="b1")])]})
    # Without the header: no retries.
    assert get(port, failing(503, key="a")).status == 503
    # x-envoy-retry-on alone allows Envoy's default of one retry.
    assert get(port, failing(503, key="b") + INTERNAL + [("x-envoy-retry-on", "5xx")]).status == 200
    assert get(port, failing(503, times=2, key="c") + INTERNAL +
               [("x-envoy-retry-on", "5xx")]).status == 503
    # x-envoy-max-retries raises it.
    assert get(port, failing(503, times=3, key="d") + INTERNAL + [
        ("x-envoy-retry-on", "gateway-error"), ("x-envoy-max-retries", "3")]).status == 200
    stats = proc.stats()
    assert stats["cluster.b1.upstream_rq_retry"] == 1 + 1 + 3
    assert b1.fail_counts == {"a": 1, "b": 2, "c": 2, "d": 4}


def test_max_retries_header_overrides_policy(remora, http_backends):
    b1 = http_backends("b1")
    proc, port = start(remora, [b1], retry_route(retry_on="5xx", num_retries=5))
    assert get(port, failing(503, times=1) + INTERNAL + [("x-envoy-max-retries", "0")]).status == 503
    assert proc.stats().get("cluster.b1.upstream_rq_retry", 0) == 0


def test_retriable_status_codes_header(remora, http_backends):
    b1 = http_backends("b1")
    proc, port = start(remora, [b1], {"virtual_hosts": [vhost(routes=[route(cluster="b1")])]})
    resp = get(port, failing(418) + INTERNAL + [("x-envoy-retry-on", "retriable-status-codes"),
                                     ("x-envoy-retriable-status-codes", "500, 418"),
                                     ("x-envoy-max-retries", "1")])
    assert resp.status == 200
    assert proc.stats()["cluster.b1.upstream_rq_retry"] == 1
    # The router consumes its control headers, as Envoy: none reaches the upstream.
    for name in ("x-envoy-retry-on", "x-envoy-retriable-status-codes", "x-envoy-max-retries"):
        assert all(name not in r["headers"] for r in b1.requests), name


def test_per_try_timeout_header_retried(remora, http_backends):
    b1 = http_backends("b1")
    proc, port = start(remora, [b1], {"virtual_hosts": [vhost(routes=[route(cluster="b1")])]})
    resp = get(port, failing(200, **{"x-backend-delay-ms": "2000"}) + INTERNAL + [
        ("x-envoy-retry-on", "5xx"), ("x-envoy-upstream-rq-per-try-timeout-ms", "300")])
    assert resp.status == 200
    stats = proc.stats()
    assert stats["cluster.b1.upstream_rq_per_try_timeout"] == 1
    assert stats["cluster.b1.upstream_rq_retry"] == 1
    assert stats["cluster.b1.upstream_rq_retry_success"] == 1
    assert "x-envoy-upstream-rq-per-try-timeout-ms" not in b1.requests[0]["headers"]


def test_per_try_timeout_retried_by_reset_policy(remora, http_backends):
    """Envoy treats a per-try timeout as a local reset: retry_on reset retries it too."""
    b1 = http_backends("b1")
    proc, port = start(remora, [b1], retry_route(retry_on="reset", num_retries=1,
                                                 per_try_timeout="0.3s"))
    resp = get(port, failing(200, **{"x-backend-delay-ms": "2000"}))
    assert resp.status == 200
    assert proc.stats()["cluster.b1.upstream_rq_per_try_timeout"] == 1


# --------------------------------------------------------------------------------------------
# The request body on retry


@pytest.mark.parametrize("size,chunked", [(1, False), (256 * 1024, False), (256 * 1024 + 7, True)])
def test_body_replayed_intact_on_retry(remora, http_backends, size, chunked):
    b1 = http_backends("b1")
    proc, port = start(remora, [b1], retry_route(retry_on="5xx", num_retries=2))
    body = bytes(pattern(5)[:size])
    headers = failing(503, times=2)
    if chunked:
        headers.append(("Transfer-Encoding", "chunked"))
    resp = get(port, headers, method="POST", data=body)
    assert resp.status == 200, resp
    digest = hashlib.sha256(body).hexdigest()
    assert [(r["body_bytes"], r["body_sha"]) for r in b1.requests] == [(size, digest)] * 3


def test_body_past_buffer_limit_is_not_retried(remora, http_backends):
    """The retry copy is bounded by the stream's buffer limit (1 MiB by default); past it
    retries are off and the first answer goes to the client, as in Envoy."""
    b1 = http_backends("b1")
    proc, port = start(remora, [b1], retry_route(retry_on="5xx", num_retries=2))
    body = bytes(pattern(6)[:2 * 1024 * 1024])
    resp = get(port, failing(503), method="POST", data=body)
    assert resp.status == 503
    assert len(b1.requests) == 1
    assert b1.requests[0]["body_sha"] == hashlib.sha256(body).hexdigest()
    assert proc.stats().get("cluster.b1.upstream_rq_retry", 0) == 0
