"""Load balancing through remora with several real backends: host weights under ROUND_ROBIN and
RANDOM, LEAST_REQUEST steering away from a slow backend (and the per-host rq_active it reads,
shown in /clusters), and RING_HASH / MAGLEV with route hash policies sending one key to one
backend."""

import re
import threading

from conftest import bootstrap, curl, free_ports, static_cluster
from http_harness import RawHttp, http_listener, request_bytes, route, run_hey, vhost

# Upper 0.1% points of chi-square by degrees of freedom.
CHI2_CRITICAL = {1: 10.83, 2: 13.82, 3: 16.27}


def chi_square(counts, weights):
    total, weight_sum = sum(counts), sum(weights)
    return sum((c - total * w / weight_sum) ** 2 / (total * w / weight_sum)
               for c, w in zip(counts, weights))


def start(remora, backends, lb_policy, weights=None, route_extra=None, cluster_extra=None,
          concurrency=1):
    """remora routing everything to one cluster "app" of `backends`; returns (proc, port)."""
    listener_port, admin_port = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="app", **(route_extra or {}))])]}
    cluster = static_cluster("app", [b.port for b in backends], weights=weights,
                             lb_policy=lb_policy, **(cluster_extra or {}))
    proc = remora(bootstrap([http_listener("http", listener_port, rc)], [cluster], admin_port),
                  concurrency=concurrency)
    return proc, listener_port


def counts(backends):
    return [len(b.requests) for b in backends]


def send_keyed(port, header_sets):
    """Sends one request per header list on a keep-alive connection; returns the answering
    backend's name for each."""
    names = []
    with RawHttp(port) as conn:
        for headers in header_sets:
            assert conn.send(request_bytes(headers=headers))
            resp = conn.read_response()
            assert resp.status == 200, resp
            names.append(resp.header("x-backend"))
    return names


def test_round_robin_honours_weights_exactly(remora, http_backends):
    backends = [http_backends(f"b{i}") for i in range(3)]
    proc, port = start(remora, backends, "ROUND_ROBIN", weights=[1, 2, 3])
    assert run_hey(f"http://127.0.0.1:{port}/", 600, concurrency=1) == {200: 600}
    # Smooth weighted round robin: 100 whole cycles of 6 picks.
    assert counts(backends) == [100, 200, 300]


def test_random_honours_weights(remora, http_backends):
    backends = [http_backends(f"b{i}") for i in range(2)]
    proc, port = start(remora, backends, "RANDOM", weights=[1, 3], concurrency=2)
    assert run_hey(f"http://127.0.0.1:{port}/", 800, concurrency=4) == {200: 800}
    got = counts(backends)
    assert sum(got) == 800
    assert chi_square(got, [1, 3]) < CHI2_CRITICAL[1], got


def clusters_lines(proc):
    r = proc.get("/clusters")
    assert r.status == 200
    return r.body.splitlines()


def host_metric(proc, backend, name):
    prefix = f"app::127.0.0.1:{backend.port}::{name}::"
    for line in clusters_lines(proc):
        if line.startswith(prefix):
            return int(line[len(prefix):])
    raise AssertionError(f"no {prefix} in /clusters")


def test_least_request_steers_away_from_a_slow_backend(remora, http_backends):
    backends = [http_backends(f"b{i}") for i in range(3)]
    slow = backends[0]
    slow.delay_ms = 300
    proc, port = start(remora, backends, "LEAST_REQUEST", concurrency=2)
    assert run_hey(f"http://127.0.0.1:{port}/", 360, concurrency=6) == {200: 360}
    got = counts(backends)
    # Two random choices, the fewer active requests wins: the slow backend, nearly always the
    # busier, gets a request only when both draws land on it (about 1 in 9; round robin: 1 in 3).
    assert got[0] < 0.2 * 360, got
    assert min(got[1:]) > 0.3 * 360, got
    # The count it steers by is the per-host rq_active, shown in /clusters with rq_total.
    assert host_metric(proc, slow, "rq_active") == 0
    assert host_metric(proc, slow, "rq_total") == got[0]


def test_rq_active_counts_requests_in_flight(remora, http_backends):
    backend = http_backends("b0")
    proc, port = start(remora, [backend], "LEAST_REQUEST")
    done = threading.Event()

    def slow_request():
        curl(f"http://127.0.0.1:{port}/", headers={"x-backend-delay-ms": "1500"})
        done.set()

    t = threading.Thread(target=slow_request, daemon=True)
    t.start()
    try:
        backend.wait_requests(1)
        assert host_metric(proc, backend, "rq_active") == 1
    finally:
        t.join(timeout=10)
    assert done.is_set()
    assert host_metric(proc, backend, "rq_active") == 0
    assert host_metric(proc, backend, "rq_total") == 1


