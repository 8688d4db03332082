"""Dynamic listeners, routes and clusters from filesystem xDS sources (LDS, RDS, CDS): a bootstrap
names lds_config / cds_config / rds config sources that are files; the tests replace the files
atomically (write aside, rename) and watch real clients (curl, Python HTTP clients under steady
load) follow: new listeners serve, changed routes take effect, removed listeners drain without
failing requests in flight, an updated listener keeps its listen socket, invalid updates are
rejected with the last good config kept."""

import http.client
import socket
import threading
import time

from conftest import DiscoveryFile, curl, free_ports, socket_address, static_cluster, wait_until
from http_harness import HCM_TYPE, route, router_filter, vhost

LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"


def hcm_filter(stat_prefix="ingress_http", route_config=None, rds=None):
    cfg = {"@type": HCM_TYPE, "stat_prefix": stat_prefix, "http_filters": [router_filter()]}
    if rds is not None:
        cfg["rds"] = rds
    else:
        cfg["route_config"] = route_config
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": cfg}


def listener(name, port, cluster=None, rds=None, headers=None, **extra):
    """An HTTP listener routing everything to `cluster` (adding response headers `headers`), or
    taking its routes from `rds`."""
    rc = None
    if rds is None:
        action = {}
        if headers:
            action["response_headers_to_add"] = [
                {"header": {"key": k, "value": v}} for k, v in headers.items()]
        rc = {"virtual_hosts": [vhost(routes=[route(cluster=cluster, **action)])]}
    result = {"name": name, "address": socket_address(port),
              "filter_chains": [{"filters": [hcm_filter(route_config=rc, rds=rds)]}]}
    result.update(extra)
    return result


def dynamic_bootstrap(admin_port, clusters, lds=None, cds=None):
    cfg = {"static_resources": {"clusters": clusters},
           "admin": {"address": socket_address(admin_port)}, "dynamic_resources": {}}
    if lds is not None:
        cfg["dynamic_resources"]["lds_config"] = lds.config_source()
    if cds is not None:
        cfg["dynamic_resources"]["cds_config"] = cds.config_source()
    return cfg


def get(port, path="/", headers=None, timeout=5.0):
    """One request on a new connection: (status, headers, body) or raises."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


def listen_inode(port):
    """The inode of the LISTEN socket on 127.0.0.1:port (one per SO_REUSEPORT socket)."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.split(":")[1], 16) == port:
                inodes.add(inode)
    return inodes


class SteadyLoad:
    """`threads` clients each sending requests back to back on new connections until stop();
    every outcome is recorded (status, or the exception's text)."""

    def __init__(self, port, threads=4):
        self.port = port
        self.results = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        while not self.stopping.is_set():
            try:
                status, headers, _ = get(self.port)
                outcome = (status, headers.get("x-generation"))
            except Exception as e:  # a failed request is what the test looks for
                outcome = (repr(e), None)
            with self.lock:
                self.results.append(outcome)

    def count(self):
        with self.lock:
            return len(self.results)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(10)
        return list(self.results)


def test_lds_adds_updates_and_removes_listeners(remora, http_backends, tmp_path):
    backend = http_backends("b1")
    port_a, port_b, admin_port = free_ports(3)
    lds = DiscoveryFile(tmp_path / "lds.json", LISTENER_TYPE)
    lds.write([listener("a", port_a, "b1")])
    proc = remora(dynamic_bootstrap(admin_port, [static_cluster("b1", [backend.port])], lds=lds))
    assert get(port_a)[0] == 200
    assert proc.stat("listener_manager.listener_added") == 1
    assert proc.stat("listener_manager.total_listeners_active") == 1
    assert proc.stat("listener_manager.lds.update_success") == 1

    # A second listener appears and serves.
    lds.write([listener("a", port_a, "b1"), listener("b", port_b, "b1")], version="v2")
    proc.wait_stat("listener_manager.listener_added", lambda v: v == 2)
    wait_until(lambda: curl(f"http://127.0.0.1:{port_b}/") is not None, 5, what="b serving")
    assert get(port_b)[0] == 200
    dump = proc.get("/config_dump").json()
    listeners = next(c for c in dump["configs"] if c["@type"].endswith("ListenersConfigDump"))
    states = {d["name"]: d for d in listeners["dynamic_listeners"]}
    assert states["b"]["active_state"]["version_info"] == "v2"
    assert states["b"]["active_state"]["listener"]["name"] == "b"
    assert "last_updated" in states["b"]["active_state"]
    names = [s["name"] for s in proc.get("/listeners?format=json").json()["listener_statuses"]]
    assert names == ["a", "b"]

    # a goes away: it stops accepting; b carries on.
    lds.write([listener("b", port_b, "b1")])
    proc.wait_stat("listener_manager.listener_removed", lambda v: v == 1)
    wait_until(lambda: not listen_inode(port_a), 5, what="a's sockets closed")
    assert get(port_b)[0] == 200
    assert proc.stat("listener_manager.total_listeners_active") == 1


