"""ORIGINAL_DST clusters over HTTP without traffic capture: original_dst_lb_config's
use_http_header routes each request to the "ip:port" its x-envoy-original-dst-host (or a named
header) carries, and cleanup_interval retires a destination's pool once it goes unused, closing
its kept-alive connection. (Captured traffic is covered in test/e2e.)"""

from conftest import bootstrap, curl, free_ports, wait_until
from http_harness import http_listener, route, vhost


def od_cluster(**extra):
    cluster = {"name": "od", "type": "ORIGINAL_DST", "lb_policy": "CLUSTER_PROVIDED",
               "connect_timeout": "1s"}
    cluster.update(extra)
    return cluster


def start(remora, cluster):
    port, admin = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster=cluster["name"])])]}
    return remora(bootstrap([http_listener("http", port, rc)], [cluster], admin)), port


def get(port, headers=()):
    resp = curl(f"http://127.0.0.1:{port}/x", headers=headers)
    assert resp is not None
    return resp


def test_header_names_the_destination(remora, http_backends):
    a, b = http_backends("a"), http_backends("b")
    proc, port = start(remora, od_cluster(original_dst_lb_config={"use_http_header": True}))
    for backend in (a, b, a):
        resp = get(port, [f"x-envoy-original-dst-host: 127.0.0.1:{backend.port}"])
        assert (resp.status, resp.headers["x-backend"]) == (200, backend.name)
    # Not an ip:port: counted; with no captured destination to fall back on, there is no host.
    for value in ("backend.example:80", "127.0.0.1", "::1:80", "127.0.0.1:99999"):
        resp = get(port, [f"x-envoy-original-dst-host: {value}"])
        assert (resp.status, resp.body) == (503, "no healthy upstream"), value
    assert proc.stat("cluster.od.original_dst_host_invalid") == 4
    # No header: likewise no host (the connection was not redirected), and nothing invalid.
    assert get(port).status == 503
    assert proc.stat("cluster.od.original_dst_host_invalid") == 4


def test_named_header_replaces_the_default_one(remora, http_backends):
    a = http_backends("a")
    proc, port = start(remora, od_cluster(
        original_dst_lb_config={"use_http_header": True, "http_header_name": "X-Dst"}))
    assert get(port, [f"x-dst: 127.0.0.1:{a.port}"]).status == 200
    assert get(port, [f"x-envoy-original-dst-host: 127.0.0.1:{a.port}"]).status == 503
    assert len(a.requests) == 1


def test_header_is_ignored_without_use_http_header(remora, http_backends):
    a = http_backends("a")
    proc, port = start(remora, od_cluster())
    assert get(port, [f"x-envoy-original-dst-host: 127.0.0.1:{a.port}"]).status == 503
    assert a.requests == []


def test_unused_destination_is_cleaned_up(remora, http_backends):
    a, b = http_backends("a"), http_backends("b")
    proc, port = start(remora, od_cluster(original_dst_lb_config={"use_http_header": True},
                                          cleanup_interval="0.5s"))
    assert get(port, [f"x-envoy-original-dst-host: 127.0.0.1:{a.port}"]).status == 200
    assert get(port, [f"x-envoy-original-dst-host: 127.0.0.1:{b.port}"]).status == 200
    # Both connections are kept alive for reuse (the idle timeout is an hour) until a sweep finds
    # their destinations unused for a whole interval and closes them.
    assert proc.stat("cluster.od.upstream_cx_active") == 2
    proc.wait_stat("cluster.od.upstream_cx_active", lambda v: v == 0, timeout=5)
    assert proc.stat("cluster.od.upstream_cx_destroy_local") == 2
    # A destination comes back: a new pool, a new connection.
    assert get(port, [f"x-envoy-original-dst-host: 127.0.0.1:{a.port}"]).status == 200
    assert proc.stat("cluster.od.upstream_cx_total") == 3


def clusters_hosts(proc):
    """/clusters' od hosts as {"ip:port": {field: value}}."""
    hosts = {}
    for line in proc.get("/clusters").body.splitlines():
        parts = line.split("::")
        if parts[0] == "od" and len(parts) == 4 and ":" in parts[1]:
            hosts.setdefault(parts[1], {})[parts[2]] = parts[3]
    return hosts


def test_clusters_lists_the_destinations_until_cleanup(remora, http_backends):
    """Envoy lists the hosts an ORIGINAL_DST cluster made, with their stats, in /clusters, one per
    destination; a destination unused for a cleanup_interval leaves, and coming back it is a new
    host."""
    a, b = http_backends("a"), http_backends("b")
    proc, port = start(remora, od_cluster(original_dst_lb_config={"use_http_header": True},
                                          cleanup_interval="1s"))
    for backend in (a, b, a):
        assert get(port, [f"x-envoy-original-dst-host: 127.0.0.1:{backend.port}"]).status == 200
    hosts = clusters_hosts(proc)
    assert set(hosts) == {f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"}
    assert (hosts[f"127.0.0.1:{a.port}"]["rq_total"], hosts[f"127.0.0.1:{a.port}"]["cx_total"]) == (
        "2", "1")
    assert hosts[f"127.0.0.1:{b.port}"]["rq_total"] == "1"
    assert hosts[f"127.0.0.1:{b.port}"]["health_flags"] == "healthy"
    # Both go unused: two sweeps later (the first marks them unused) they are gone.
    wait_until(lambda: clusters_hosts(proc) == {}, 5, what="the hosts cleaned up")
    assert get(port, [f"x-envoy-original-dst-host: 127.0.0.1:{a.port}"]).status == 200
    hosts = clusters_hosts(proc)
    assert set(hosts) == {f"127.0.0.1:{a.port}"}
    assert hosts[f"127.0.0.1:{a.port}"]["rq_total"] == "1"  # a new host, counting afresh


def test_upstream_port_override_replaces_the_port(remora, http_backends):
    a = http_backends("a")
    proc, port = start(remora, od_cluster(
        original_dst_lb_config={"use_http_header": True, "upstream_port_override": a.port}))
    # The header names a port nothing listens on; the override sends the request to a's.
    resp = get(port, ["x-envoy-original-dst-host: 127.0.0.1:1"])
    assert (resp.status, resp.headers["x-backend"]) == (200, "a")
    assert set(clusters_hosts(proc)) == {f"127.0.0.1:{a.port}"}


def test_metadata_key_is_rejected(tmp_path):
    """No remora filter writes the dynamic metadata metadata_key would read: rejected at load."""
    import json
    from conftest import run_remora
    cluster = od_cluster(original_dst_lb_config={"metadata_key": {"key": "envoy.lb",
                                                                  "path": [{"key": "dst"}]}})
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps(bootstrap([], [cluster])))
    result = run_remora(["--mode", "validate", "-c", str(cfg)])
    assert result.returncode != 0
    assert "original_dst_lb_config.metadata_key" in result.stdout + result.stderr
