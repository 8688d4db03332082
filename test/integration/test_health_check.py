"""Active health checking end to end (a cluster's health_checks): HTTP checks against real
backends whose health endpoint the test switches, a killed backend (network failures counted to
unhealthy_threshold), a remora upstream in /healthcheck/fail state (x-envoy-immediate-health-check-fail),
TCP send/receive checks against echo servers, gRPC grpc.health.v1 checks against a grpc-js
server; traffic follows the verdicts, and stats and /clusters agree."""

import json
import select
import socket
import subprocess
import threading
from pathlib import Path

from conftest import (bootstrap, curl, echo_handler, free_ports, is_listening, static_cluster,
                      wait_until)
from http_harness import HttpBackend, http_listener, route, vhost

GRPC_DIR = Path(__file__).parent / "grpc"
HC_FILTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck"


def health_check(kind, spec, unhealthy=2, healthy=2, interval="0.1s", **extra):
    """A HealthCheck checking every 100 ms whether or not the cluster carried traffic."""
    hc = {"timeout": "1s", "interval": interval, "no_traffic_interval": interval,
          "unhealthy_threshold": unhealthy, "healthy_threshold": healthy, kind: spec}
    hc.update(extra)
    return hc


def proxy(remora, backends, hc, cluster="app", cluster_extra=None):
    port, admin = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster=cluster)])]}
    clusters = [static_cluster(cluster, [b.port for b in backends], health_checks=[hc],
                               **(cluster_extra or {}))]
    proc = remora(bootstrap([http_listener("http", port, rc)], clusters, admin))
    return proc, port


def host_flags(proc, cluster="app"):
    """/clusters' health_flags per host address."""
    out = {}
    for line in proc.get("/clusters").body.splitlines():
        parts = line.split("::")
        if len(parts) == 4 and parts[0] == cluster and parts[2] == "health_flags":
            out[parts[1]] = parts[3]
    return out


def wait_healthy(proc, n, cluster="app", timeout=10.0):
    proc.wait_stat(f"cluster.{cluster}.health_check.healthy", lambda v: v == n, timeout)
    proc.wait_stat(f"cluster.{cluster}.membership_healthy", lambda v: v == n, timeout)


def traffic(port, n):
    """n requests through the proxy; the backend names that answered them."""
    seen = []
    for _ in range(n):
        resp = curl(f"http://127.0.0.1:{port}/work")
        assert resp is not None and resp.status == 200, resp
        seen.append(resp.headers["x-backend"])
    return seen


def test_first_round_gates_ready_and_listeners(remora, http_backends):
    """Envoy's cluster warming: hosts start failed, and the server stays INITIALIZING (/ready
    503, the listener refusing connections) until every host has had its first check; it then
    serves with the verdicts in: no panic routing to the failed host."""
    up, down = http_backends("up"), http_backends("down")
    for b in (up, down):
        b.health_path = "/healthz"
    down.health_status = 503
    gate = threading.Event()
    up.health_gate = gate
    hc = health_check("http_health_check", {"path": "/healthz"}, unhealthy=1, healthy=1,
                      timeout="20s", interval="10s", no_traffic_interval="10s")
    port, admin = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="app")])]}
    clusters = [static_cluster("app", [up.port, down.port], health_checks=[hc])]
    try:
        proc = remora(bootstrap([http_listener("http", port, rc)], clusters, admin), wait=False)
        wait_until(lambda: curl(proc.url("/ready")) is not None, 5, what="admin up")
        # The down host's verdict is in, the up host's check is held by the backend.
        proc.wait_stat("cluster.app.health_check.failure", lambda v: v == 1)
        wait_until(lambda: len(up.health_checks) == 1, 5, what="the held check")
        ready = proc.get("/ready")
        assert (ready.status, ready.body) == (503, "INITIALIZING\n")
        assert proc.stat("server.state") == 3  # INITIALIZING
        assert not is_listening(port)
        assert host_flags(proc)[f"127.0.0.1:{up.port}"] == "/failed_active_hc/pending_active_hc"
    finally:
        gate.set()
    proc.wait_ready()
    assert proc.get("/ready").body == "LIVE\n"
    assert traffic(port, 10) == ["up"] * 10
    assert proc.stat("cluster.app.lb_healthy_panic") == 0
    assert host_flags(proc)[f"127.0.0.1:{down.port}"] == "/failed_active_hc"