def test_invalid_lds_update_is_rejected_and_old_config_kept(remora, http_backends, tmp_path):
    backend = http_backends("b1")
    port_a, admin_port = free_ports(2)
    lds = DiscoveryFile(tmp_path / "lds.yaml", LISTENER_TYPE)
    lds.write([listener("a", port_a, "b1", headers={"x-generation": "1"})])
    proc = remora(dynamic_bootstrap(admin_port, [static_cluster("b1", [backend.port])], lds=lds))
    assert get(port_a)[1]["x-generation"] == "1"
    # A field remora does not honour: the whole listener is refused (a NACK), the old one serves.
    bad = listener("a", port_a, "b1", headers={"x-generation": "2"})
    bad["tcp_fast_open_queue_length"] = 5
    lds.write([bad])
    proc.wait_stat("listener_manager.lds.update_rejected", lambda v: v == 1)
    assert "tcp_fast_open_queue_length" in proc.log()
    assert get(port_a)[1]["x-generation"] == "1"
    # A file that is not a DiscoveryResponse at all.
    lds.write(None, text="{not json")
    proc.wait_stat("listener_manager.lds.update_rejected", lambda v: v == 2)
    assert get(port_a)[1]["x-generation"] == "1"
    assert proc.stat("listener_manager.listener_modified") == 0


