"""ORIGINAL_DST clusters over HTTP without traffic capture: original_dst_lb_config's
use_http_header routes each request to the "ip:port" its x-envoy-original-dst-host (or a named
header) carries, and cleanup_interval retires a destination's pool once it goes unused, closing
its kept-alive connection. (Captured traffic is covered in test/e2e.)"""

from conftest import bootstrap, curl, free_ports
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
