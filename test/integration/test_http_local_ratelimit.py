"""envoy.filters.http.local_ratelimit end to end: a burst beyond the bucket gets 429 with RL, the
counters match, the bucket refills, per-route buckets, filter_enabled / filter_enforced, the
x-ratelimit headers, per-connection buckets and a bucket shared by every worker — with curl,
hey and raw keep-alive sockets against a real HTTP/1.1 backend."""

import http.client
import json

from conftest import bootstrap, curl, free_ports, static_cluster, wait_until
from http_harness import file_access_log, hey, http_listener, read_log_lines, route, vhost

RL_TYPE = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
LOG_FORMAT = "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n"
STAT = "local_rl.http_local_rate_limit."


def fraction(n):
    return {"runtime_key": "unused", "default_value": {"numerator": n, "denominator": "HUNDRED"}}


def limiter(max_tokens, fill_interval="60s", tokens_per_fill=None, enabled=100, enforced=100,
            stat_prefix="local_rl", **extra):
    bucket = {"max_tokens": max_tokens, "fill_interval": fill_interval}
    if tokens_per_fill is not None:
        bucket["tokens_per_fill"] = tokens_per_fill
    cfg = {"@type": RL_TYPE, "stat_prefix": stat_prefix, "token_bucket": bucket}
    if enabled is not None:
        cfg["filter_enabled"] = fraction(enabled)
    if enforced is not None:
        cfg["filter_enforced"] = fraction(enforced)
    cfg.update(extra)
    return cfg


def rl_filter(config):
    return {"name": "envoy.filters.http.local_ratelimit", "typed_config": config}


class Setup:
    def __init__(self, remora, http_backends, tmp_path, config, routes=None, concurrency=1):
        self.backend = http_backends("b1")
        self.port, admin_port = free_ports(2)
        self.log_path = tmp_path / "access.log"
        rc = {"virtual_hosts": [vhost(routes=routes or [route(cluster="b1")])]}
        listener = http_listener("http", self.port, rc, [rl_filter(config)],
                                 hcm_extra={"access_log": [file_access_log(self.log_path, LOG_FORMAT)]})
        self.proc = remora(bootstrap([listener], [static_cluster("b1", [self.backend.port])], admin_port),
                           concurrency=concurrency)

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path="/", headers=None):
        lines = [f"{name}: {value}" for name, value in (headers or {}).items()]
        resp = curl(self.url(path), headers=lines)
        assert resp is not None, "no response\n" + self.proc.log()
        return resp


def test_burst_beyond_bucket_is_limited(remora, http_backends, tmp_path):
    s = Setup(remora, http_backends, tmp_path, limiter(5))
    statuses = [s.get().status for _ in range(8)]
    assert statuses == [200] * 5 + [429] * 3
    limited = s.get()
    assert limited.status == 429
    assert limited.body == "local_rate_limited"
    assert limited.headers["content-type"] == "text/plain"
    lines = read_log_lines(s.log_path, 9)
    assert lines == ["200 - via_upstream"] * 5 + ["429 RL local_rate_limited"] * 4
    stats = s.proc.stats()
    assert stats[STAT + "enabled"] == 9
    assert stats[STAT + "ok"] == 5
    assert stats[STAT + "rate_limited"] == 4
    assert stats[STAT + "enforced"] == 4
    assert stats["http.ingress_http.downstream_rq_4xx"] == 4
    assert len(s.backend.requests) == 5


def test_bucket_refills_after_fill_interval(remora, http_backends, tmp_path):
    s = Setup(remora, http_backends, tmp_path, limiter(2, fill_interval="0.5s", tokens_per_fill=1))
    assert [s.get().status for _ in range(3)] == [200, 200, 429]
    # Poll: within a few fill intervals a token is back, and only one per fill.
    wait_until(lambda: s.get().status == 200, 5.0, interval=0.05, what="a refilled token")
    stats = s.proc.stats()
    assert stats[STAT + "ok"] == 3
    assert stats[STAT + "ok"] + stats[STAT + "rate_limited"] == stats[STAT + "enabled"]


def test_per_route_bucket(remora, http_backends, tmp_path):
    routes = [
        route({"prefix": "/limited"}, "b1", typed_per_filter_config={
            "envoy.filters.http.local_ratelimit": limiter(1, stat_prefix="route_rl")}),
        route({"prefix": "/"}, "b1"),
    ]
    s = Setup(remora, http_backends, tmp_path, limiter(100), routes=routes)
    assert [s.get("/limited").status for _ in range(3)] == [200, 429, 429]
    assert [s.get("/open").status for _ in range(3)] == [200, 200, 200]
    stats = s.proc.stats()
    assert stats["route_rl.http_local_rate_limit.enforced"] == 2
    assert stats["route_rl.http_local_rate_limit.ok"] == 1
    assert stats[STAT + "ok"] == 3
    assert stats[STAT + "rate_limited"] == 0


def test_filter_enabled_zero_never_limits(remora, http_backends, tmp_path):
    s = Setup(remora, http_backends, tmp_path, limiter(1, enabled=0))
    counts = hey(s.url(), 20, concurrency=2)
    assert counts == {200: 20}, counts
    stats = s.proc.stats()
    assert stats[STAT + "enabled"] == 0
    assert stats[STAT + "rate_limited"] == 0