def test_updated_listener_keeps_its_socket_and_fails_no_request(remora, http_backends, tmp_path):
    backend = http_backends("b1")
    port_a, admin_port = free_ports(2)
    lds = DiscoveryFile(tmp_path / "lds.json", LISTENER_TYPE)
    lds.write([listener("a", port_a, "b1", headers={"x-generation": "0"})])
    proc = remora(dynamic_bootstrap(admin_port, [static_cluster("b1", [backend.port])], lds=lds),
                  "--drain-time-s", "2", concurrency=2)
    sockets = listen_inode(port_a)
    assert len(sockets) == 2  # one SO_REUSEPORT socket per worker
    load = SteadyLoad(port_a)
    answered = []  # on a connection made just before an update, a request sent after it
    try:
        for generation in range(1, 6):
            wait_until(lambda n=load.count(): load.count() >= n + 20, 10, what="requests flowing")
            sock = socket.create_connection(("127.0.0.1", port_a), timeout=5)
            lds.write([listener("a", port_a, "b1", headers={"x-generation": str(generation)})])
            proc.wait_stat("listener_manager.listener_in_place_updated",
                           lambda v, g=generation: v == g)
            sock.sendall(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
            answered.append(sock.recv(65536).split(b"\r\n")[0])
            sock.close()
        wait_until(lambda n=load.count(): load.count() >= n + 20, 10, what="requests flowing")
    finally:
        results = load.stop()
    failed = [r for r in results if r[0] != 200]
    assert not failed, failed[:5]
    assert answered == [b"HTTP/1.1 200 OK"] * 5
    generations = [r[1] for r in results]
    assert generations[-1] == "5"
    assert set(generations) == {str(g) for g in range(6)}
    # The same listen sockets throughout: nothing queued on them was dropped.
    assert listen_inode(port_a) == sockets
    assert proc.stat("listener_manager.listener_modified") == 5


def test_removed_listener_drains_requests_in_flight(remora, http_backends, tmp_path):
    backend = http_backends("b1")
    port_a, port_b, admin_port = free_ports(3)
    lds = DiscoveryFile(tmp_path / "lds.json", LISTENER_TYPE)
    lds.write([listener("a", port_a, "b1"), listener("b", port_b, "b1")])
    proc = remora(dynamic_bootstrap(admin_port, [static_cluster("b1", [backend.port])], lds=lds),
                  "--drain-time-s", "5", concurrency=2)
    # Requests in flight on a's connections when it is removed: each takes 800 ms upstream.
    results = []

    def slow():
        try:
            status, headers, _ = get(port_a, headers={"x-backend-delay-ms": "800"})
            results.append((status, headers.get("connection")))
        except Exception as e:
            results.append((repr(e), None))

    clients = [threading.Thread(target=slow) for _ in range(8)]
    for c in clients:
        c.start()
    backend.wait_requests(8)
    lds.write([listener("b", port_b, "b1")])
    proc.wait_stat("listener_manager.listener_removed", lambda v: v == 1)
    for c in clients:
        c.join(10)
    assert results == [(200, "close")] * 8, results
    assert proc.stat("listener_manager.total_listeners_draining") == 1
    dump = proc.get("/config_dump").json()
    listeners = next(c for c in dump["configs"] if c["@type"].endswith("ListenersConfigDump"))
    assert any("draining_state" in d for d in listeners["dynamic_listeners"] if d["name"] == "a")
    # New connections to a are refused now; b serves.
    try:
        socket.create_connection(("127.0.0.1", port_a), timeout=2).close()
        refused = False
    except ConnectionRefusedError:
        refused = True
    assert refused
    assert get(port_b)[0] == 200
    proc.wait_stat("listener_manager.total_listeners_draining", lambda v: v == 0, timeout=10)


def route_config(name, cluster, generation):
    return {"name": name, "virtual_hosts": [vhost(routes=[route(
        cluster=cluster,
        response_headers_to_add=[{"header": {"key": "x-generation", "value": generation}}])])]}


def test_rds_route_change_takes_effect_and_bad_routes_are_rejected(remora, http_backends,
                                                                    tmp_path):
    b1, b2 = http_backends("b1"), http_backends("b2")
    port_a, admin_port = free_ports(2)
    rds = DiscoveryFile(tmp_path / "rds.json", ROUTE_TYPE)
    rds.write([route_config("r1", "b1", "1")], version="r-1")
    lds = DiscoveryFile(tmp_path / "lds.json", LISTENER_TYPE)
    lds.write([listener("a", port_a, rds={"config_source": rds.config_source(),
                                          "route_config_name": "r1"})])
    proc = remora(dynamic_bootstrap(admin_port, [static_cluster("b1", [b1.port]),
                                                 static_cluster("b2", [b2.port])], lds=lds))
    status, headers, _ = get(port_a)
    assert status == 200 and headers["x-generation"] == "1"
    assert len(b1.requests) == 1
    assert proc.stat("http.ingress_http.rds.r1.config_reload") == 1
    assert proc.stat("http.ingress_http.rds.r1.update_success") == 1

    rds.write([route_config("r1", "b2", "2")], version="r-2")
    proc.wait_stat("http.ingress_http.rds.r1.config_reload", lambda v: v == 2)
    status, headers, _ = get(port_a)
    assert status == 200 and headers["x-generation"] == "2"
    assert len(b2.requests) == 1

    # A route whose cluster_header is empty breaks a PGV rule: refused, r-2 keeps serving.
    bad = route_config("r1", "b1", "3")
    bad["virtual_hosts"][0]["routes"][0]["route"] = {"cluster_header": ""}
    rds.write([bad], version="r-3")
    proc.wait_stat("http.ingress_http.rds.r1.update_rejected", lambda v: v == 1)
    status, headers, _ = get(port_a)
    assert status == 200 and headers["x-generation"] == "2"
    dump = proc.get("/config_dump").json()
    routes = next(c for c in dump["configs"] if c["@type"].endswith("RoutesConfigDump"))
    assert routes["dynamic_route_configs"][0]["version_info"] == "r-2"
    assert routes["dynamic_route_configs"][0]["route_config"]["name"] == "r1"


def test_listener_warms_until_its_routes_arrive(remora, http_backends, tmp_path):
    backend = http_backends("b1")
    port_a, admin_port = free_ports(2)
    rds = DiscoveryFile(tmp_path / "rds.json", ROUTE_TYPE)  # not written yet
    lds = DiscoveryFile(tmp_path / "lds.json", LISTENER_TYPE)
    lds.write([])
    proc = remora(dynamic_bootstrap(admin_port, [static_cluster("b1", [backend.port])], lds=lds))
    rds_source = rds.config_source(initial_fetch_timeout="30s")
    lds.write([listener("a", port_a, rds={"config_source": rds_source, "route_config_name": "r"})])
    proc.wait_stat("listener_manager.total_listeners_warming", lambda v: v == 1)
    # Not served while warming: a request gets no answer.
    assert curl(f"http://127.0.0.1:{port_a}/", timeout=1) is None
    dump = proc.get("/config_dump").json()
    listeners = next(c for c in dump["configs"] if c["@type"].endswith("ListenersConfigDump"))
    assert "warming_state" in listeners["dynamic_listeners"][0]
    rds.write([route_config("r", "b1", "1")])
    proc.wait_stat("listener_manager.total_listeners_active", lambda v: v == 1)
    wait_until(lambda: curl(f"http://127.0.0.1:{port_a}/") is not None, 5, what="a serving")
    status, headers, _ = get(port_a)
    assert status == 200 and headers["x-generation"] == "1"


def test_cds_adds_updates_and_removes_clusters(remora, http_backends, tmp_path):
    b1, b2 = http_backends("b1"), http_backends("b2")
    port_a, admin_port = free_ports(2)
    cds = DiscoveryFile(tmp_path / "cds.json", CLUSTER_TYPE)
    cds.write([static_cluster("dyn", [b1.port])], version="c-1")
    lds = DiscoveryFile(tmp_path / "lds.json", LISTENER_TYPE)
    lds.write([listener("a", port_a, "dyn")])
    proc = remora(dynamic_bootstrap(admin_port, [], lds=lds, cds=cds))
    assert get(port_a)[0] == 200
    assert len(b1.requests) == 1
    assert proc.stat("cluster_manager.cluster_added") == 1
    assert proc.stat("cluster_manager.cds.update_success") == 1
    clusters = proc.get("/clusters?format=json").json()["cluster_statuses"]
    assert [c.get("added_via_api") for c in clusters if c["name"] == "dyn"] == [True]

    cds.write([static_cluster("dyn", [b2.port])], version="c-2")
    proc.wait_stat("cluster_manager.cluster_modified", lambda v: v == 1)
    wait_until(lambda: get(port_a)[0] == 200 and len(b2.requests) >= 1, 5, what="b2 reached")
    dump = proc.get("/config_dump").json()
    dumped = next(c for c in dump["configs"] if c["@type"].endswith("ClustersConfigDump"))
    assert [d["version_info"] for d in dumped["dynamic_active_clusters"]] == ["c-2"]
    assert "last_updated" in dumped["dynamic_active_clusters"][0]

    # An invalid cluster is refused; dyn keeps serving.
    cds.write([{"name": "dyn", "connect_timeout": "-1s"}], version="c-3")
    proc.wait_stat("cluster_manager.cds.update_rejected", lambda v: v == 1)
    assert get(port_a)[0] == 200

    cds.write([], version="c-4")
    proc.wait_stat("cluster_manager.cluster_removed", lambda v: v == 1)
    wait_until(lambda: get(port_a)[0] == 503, 5, what="dyn gone")
    assert proc.stat("cluster_manager.active_clusters") == 0


def test_listener_moved_to_another_address(remora, http_backends, tmp_path):
    backend = http_backends("b1")
    port_1, port_2, admin_port = free_ports(3)
    lds = DiscoveryFile(tmp_path / "lds.json", LISTENER_TYPE)
    lds.write([listener("a", port_1, "b1")])
    proc = remora(dynamic_bootstrap(admin_port, [static_cluster("b1", [backend.port])], lds=lds))
    assert get(port_1)[0] == 200
    # Envoy allows an address change: the new sockets serve once warm, the old ones close.
    lds.write([listener("a", port_2, "b1")])
    proc.wait_stat("listener_manager.listener_modified", lambda v: v == 1)
    wait_until(lambda: not listen_inode(port_1), 5, what="old address closed")
    assert get(port_2)[0] == 200
    statuses = proc.get("/listeners?format=json").json()["listener_statuses"]
    assert [s["local_address"]["socket_address"]["port_value"] for s in statuses] == [port_2]
    # Another listener cannot take an address in use: refused, nothing changes.
    lds.write([listener("a", port_2, "b1"), listener("b", port_2, "b1")])
    proc.wait_stat("listener_manager.lds.update_rejected", lambda v: v == 1)
    assert "same address" in proc.log()
    assert proc.stat("listener_manager.total_listeners_active") == 1
