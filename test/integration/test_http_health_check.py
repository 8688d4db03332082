"""envoy.filters.http.health_check end to end: local answers that follow admin
/healthcheck/fail and /healthcheck/ok, x-envoy-immediate-health-check-fail on every response while
failing, pass-through with cache_time, matching by headers, cluster_min_healthy_percentages, and
health checks left out of an access log with not_health_check_filter."""

import json

from conftest import bootstrap, curl, free_ports, static_cluster, wait_until
from http_harness import http_listener, route, vhost

HC_TYPE = "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck"
FILE_LOG_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
HEALTHZ = [{"name": ":path", "string_match": {"exact": "/healthz"}}]


def hc_filter(pass_through=False, headers=HEALTHZ, **fields):
    cfg = dict({"@type": HC_TYPE, "pass_through_mode": pass_through, "headers": headers}, **fields)
    return {"name": "envoy.filters.http.health_check", "typed_config": cfg}


def app_routes():
    return {"virtual_hosts": [vhost(routes=[route(cluster="app")])]}


def get(port, path, headers=()):
    resp = curl(f"http://127.0.0.1:{port}{path}", headers=list(headers))
    assert resp is not None
    return resp


def test_local_answer_follows_admin_fail_and_ok(remora, http_backends, tmp_path):
    backend = http_backends("app")
    port, admin = free_ports(2)
    log_path = tmp_path / "access.log"
    access_log = [{"name": "envoy.access_loggers.file",
                   "filter": {"not_health_check_filter": {}},
                   "typed_config": {"@type": FILE_LOG_TYPE, "path": str(log_path),
                                    "log_format": {"text_format": "%REQ(:PATH)% %RESPONSE_CODE%\n"}}}]
    listener = http_listener("http", port, app_routes(), [hc_filter()],
                             hcm_extra={"access_log": access_log})
    proc = remora(bootstrap([listener], [static_cluster("app", [backend.port])], admin),
                  "--service-cluster", "front-proxy")

    resp = get(port, "/healthz")
    assert resp.status == 200, resp
    assert resp.headers["x-envoy-upstream-healthchecked-cluster"] == "front-proxy"
    assert "x-envoy-immediate-health-check-fail" not in resp.headers
    assert get(port, "/app").status == 200

    assert proc.post("/healthcheck/fail").status == 200
    resp = get(port, "/healthz")
    assert resp.status == 503, resp
    assert resp.body == ""
    # Envoy marks health check answers too, so a downstream checker fails this host at once.
    assert resp.headers["x-envoy-immediate-health-check-fail"] == "true"
    resp = get(port, "/app")
    assert resp.status == 200, resp
    assert resp.headers["x-envoy-immediate-health-check-fail"] == "true"

    assert proc.post("/healthcheck/ok").status == 200
    assert get(port, "/healthz").status == 200
    resp = get(port, "/app")
    assert "x-envoy-immediate-health-check-fail" not in resp.headers

    assert [r["path"] for r in backend.requests] == ["/app", "/app", "/app"]
    stats = proc.stats()
    assert stats["http.ingress_http.downstream_rq_2xx"] == 5
    assert stats["http.ingress_http.downstream_rq_5xx"] == 1
    # The access log has the three /app requests and none of the health checks.
    def log_lines():
        return log_path.read_text().splitlines() if log_path.exists() else []
    wait_until(lambda: len(log_lines()) >= 3, 10, what="three access log lines")
    assert log_lines() == ["/app 200"] * 3


def test_pass_through_forwards_and_caches_the_upstream_answer(remora, http_backends):
    backend = http_backends("app")
    port, admin = free_ports(2)
    listener = http_listener("http", port, app_routes(), [hc_filter(True, cache_time="1s")])
    proc = remora(bootstrap([listener], [static_cluster("app", [backend.port])], admin))

    resp = get(port, "/healthz", ["x-backend-status: 503"])
    assert resp.status == 503 and resp.headers["x-backend"] == "app", resp
    # Within cache_time the upstream's 503 is answered by remora, whatever this request asks for.
    resp = get(port, "/healthz")
    assert resp.status == 503 and "x-backend" not in resp.headers, resp
    assert len(backend.requests) == 1
    # Once the cache expires, the next check goes upstream again (and its 200 is cached).
    wait_until(lambda: get(port, "/healthz").status == 200, 5, interval=0.1, what="cache expiry")
    assert len(backend.requests) == 2
    assert get(port, "/healthz").status == 200
    assert len(backend.requests) == 2

    # A failing server answers 503 itself, without asking the upstream.
    assert proc.post("/healthcheck/fail").status == 200
    resp = get(port, "/healthz")
    assert resp.status == 503 and "x-backend" not in resp.headers
    assert len(backend.requests) == 2


def test_health_checks_are_recognised_by_headers(remora, http_backends):
    backend = http_backends("app")
    port, admin = free_ports(2)
    headers = [{"name": "user-agent", "string_match": {"prefix": "kube-probe/"}},
               {"name": "x-probe", "present_match": True}]
    listener = http_listener("http", port, app_routes(), [hc_filter(headers=headers)])
    remora(bootstrap([listener], [static_cluster("app", [backend.port])], admin))

    resp = get(port, "/any/path", ["User-Agent: kube-probe/1.29", "x-probe: 1"])
    assert resp.status == 200 and "x-backend" not in resp.headers, resp
    # Every matcher must hold.
    resp = get(port, "/any/path", ["User-Agent: kube-probe/1.29"])
    assert resp.headers.get("x-backend") == "app", resp
    resp = get(port, "/any/path", ["User-Agent: curl", "x-probe: 1"])
    assert resp.headers.get("x-backend") == "app", resp
    assert len(backend.requests) == 2


def test_cluster_min_healthy_percentages(remora, http_backends):
    backend = http_backends("app")
    ports = free_ports(5)
    admin = ports[-1]

    def listener(i, percentages):
        return http_listener(f"l{i}", ports[i], app_routes(),
                             [hc_filter(cluster_min_healthy_percentages=percentages)],
                             hcm_extra={"stat_prefix": f"hc{i}"})

    empty = {"name": "empty", "type": "STATIC", "connect_timeout": "1s",
             "load_assignment": {"cluster_name": "empty", "endpoints": []}}
    listeners = [listener(0, {"app": {"value": 100}}),
                 listener(1, {"app": {"value": 100}, "empty": {"value": 0}}),
                 listener(2, {"app": {"value": 50}, "empty": {"value": 10}}),
                 listener(3, {"no-such-cluster": {"value": 0}})]
    proc = remora(bootstrap(listeners, [static_cluster("app", [backend.port]), empty], admin))
    assert [get(p, "/healthz").status for p in ports[:4]] == [200, 200, 503, 503]
    assert backend.requests == []
    stats = proc.stats()
    assert stats["http.hc2.downstream_rq_5xx"] == 1
    assert stats["http.hc0.downstream_rq_2xx"] == 1