def test_enforced_zero_counts_but_does_not_limit(remora, http_backends, tmp_path):
    config = limiter(2, enforced=0, request_headers_to_add_when_not_enforced=[
        {"header": {"key": "x-rate-limited", "value": "would-be"}}])
    s = Setup(remora, http_backends, tmp_path, config)
    assert [s.get().status for _ in range(5)] == [200] * 5
    stats = s.proc.stats()
    assert stats[STAT + "enabled"] == 5
    assert stats[STAT + "ok"] == 2
    assert stats[STAT + "rate_limited"] == 3
    assert stats[STAT + "enforced"] == 0
    marked = [r["headers"].get("x-rate-limited") for r in s.backend.requests]
    assert marked == [None, None, "would-be", "would-be", "would-be"]
    assert read_log_lines(s.log_path, 5) == ["200 - via_upstream"] * 5


def test_x_ratelimit_headers_status_and_response_headers(remora, http_backends, tmp_path):
    config = limiter(3, fill_interval="60s", enable_x_ratelimit_headers="DRAFT_VERSION_03",
                     status={"code": "ServiceUnavailable"},
                     response_headers_to_add=[{"header": {"key": "x-local-rate-limit", "value": "true"}}])
    s = Setup(remora, http_backends, tmp_path, config)
    responses = [s.get() for _ in range(4)]
    assert [r.status for r in responses] == [200, 200, 200, 503]
    assert [r.headers["x-ratelimit-remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert all(r.headers["x-ratelimit-limit"] == "3" for r in responses)
    assert all(0 <= int(r.headers["x-ratelimit-reset"]) <= 60 for r in responses)
    assert responses[3].headers["x-local-rate-limit"] == "true"
    assert "x-local-rate-limit" not in responses[0].headers
    assert responses[3].body == "local_rate_limited"


def test_grpc_request_gets_a_grpc_status(remora, http_backends, tmp_path):
    s = Setup(remora, http_backends, tmp_path, limiter(1, rate_limited_as_resource_exhausted=True))
    assert s.get().status == 200
    resp = s.get(headers={"content-type": "application/grpc"})
    assert resp.status == 200
    assert resp.headers["grpc-status"] == "8"  # RESOURCE_EXHAUSTED
    assert resp.headers["grpc-message"] == "local_rate_limited"
    assert resp.body == ""


def test_grpc_default_status_is_unavailable(remora, http_backends, tmp_path):
    s = Setup(remora, http_backends, tmp_path, limiter(1))
    s.get()
    resp = s.get(headers={"content-type": "application/grpc+proto"})
    assert resp.status == 200
    assert resp.headers["grpc-status"] == "14"  # UNAVAILABLE, Envoy's mapping of 429


def test_per_connection_bucket(remora, http_backends, tmp_path):
    s = Setup(remora, http_backends, tmp_path, limiter(2, local_rate_limit_per_downstream_connection=True))

    def statuses_on_one_connection(n):
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
        try:
            out = []
            for _ in range(n):
                conn.request("GET", "/")
                resp = conn.getresponse()
                resp.read()
                out.append(resp.status)
            return out
        finally:
            conn.close()

    assert statuses_on_one_connection(3) == [200, 200, 429]
    # A new connection has a bucket of its own.
    assert statuses_on_one_connection(3) == [200, 200, 429]
    assert s.proc.stat(STAT + "enforced") == 2


def test_bucket_is_shared_by_all_workers(remora, http_backends, tmp_path):
    # Two workers, eight concurrent keep-alive clients: exactly max_tokens requests get through.
    s = Setup(remora, http_backends, tmp_path, limiter(25), concurrency=2)
    counts = hey(s.url(), 96, concurrency=8)
    assert counts == {200: 25, 429: 71}, counts
    stats = s.proc.stats()
    assert stats[STAT + "ok"] == 25
    assert stats[STAT + "enforced"] == 71


def test_per_route_config_needs_a_bucket(remora, tmp_path):
    from conftest import run_remora
    port, admin_port = free_ports(2)
    per_route = {"@type": RL_TYPE, "stat_prefix": "r"}
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="b1", typed_per_filter_config={
        "envoy.filters.http.local_ratelimit": per_route})])]}
    listener = http_listener("http", port, rc, [rl_filter(limiter(1))])
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(bootstrap([listener], [static_cluster("b1", [1])], admin_port)))
    result = run_remora(["--mode", "validate", "-c", str(config)])
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "local rate limit token bucket must be set for per filter configs" in output, output


def test_descriptors_are_rejected(remora, tmp_path):
    from conftest import run_remora
    port, admin_port = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="b1")])]}
    cfg = limiter(1, descriptors=[{"entries": [{"key": "k", "value": "v"}],
                                   "token_bucket": {"max_tokens": 1, "fill_interval": "1s"}}])
    listener = http_listener("http", port, rc, [rl_filter(cfg)])
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(bootstrap([listener], [static_cluster("b1", [1])], admin_port)))
    result = run_remora(["--mode", "validate", "-c", str(config)])
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "not supported by remora" in output and "descriptors" in output, output
