"""Outlier detection (passive health checking) with real backends: a backend that answers 503 or
dies is ejected by the cluster's outlier_detection, traffic moves to the others, and it comes back
after its ejection time, which grows with each ejection. /clusters and the
cluster.<name>.outlier_detection.* stats tell the same story."""

import re
import subprocess
import threading
import time

import pytest

from conftest import bootstrap, free_ports, static_cluster, wait_until
from http_harness import http_listener, route, vhost

STATS = "cluster.backend.outlier_detection."


def start_proxy(remora, backends, outlier):
    listener_port, admin_port = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="backend")])]}
    cluster = static_cluster("backend", [b.port for b in backends], outlier_detection=outlier)
    proc = remora(bootstrap([http_listener("http", listener_port, rc)], [cluster], admin_port))
    return proc, listener_port


def send(port, n):
    """n GET requests from one curl over one keep-alive connection: [(status, backend name)]."""
    url = f"http://127.0.0.1:{port}/"
    argv = ["curl", "-s", "--max-time", "20", "-w", "%{http_code} %header{x-backend}\\n"]
    for _ in range(n):
        argv += ["-o", "/dev/null", url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    results = []
    for line in out.splitlines():
        status, _, name = line.partition(" ")
        results.append((int(status), name))
    assert len(results) == n, out
    return results


def health_flags(proc):
    """{port: health_flags} for the backend cluster, from /clusters."""
    body = proc.get("/clusters").body
    return {int(m.group(1)): m.group(2)
            for m in re.finditer(r"^backend::127\.0\.0\.1:(\d+)::health_flags::(\S+)$", body, re.M)}


def wait_flags(proc, expected, timeout=5.0):
    box = {}

    def check():
        box["flags"] = health_flags(proc)
        return box["flags"] == expected

    try:
        wait_until(check, timeout, what="/clusters health flags")
    except AssertionError:
        raise AssertionError(f"/clusters: {box.get('flags')} != {expected}") from None


def three_backends(http_backends):
    return [http_backends(name) for name in ("a", "b", "c")]


def test_consecutive_5xx_ejects_then_returns_after_base_ejection_time(remora, http_backends):
    a, b, c = three_backends(http_backends)
    c.status = 503
    proc, port = start_proxy(remora, [a, b, c], {
        "consecutive_5xx": 3, "interval": "0.2s", "base_ejection_time": "1s",
        "max_ejection_percent": 50})
    # Round robin: c answers every third request; its third 503 ejects it.
    results = send(port, 9)
    assert [s for s, name in results if name == "c"] == [503, 503, 503]
    proc.wait_stat(STATS + "ejections_active", lambda v: v == 1)
    assert proc.stat(STATS + "ejections_enforced_consecutive_5xx") == 1
    assert proc.stat(STATS + "ejections_detected_consecutive_5xx") == 1
    assert proc.stat(STATS + "ejections_enforced_total") == 1
    wait_flags(proc, {a.port: "healthy", b.port: "healthy", c.port: "/failed_outlier_check"})
    assert proc.stat("cluster.backend.membership_healthy") == 2

    # Traffic moves away: every answer is a 200 from a or b.
    seen = len(c.requests)
    results = send(port, 30)
    assert all(s == 200 for s, _ in results), results
    assert {name for _, name in results} == {"a", "b"}
    assert len(c.requests) == seen

    # c recovers; after base_ejection_time (plus at most one interval) it is back in rotation.
    c.status = None
    proc.wait_stat(STATS + "ejections_active", lambda v: v == 0, timeout=5.0)
    wait_flags(proc, {a.port: "healthy", b.port: "healthy", c.port: "healthy"})
    results = send(port, 9)
    assert all(s == 200 for s, _ in results)
    assert sum(1 for _, name in results if name == "c") == 3
    assert proc.stat(STATS + "ejections_overflow") == 0


class Load:
    """Steady keep-alive traffic from a curl loop in a thread until stopped."""

    def __init__(self, port):
        self.port = port
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped.is_set():
            send(self.port, 20)

    def stop(self):
        self.stopped.set()
        self.thread.join(timeout=30)


def test_second_ejection_lasts_longer(remora, http_backends):
    a, b, c = three_backends(http_backends)
    c.status = 503
    # base 1.5 s and a 0.5 s interval: the first ejection lasts 1.5-2 s, the second (the host
    # fails again at once, before an interval can shorten its multiplier) 3-3.5 s.
    proc, port = start_proxy(remora, [a, b, c], {
        "consecutive_5xx": 3, "interval": "0.5s", "base_ejection_time": "1.5s",
        "max_ejection_percent": 50})
    load = Load(port)
    try:
        # The host fails again within milliseconds of each return, so a poll cannot count on
        # seeing it back in between: an ejection ends when it is seen back or ejected again.
        times = {}
        start = time.monotonic()
        while time.monotonic() - start < 15.0 and "end2" not in times:
            stats = proc.stats()
            now = time.monotonic()
            total = stats.get(STATS + "ejections_enforced_total", 0)
            if total >= 1:
                times.setdefault("eject1", now)
            if total >= 2:
                times.setdefault("eject2", now)
                if total >= 3 or stats.get(STATS + "ejections_active", 0) == 0:
                    times["end2"] = now
            time.sleep(0.01)  # pacing the poll, not synchronisation
    finally:
        load.stop()
    assert len(times) == 3, times
    first = times["eject2"] - times["eject1"]
    second = times["end2"] - times["eject2"]
    assert 1.3 <= first < 2.9, times
    assert second >= 2.9, times
    assert proc.stat(STATS + "ejections_enforced_consecutive_5xx") >= 2


def test_max_ejection_percent_caps_ejections(remora, http_backends):
    a, b, c = three_backends(http_backends)
    b.status = 503
    c.status = 503
    # One of three is 33%: allowed. Two would be 67%.
    proc, port = start_proxy(remora, [a, b, c], {
        "consecutive_5xx": 3, "interval": "10s", "base_ejection_time": "30s",
        "max_ejection_percent": 34})
    send(port, 30)
    proc.wait_stat(STATS + "ejections_overflow", lambda v: v >= 1)
    assert proc.stat(STATS + "ejections_active") == 1
    assert proc.stat(STATS + "ejections_enforced_total") == 1
    flags = health_flags(proc)
    assert flags[a.port] == "healthy"
    assert sorted([flags[b.port], flags[c.port]]) == ["/failed_outlier_check", "healthy"]


@pytest.mark.parametrize("split", [True, False])
def test_killed_backend_is_ejected_by_connect_failures(remora, http_backends, split):
    a, b, c = three_backends(http_backends)
    outlier = {"interval": "10s", "base_ejection_time": "30s", "max_ejection_percent": 50}
    if split:
        # Connect failures are local-origin errors, counted apart from what upstreams answer.
        outlier.update({"split_external_local_origin_errors": True,
                        "consecutive_local_origin_failure": 2, "consecutive_5xx": 1000})
    else:
        # Without the split a connect failure counts as a 503.
        outlier.update({"consecutive_5xx": 2, "consecutive_gateway_failure": 2})
    proc, port = start_proxy(remora, [a, b, c], outlier)
    assert all(s == 200 for s, _ in send(port, 6))
    c.kill()
    results = send(port, 6)
    assert sorted(s for s, _ in results) == [200, 200, 200, 200, 503, 503]
    proc.wait_stat(STATS + "ejections_active", lambda v: v == 1)
    if split:
        assert proc.stat(STATS + "ejections_enforced_consecutive_local_origin_failure") == 1
        assert proc.stat(STATS + "ejections_detected_consecutive_5xx") == 0
    else:
        assert proc.stat(STATS + "ejections_enforced_consecutive_5xx") == 1
        assert proc.stat(STATS + "ejections_detected_consecutive_gateway_failure") == 1
    wait_flags(proc, {a.port: "healthy", b.port: "healthy", c.port: "/failed_outlier_check"})
    results = send(port, 20)
    assert all(s == 200 for s, _ in results), results
    assert proc.stat("cluster.backend.upstream_cx_connect_fail") == 2


@pytest.mark.parametrize("uneject", [None, False], ids=["default", "disabled"])
def test_passing_active_health_check_returns_an_ejected_host(remora, http_backends, uneject):
    """successful_active_health_check_uneject_host (default true): an ejected host whose active
    health check passes returns at once, long before its ejection time runs out."""
    a, c = http_backends("a"), http_backends("c")
    for b in (a, c):
        b.health_path = "/healthz"
    c.status = 503  # traffic fails; its health endpoint still answers 200
    outlier = {"consecutive_5xx": 2, "interval": "0.2s", "base_ejection_time": "60s",
               "max_ejection_percent": 100}
    if uneject is not None:
        outlier["successful_active_health_check_uneject_host"] = uneject
    hc = {"timeout": "1s", "interval": "0.2s", "no_traffic_interval": "0.2s",
          "unhealthy_threshold": 2, "healthy_threshold": 1,
          "http_health_check": {"path": "/healthz"}}
    listener_port, admin_port = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="backend")])]}
    cluster = static_cluster("backend", [a.port, c.port], outlier_detection=outlier,
                             health_checks=[hc])
    proc = remora(bootstrap([http_listener("http", listener_port, rc)], [cluster], admin_port))
    assert [s for s, name in send(listener_port, 4) if name == "c"] == [503, 503]
    proc.wait_stat(STATS + "ejections_enforced_total", lambda v: v == 1)
    if uneject is None:
        proc.wait_stat(STATS + "ejections_active", lambda v: v == 0)
        wait_flags(proc, {a.port: "healthy", c.port: "healthy"})
        assert "c" in {name for _, name in send(listener_port, 4)}
    else:
        checks = len(c.health_checks)
        wait_until(lambda: len(c.health_checks) >= checks + 3, 5, what="three more checks")
        assert proc.stat(STATS + "ejections_active") == 1
        wait_flags(proc, {a.port: "healthy", c.port: "/failed_outlier_check"})