def test_degraded_answer_keeps_a_host_behind_the_healthy_ones(remora, http_backends):
    """x-envoy-degraded on a passing check: the host is degraded, taking only the share the
    healthy hosts cannot (one of each: 70% / 30%), and everything once they fail, without
    panic routing."""
    a, d = http_backends("a"), http_backends("d")
    for b in (a, d):
        b.health_path = "/healthz"
    d.health_headers = {"x-envoy-degraded": "true"}
    hc = health_check("http_health_check", {"path": "/healthz"}, unhealthy=1, healthy=1)
    proc, port = proxy(remora, [a, d], hc)
    assert proc.stat("cluster.app.membership_degraded") == 1
    assert proc.stat("cluster.app.health_check.degraded") == 1
    assert host_flags(proc)[f"127.0.0.1:{d.port}"] == "/degraded_active_hc"
    seen = traffic(port, 100)
    assert set(seen) == {"a", "d"} and 15 <= seen.count("d") <= 45, seen

    a.health_status = 503
    proc.wait_stat("cluster.app.membership_healthy", lambda v: v == 0)
    assert set(traffic(port, 20)) == {"d"}
    assert proc.stat("cluster.app.lb_healthy_panic") == 0

    # Its checks stop saying degraded: healthy again.
    d.health_headers = {}
    proc.wait_stat("cluster.app.membership_degraded", lambda v: v == 0)
    proc.wait_stat("cluster.app.health_check.degraded", lambda v: v == 0)
    assert host_flags(proc)[f"127.0.0.1:{d.port}"] == "healthy"


def test_failing_health_endpoint_leaves_and_rejoins_rotation(remora, http_backends):
    backends = [http_backends(f"b{i}") for i in range(3)]
    for b in backends:
        b.health_path = "/healthz"
    # A non-expected status fails a host at once (Envoy ignores unhealthy_threshold for it),
    # so the threshold here is deliberately far away.
    hc = health_check("http_health_check",
                      {"path": "/healthz", "host": "checked.example",
                       "request_headers_to_add": [{"header": {"key": "x-hc", "value": "1"}}]},
                      unhealthy=1000, healthy=3)
    proc, port = proxy(remora, backends, hc)
    wait_healthy(proc, 3)
    assert set(traffic(port, 12)) == {"b0", "b1", "b2"}
    check = backends[0].health_checks[-1]
    assert check["host"] == "checked.example"
    assert check["user-agent"] == "Envoy/HC"
    assert check["x-hc"] == "1"

    target = f"127.0.0.1:{backends[1].port}"
    backends[1].health_status = 503
    wait_healthy(proc, 2)
    assert host_flags(proc)[target] == "/failed_active_hc"
    stats = proc.stats()
    assert stats["cluster.app.health_check.failure"] >= 1
    assert stats["cluster.app.health_check.network_failure"] == 0
    before = len(backends[1].requests)
    assert set(traffic(port, 20)) == {"b0", "b2"}
    assert len(backends[1].requests) == before

    # Back after healthy_threshold passing checks, not before.
    backends[1].health_status = 200
    passes_at_recovery = len(backends[1].health_checks)
    wait_healthy(proc, 3)
    assert len(backends[1].health_checks) - passes_at_recovery >= 3
    assert host_flags(proc)[target] == "healthy"
    assert "b1" in traffic(port, 12)
    stats = proc.stats()
    assert stats["cluster.app.health_check.attempt"] >= stats["cluster.app.health_check.success"]
    assert stats["cluster.app.health_check.success"] > 0


def test_retriable_status_counts_to_unhealthy_threshold(remora, http_backends):
    backends = [http_backends(f"r{i}") for i in range(2)]
    for b in backends:
        b.health_path = "/healthz"
    hc = health_check("http_health_check",
                      {"path": "/healthz", "expected_statuses": [{"start": 200, "end": 300}],
                       "retriable_statuses": [{"start": 429, "end": 430}]},
                      unhealthy=4, healthy=1)
    proc, port = proxy(remora, backends, hc)
    wait_healthy(proc, 2)
    checks_before = len(backends[0].health_checks)
    backends[0].health_status = 429
    wait_healthy(proc, 1)
    # Four consecutive retriable answers were needed.
    assert len(backends[0].health_checks) - checks_before >= 4
    assert set(traffic(port, 10)) == {"r1"}