def test_ring_hash_header_policy_sends_a_key_to_one_backend(remora, http_backends):
    backends = [http_backends(f"b{i}") for i in range(3)]
    proc, port = start(remora, backends, "RING_HASH", concurrency=2,
                       route_extra={"hash_policy": [{"header": {"header_name": "x-user"}}]})
    users = [f"user-{i}" for i in range(30)]
    # Three rounds over separate connections (and so, possibly, different workers).
    rounds = [send_keyed(port, [[("x-user", u)] for u in users]) for _ in range(3)]
    assert rounds[0] == rounds[1] == rounds[2]
    assert len(set(rounds[0])) == 3, "30 keys should reach every backend"
    # Without the header there is no hash: picks are random, not pinned.
    unkeyed = send_keyed(port, [[] for _ in range(60)])
    assert len(set(unkeyed)) == 3
    # Envoy's ring stats: 3 equal hosts, ceil(1024 / 3) entries each.
    stats = proc.stats()
    assert stats["cluster.app.ring_hash_lb.size"] == 1026
    assert stats["cluster.app.ring_hash_lb.min_hashes_per_host"] == 342
    assert stats["cluster.app.ring_hash_lb.max_hashes_per_host"] == 342


def test_ring_hash_weights_split_keys(remora, http_backends):
    backends = [http_backends(f"b{i}") for i in range(2)]
    proc, port = start(remora, backends, "RING_HASH", weights=[1, 3],
                       route_extra={"hash_policy": [{"header": {"header_name": "x-user"}}]},
                       cluster_extra={"ring_hash_lb_config": {"minimum_ring_size": 65536}})
    names = send_keyed(port, [[("x-user", f"u{i}")] for i in range(400)])
    got = [names.count("b0"), names.count("b1")]
    assert chi_square(got, [1, 3]) < CHI2_CRITICAL[1], got


def test_maglev_cookie_policy_generates_and_honours_the_cookie(remora, http_backends):
    backends = [http_backends(f"b{i}") for i in range(3)]
    hash_policy = [{"cookie": {"name": "lb-affinity", "ttl": "600s", "path": "/"}}]
    proc, port = start(remora, backends, "MAGLEV", route_extra={"hash_policy": hash_policy})
    # No cookie: remora makes one, sets it on the response, and hashes it.
    resp = curl(f"http://127.0.0.1:{port}/")
    assert resp.status == 200
    cookie = resp.headers["set-cookie"]
    m = re.fullmatch(r'lb-affinity="([0-9a-f]{16})"; Max-Age=600; Path=/; HttpOnly', cookie)
    assert m, cookie
    first = resp.headers["x-backend"]
    # Sent back, it pins every request to that backend, and no new cookie is set.
    for _ in range(10):
        again = curl(f"http://127.0.0.1:{port}/", headers={"cookie": f"lb-affinity={m.group(1)}"})
        assert again.headers["x-backend"] == first
        assert "set-cookie" not in again.headers
    # Chosen cookie values: each value always reaches the same backend, values spread out.
    keyed = [[("cookie", f"other=1; lb-affinity=v{i}")] for i in range(30)]
    a, b = send_keyed(port, keyed), send_keyed(port, keyed)
    assert a == b
    assert len(set(a)) == 3
    stats = proc.stats()
    assert stats["cluster.app.maglev_lb.min_entries_per_host"] >= 21845
    assert stats["cluster.app.maglev_lb.max_entries_per_host"] <= 21846


def test_hash_policy_terminal_and_query_parameter(remora, http_backends):
    backends = [http_backends(f"b{i}") for i in range(3)]
    hash_policy = [{"query_parameter": {"name": "shard"}, "terminal": True},
                   {"header": {"header_name": "x-user"}}]
    proc, port = start(remora, backends, "MAGLEV", route_extra={"hash_policy": hash_policy})
    with RawHttp(port) as conn:
        seen = set()
        for user in range(20):
            # The shard parameter is terminal: the user header no longer matters.
            assert conn.send(request_bytes(path="/items?shard=7",
                                           headers=[("x-user", f"u{user}")]))
            seen.add(conn.read_response().header("x-backend"))
        assert len(seen) == 1
    by_user = send_keyed(port, [[("x-user", f"u{i}")] for i in range(30)])
    assert by_user == send_keyed(port, [[("x-user", f"u{i}")] for i in range(30)])
    assert len(set(by_user)) > 1