def test_unhonoured_outlier_field_is_rejected(remora, http_backends, tmp_path):
    from conftest import run_remora
    import json
    a = http_backends("a")
    listener_port, = free_ports(1)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="backend")])]}
    for outlier, message in [
        ({"monitors": [{"name": "x", "typed_config": {
            "@type": "type.googleapis.com/google.protobuf.Struct"}}]}, "monitors"),
        ({"base_ejection_time": "10s", "max_ejection_time": "1s"},
         "max_ejection_time cannot be smaller than base_ejection_time"),
    ]:
        cluster = static_cluster("backend", [a.port], outlier_detection=outlier)
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bootstrap([http_listener("http", listener_port, rc)], [cluster])))
        result = run_remora(["--mode", "validate", "-c", str(path)])
        assert result.returncode != 0
        assert message in (result.stdout + result.stderr), result


def test_tcp_proxy_connect_failures_eject_a_dead_endpoint(remora, backends):
    from conftest import hello_handler, tcp_listener
    from test_tcp_proxy_routing import read_tag
    live = [backends(hello_handler("a")), backends(hello_handler("b"))]
    dead_port, listener_port, admin_port = free_ports(3)
    outlier = {"split_external_local_origin_errors": True, "consecutive_local_origin_failure": 2,
               "interval": "10s", "base_ejection_time": "30s", "max_ejection_percent": 34}
    cluster = static_cluster("backend", [live[0].port, live[1].port, dead_port],
                             outlier_detection=outlier)
    proc = remora(bootstrap([tcp_listener("l", listener_port, "backend", "t")], [cluster],
                            admin_port))
    # Round robin: every third connection meets the dead endpoint and is closed empty; its
    # second failure ejects it (the live ones may then take the rest in any order).
    tags = [read_tag(listener_port) for _ in range(6)]
    assert tags.count("") == 2 and set(tags) == {"", "a", "b"}, tags
    proc.wait_stat(STATS + "ejections_enforced_consecutive_local_origin_failure", lambda v: v == 1)
    wait_flags(proc, {live[0].port: "healthy", live[1].port: "healthy",
                      dead_port: "/failed_outlier_check"})
    assert sorted(set(read_tag(listener_port) for _ in range(10))) == ["a", "b"]