def test_killed_backend_fails_on_network_failures_and_returns(remora, http_backends):
    backends = [http_backends(f"k{i}") for i in range(3)]
    for b in backends:
        b.health_path = "/healthz"
    hc = health_check("http_health_check", {"path": "/healthz"}, unhealthy=3, healthy=2)
    proc, port = proxy(remora, backends, hc)
    wait_healthy(proc, 3)
    victim = backends[2]
    victim_port = victim.port
    victim.kill()
    wait_healthy(proc, 2)
    stats = proc.stats()
    assert stats["cluster.app.health_check.network_failure"] >= 3
    assert host_flags(proc)[f"127.0.0.1:{victim_port}"].startswith("/failed_active_hc")
    assert set(traffic(port, 20)) == {"k0", "k1"}

    revived = HttpBackend("k2", port=victim_port)
    try:
        revived.health_path = "/healthz"
        wait_healthy(proc, 3)
        assert host_flags(proc)[f"127.0.0.1:{victim_port}"] == "healthy"
        assert "k2" in traffic(port, 12)
    finally:
        revived.close()


def remora_upstream(remora, http_backends):
    """A remora in front of a backend, answering /healthz itself (the health_check filter)."""
    app = http_backends("app")
    up_port, up_admin, = free_ports(2)
    hc_filter = {"name": "envoy.filters.http.health_check",
                 "typed_config": {"@type": HC_FILTER_TYPE, "pass_through_mode": False,
                                  "headers": [{"name": ":path",
                                               "string_match": {"exact": "/healthz"}}]}}
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="app")])]}
    upstream = remora(bootstrap([http_listener("http", up_port, rc, [hc_filter])],
                                [static_cluster("app", [app.port])], up_admin))

    class Up:  # the proxy helper wants objects with a port
        port = up_port

    return upstream, Up


def test_remora_upstream_in_fail_state_is_excluded_at_once(remora, http_backends):
    """A remora upstream whose admin says /healthcheck/fail answers its health checks with 503 and
    x-envoy-immediate-health-check-fail; the downstream remora excludes it at once."""
    upstream, Up = remora_upstream(remora, http_backends)
    up_port = Up.port
    hc = health_check("http_health_check", {"path": "/healthz"}, unhealthy=1000, healthy=1)
    proc, port = proxy(remora, [Up], hc, cluster="front")
    wait_healthy(proc, 1, cluster="front")
    target = f"127.0.0.1:{up_port}"
    assert host_flags(proc, "front")[target] == "healthy"

    assert upstream.post("/healthcheck/fail").status == 200
    wait_healthy(proc, 0, cluster="front")
    flags = host_flags(proc, "front")[target]
    assert "/failed_active_hc" in flags and "/excluded_via_immediate_hc_fail" in flags, flags

    assert upstream.post("/healthcheck/ok").status == 200
    wait_healthy(proc, 1, cluster="front")
    assert host_flags(proc, "front")[target] == "healthy"


def test_routed_response_with_immediate_fail_header_is_a_passive_failure(remora, http_backends):
    """Between two checks (30 s apart) a routed answer carrying x-envoy-immediate-health-check-fail
    fails and excludes the host at once: Envoy's passive immediate failure."""
    upstream, Up = remora_upstream(remora, http_backends)
    hc = health_check("http_health_check", {"path": "/healthz"}, unhealthy=1000, healthy=1,
                      interval="30s")
    proc, port = proxy(remora, [Up], hc, cluster="front")
    wait_healthy(proc, 1, cluster="front")
    assert proc.stat("cluster.front.health_check.attempt") == 1

    assert upstream.post("/healthcheck/fail").status == 200
    resp = curl(f"http://127.0.0.1:{port}/work")
    assert resp.status == 200 and resp.headers["x-envoy-immediate-health-check-fail"] == "true"
    wait_healthy(proc, 0, cluster="front")
    stats = proc.stats()
    assert stats["cluster.front.health_check.passive_failure"] == 1
    assert stats["cluster.front.health_check.attempt"] == 1
    flags = host_flags(proc, "front")[f"127.0.0.1:{Up.port}"]
    assert flags == "/failed_active_hc/excluded_via_immediate_hc_fail", flags


