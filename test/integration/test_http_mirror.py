"""request_mirror_policies end to end: the mirror cluster gets a copy of each request (headers and
streamed body, :authority with "-shadow"), fire and forget; a slow, dead or stuck mirror never
delays or fails the main request; runtime_fraction 0% never mirrors; the mirror cluster's stats
count its responses as usual."""

import hashlib
import http.client
import json
import os
import socket
import time

from conftest import MiB, bootstrap, free_port, free_ports, static_cluster
from http_harness import http_listener, route, vhost

ZERO = {"default_value": {"numerator": 0, "denominator": "HUNDRED"}}


def post(port, path, body=b"", host="example.com", headers=None, timeout=30):
    """A real HTTP/1.1 client request; returns (status, parsed JSON body or raw bytes, seconds)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.monotonic()
    try:
        conn.putrequest("POST", path, skip_host=True)
        conn.putheader("Host", host)
        conn.putheader("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        view = memoryview(body)
        for i in range(0, len(body), MiB):
            conn.send(view[i:i + MiB])
        resp = conn.getresponse()
        data = resp.read()
        elapsed = time.monotonic() - started
        try:
            return resp.status, json.loads(data), elapsed
        except ValueError:
            return resp.status, data, elapsed
    finally:
        conn.close()


def body_of(nbytes):
    return os.urandom(nbytes)


class SilentBackend:
    """Accepts connections and never answers (a stuck mirror); `read` decides whether it drains
    what arrives or leaves it in the socket so the sender backs up."""

    def __init__(self, backends, read=True):
        def handler(conn):
            conn.settimeout(30)
            try:
                while True:
                    if read:
                        if not conn.recv(65536):
                            return None
                    else:
                        # Hold the connection without reading until the peer gives up on it.
                        if not conn.recv(1, socket.MSG_PEEK):
                            return None
                        time.sleep(0.05)
            except OSError:
                return None

        self.backend = backends(handler)
        if not read:
            # A tiny receive window: the mirror's bytes pile up on remora's side quickly.
            self.backend.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.port = self.backend.port


def start(remora, main, clusters, routes, timeout=None):
    listener_port, admin_port = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=routes)]}
    all_clusters = [static_cluster("main", [main.port])] + [
        static_cluster(name, [port]) for name, port in clusters.items()]
    proc = remora(bootstrap([http_listener("http", listener_port, rc)], all_clusters, admin_port))
    return proc, listener_port


def mirrored(prefix, cluster, **policy):
    return route({"prefix": prefix}, cluster="main",
                 request_mirror_policies=[{"cluster": cluster, **policy}])


def test_mirror_gets_the_same_request_with_shadow_host(remora, http_backends):
    main, shadow = http_backends("main"), http_backends("shadow")
    proc, port = start(remora, main, {"shadow": shadow.port}, [mirrored("/", "shadow")])
    body = body_of(300 * 1024 + 3)
    status, seen, _ = post(port, "/upload?x=1", body, host="example.com",
                           headers={"x-test": "mirror"})
    assert status == 200
    assert seen["backend"] == "main"
    assert seen["headers"]["host"] == "example.com"
    copy = shadow.wait_requests(1)[0]
    assert copy["headers"]["host"] == "example.com-shadow"
    assert copy["path"] == "/upload?x=1"
    assert copy["method"] == "POST"
    assert copy["headers"]["x-test"] == "mirror"
    assert copy["body_bytes"] == len(body)
    assert copy["body_sha"] == seen["body_sha"] == hashlib.sha256(body).hexdigest()
    # A port stays after the suffix, as Envoy writes it.
    status, _, _ = post(port, "/p", b"abc", host="svc.local:8080")
    assert status == 200
    assert shadow.wait_requests(2)[1]["headers"]["host"] == "svc.local-shadow:8080"
    proc.wait_stat("cluster.shadow.upstream_rq_200", lambda v: v == 2)
    stats = proc.stats()
    assert stats["cluster.shadow.upstream_rq_total"] == 2
    assert stats["cluster.main.upstream_rq_200"] == 2
    assert stats["http.ingress_http.downstream_rq_2xx"] == 2


def test_mirror_by_cluster_header(remora, http_backends):
    main, shadow = http_backends("main"), http_backends("shadow")
    routes = [route({"prefix": "/"}, cluster="main",
                    request_mirror_policies=[{"cluster_header": "x-mirror-to"}])]
    proc, port = start(remora, main, {"shadow": shadow.port}, routes)
    assert post(port, "/none", b"1")[0] == 200  # no header: no mirror
    assert post(port, "/unknown", b"2", headers={"x-mirror-to": "nope"})[0] == 200
    assert post(port, "/yes", b"3", headers={"x-mirror-to": "shadow"})[0] == 200
    assert [r["path"] for r in shadow.wait_requests(1)] == ["/yes"]
    proc.wait_stat("cluster.shadow.upstream_rq_200", lambda v: v == 1)


def test_zero_fraction_never_mirrors(remora, http_backends):
    main, shadow = http_backends("main"), http_backends("shadow")
    routes = [mirrored("/never", "shadow0", runtime_fraction=ZERO), mirrored("/", "shadow")]
    proc, port = start(remora, main, {"shadow": shadow.port, "shadow0": shadow.port}, routes)
    for i in range(20):
        assert post(port, f"/never/{i}", b"x")[0] == 200
    # A mirror starts with its request: had any of those been mirrored, shadow0's pool would
    # have counted it by the time the main response came back.
    stats = proc.stats()
    assert stats["cluster.shadow0.upstream_rq_total"] == 0
    assert stats["cluster.shadow0.upstream_cx_total"] == 0
    assert post(port, "/always", b"y")[0] == 200
    assert [r["path"] for r in shadow.wait_requests(1)] == ["/always"]


def test_slow_or_dead_mirror_never_delays_or_fails_the_main_request(remora, http_backends,
                                                                    backends):
    main = http_backends("main")
    slow = SilentBackend(backends)  # reads the request, never answers
    dead = free_port()  # nothing listens here
    routes = [
        route({"prefix": "/slow"}, cluster="main", timeout="1s",
              request_mirror_policies=[{"cluster": "slow"}]),
        mirrored("/dead", "dead"),
    ]
    proc, port = start(remora, main, {"slow": slow.port, "dead": dead}, routes)
    for path in ("/slow/1", "/slow/2", "/dead/1", "/dead/2"):
        status, seen, elapsed = post(port, path, b"payload")
        assert status == 200 and seen["path"] == path
        assert elapsed < 0.8, (path, elapsed)
    # The stuck mirrors end with the route timeout; the dead one failed to connect.
    proc.wait_stat("cluster.slow.upstream_rq_timeout", lambda v: v == 2)
    proc.wait_stat("cluster.dead.upstream_cx_connect_fail", lambda v: v >= 1)
    stats = proc.stats()
    assert stats["http.ingress_http.downstream_rq_2xx"] == 4
    assert stats.get("http.ingress_http.downstream_rq_5xx", 0) == 0
    assert stats["cluster.main.upstream_rq_200"] == 4


def test_mirror_that_cannot_keep_up_is_abandoned_not_the_main_request(remora, http_backends,
                                                                      backends):
    main = http_backends("main")
    stuck = SilentBackend(backends, read=False)
    proc, port = start(remora, main, {"stuck": stuck.port}, [mirrored("/", "stuck")])
    nbytes = 32 * MiB  # far past the 1 MiB stream limit plus what the kernel buffers
    body = body_of(nbytes)
    status, seen, _ = post(port, "/big", body, timeout=60)
    assert status == 200
    assert seen["body_bytes"] == nbytes
    assert seen["body_sha"] == hashlib.sha256(body).hexdigest()
    # remora gave the mirror up (closing its connection) instead of buffering the body for it.
    proc.wait_stat("cluster.stuck.upstream_cx_destroy_local", lambda v: v == 1, timeout=10)
    assert proc.stat("cluster.stuck.upstream_rq_total") == 1


def test_client_gone_mid_body_aborts_the_mirror(remora, http_backends):
    main, shadow = http_backends("main"), http_backends("shadow")
    proc, port = start(remora, main, {"shadow": shadow.port}, [mirrored("/", "shadow")])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"POST /partial HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n" +
                 b"x" * 100_000)
    proc.wait_stat("cluster.shadow.upstream_rq_total", lambda v: v == 1)
    sock.close()
    # The copy can never be complete: remora resets it rather than leave the mirror waiting.
    proc.wait_stat("cluster.shadow.upstream_cx_destroy_local", lambda v: v == 1)
    for backend in (main, shadow):
        for r in backend.requests:
            assert r["body_bytes"] < 1_000_000, r
    status, seen, _ = post(port, "/after", b"ok")
    assert status == 200 and seen["path"] == "/after"
    # The aborted /partial copy is recorded too, whenever its handler sees the close: wait for
    # both, in either order.
    assert sorted(r["path"] for r in shadow.wait_requests(2)) == ["/after", "/partial"]