def test_grpc_trailers_only_status_counts_as_its_http_status(remora, http_backends):
    from http_harness import grpc_call, grpc_status_of
    a, b, c = three_backends(http_backends)
    proc, port = start_proxy(remora, [a, b, c], {
        "consecutive_5xx": 2, "interval": "10s", "base_ejection_time": "30s",
        "max_ejection_percent": 34})
    # HTTP 200 with grpc-status 14 (UNAVAILABLE) in the headers: a 503 to outlier detection.
    failing = [("x-backend-grpc-status", "14"), ("x-backend-grpc-trailers-only", "1")]
    for _ in range(6):
        resp = grpc_call(port, "/pkg.Svc/Call", [b"x"], headers=failing)
        assert resp.status == 200 and grpc_status_of(resp) == 14
    proc.wait_stat(STATS + "ejections_enforced_consecutive_5xx", lambda v: v == 1)
    assert proc.stat(STATS + "ejections_overflow") >= 1
    # An OK answer (its grpc-status in trailers, which this cluster drops) is a success.
    before = proc.stat(STATS + "ejections_detected_consecutive_5xx")
    for _ in range(6):
        assert grpc_call(port, "/pkg.Svc/Call", [b"x"]).status == 200
    assert proc.stat(STATS + "ejections_detected_consecutive_5xx") == before