def test_tcp_send_receive_check(remora, backends):
    def wrong_answer(conn):
        while conn.recv(1 << 16):
            conn.sendall(b"NOPE")

    echoes = [backends(echo_handler) for _ in range(2)]
    liar = backends(wrong_answer)
    # "PING" out; "PI" and "NG" expected back, in order.
    hc = health_check("tcp_health_check",
                      {"send": {"text": "50494e47"}, "receive": [{"text": "5049"}, {"text": "4e47"}]},
                      unhealthy=2, healthy=1, timeout="0.3s")
    proc, _ = proxy(remora, echoes + [liar], hc)
    wait_healthy(proc, 2)
    # The wrong answer never matches: the check times out (a network failure).
    liar_key = f"127.0.0.1:{liar.port}"
    wait_until(lambda: host_flags(proc)[liar_key] == "/failed_active_hc/active_hc_timeout", 10,
               what="the liar's check to time out")
    flags = host_flags(proc)
    for e in echoes:
        assert flags[f"127.0.0.1:{e.port}"] == "healthy"
    # A reused connection: one accept per echo server however many checks ran.
    proc.wait_stat("cluster.app.health_check.success", lambda v: v >= 10)
    assert all(e.accepted == 1 for e in echoes), [e.accepted for e in echoes]

    # Kill one echo server (listener and connection): refused connects fail it.
    dead = echoes[0]
    dead.close()
    with dead._lock:
        for c in dead._conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    wait_healthy(proc, 1)
    assert proc.stat("cluster.app.health_check.network_failure") >= 2


class GrpcHealthServer:
    def __init__(self):
        self.proc = subprocess.Popen(["node", str(GRPC_DIR / "health_server.js"), "0"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.port = json.loads(self._line(20))["port"]

    def _line(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        assert line.startswith("{"), f"grpc health server: {line!r}"
        return line

    def set_status(self, status):
        self.proc.stdin.write(status + "\n")
        self.proc.stdin.flush()

    def close(self):
        self.proc.kill()
        self.proc.wait(5)
        self.proc.stdout.close()
        self.proc.stdin.close()


def test_grpc_health_check(remora):
    servers = [GrpcHealthServer() for _ in range(2)]
    try:
        hc = health_check("grpc_health_check",
                          {"service_name": "remora.test.Echo", "authority": "health.example"},
                          unhealthy=2, healthy=1)
        proc, _ = proxy(remora, servers, hc)
        wait_healthy(proc, 2)
        servers[0].set_status("NOT_SERVING")
        wait_healthy(proc, 1)
        assert host_flags(proc)[f"127.0.0.1:{servers[0].port}"] == "/failed_active_hc"
        servers[0].set_status("SERVING")
        wait_healthy(proc, 2)
        assert proc.stat("cluster.app.health_check.network_failure") == 0
    finally:
        for s in servers:
            s.close()


def test_grpc_health_check_unknown_service_fails(remora):
    server = GrpcHealthServer()
    try:
        hc = health_check("grpc_health_check", {"service_name": "no.such.Service"})
        proc, _ = proxy(remora, [server], hc)
        proc.wait_stat("cluster.app.health_check.failure", lambda v: v >= 2)
        assert proc.stat("cluster.app.health_check.healthy") == 0
        assert host_flags(proc)[f"127.0.0.1:{server.port}"] == "/failed_active_hc"
    finally:
        server.close()


def test_unsupported_health_check_fields_are_rejected(remora, tmp_path):
    from conftest import run_remora
    port, admin = free_ports(2)
    hc = health_check("http_health_check", {"path": "/h"}, alt_port=9)
    cfg = bootstrap([], [static_cluster("app", [port], health_checks=[hc])], admin)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(cfg))
    result = run_remora(["--mode", "validate", "-c", str(path)])
    assert result.returncode != 0
    assert "not supported by remora" in (result.stdout + result.stderr)
    assert "alt_port" in (result.stdout + result.stderr)
