"""remora as an ADS client (dynamic_resources.ads_config over envoy_grpc), against the scripted
ADS server of xds_harness (@grpc/grpc-js), in State of the World and Delta: EDS over ADS steers
real curl traffic between real backends; the node identity, versions, nonces and ACKs are as
Envoy's; an assignment remora cannot honour is NACKed with error_detail while the old endpoints
keep serving; remora keeps serving when the server dies, reconnects and resyncs when it is back;
a cluster warms until its first assignment, or until initial_fetch_timeout. Listeners, clusters
and routes over the same stream (lds_config, cds_config, rds with ads): a listener added starts
serving, a route changed under steady load fails nothing, a removed cluster goes, a bad listener is
NACKed while the old one serves, a removed listener drains; versions in /config_dump's dynamic
sections."""

import pytest

from conftest import bootstrap, curl, free_ports, run_remora, static_cluster, wait_until
from http_harness import http_listener, route, vhost
from test_discovery import wait_traffic
from xds_harness import (CLA_TYPE, CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE, AdsServer,
                         ads_dynamic_resources, ads_eds_cluster, ads_lds_cds, ads_rds_listener,
                         load_assignment, xds_cluster)

MODES = [pytest.param(False, id="sotw"), pytest.param(True, id="delta")]


@pytest.fixture
def ads_server():
    made = []

    def make(port=0):
        server = AdsServer(port)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


def start_proxy(remora, server, delta, cluster="svc", wait=True, *args, **cluster_extra):
    listener_port, admin_port = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster=cluster)])]}
    cfg = bootstrap([http_listener("http", listener_port, rc)],
                    [xds_cluster(server.port), ads_eds_cluster(cluster, **cluster_extra)],
                    admin_port, dynamic_resources=ads_dynamic_resources(delta),
                    node={"id": "bootstrap-node", "cluster": "bootstrap-cluster"})
    proc = remora(cfg, "--service-node", "node-1", "--service-cluster", "cluster-1", *args,
                  wait=wait, log_level="debug")
    return proc, listener_port


def acked(server, response, delta):
    """The request answering `response` without error_detail (an ACK)."""
    return server.wait_request(
        lambda r: r["response_nonce"] == response["nonce"] and r["error_detail"] is None
        and (delta or r["version_info"] == response["version"]),
        type_url=CLA_TYPE, what=f"the ACK of nonce {response['nonce']}")


@pytest.mark.parametrize("delta", MODES)
def test_eds_over_ads_steers_traffic(remora, ads_server, http_backends, delta):
    b1, b2 = http_backends("b1"), http_backends("b2")
    server = ads_server()
    server.set(CLA_TYPE, "1", [load_assignment("svc", [b1])])
    proc, port = start_proxy(remora, server, delta)
    wait_traffic(port, {"b1"})

    first = server.requests(type_url=CLA_TYPE)[0]
    # The node identity: the bootstrap's node with --service-node/--service-cluster over it.
    assert first["node"] == {"id": "node-1", "cluster": "cluster-1"}
    if delta:
        assert first["subscribe"] == ["svc"]
    else:
        assert first["resource_names"] == ["svc"] and first["version_info"] == ""
        assert first["response_nonce"] == ""
    acked(server, server.wait_response(type_url=CLA_TYPE, version="1"), delta)

    server.set(CLA_TYPE, "2", [load_assignment("svc", [b2])])
    wait_traffic(port, {"b2"})
    acked(server, server.wait_response(type_url=CLA_TYPE, version="2"), delta)
    server.set(CLA_TYPE, "3", [load_assignment("svc", [b1, b2])])
    wait_traffic(port, {"b1", "b2"}, n=20)
    assert proc.stat("control_plane.connected_state") == 1
    assert proc.stat("cluster.svc.update_success") == 3
    assert proc.stat("cluster.svc.update_rejected") == 0


@pytest.mark.parametrize("delta", MODES)
def test_invalid_assignment_is_nacked_and_old_endpoints_kept(remora, ads_server, http_backends,
                                                             delta):
    b1 = http_backends("b1")
    server = ads_server()
    server.set(CLA_TYPE, "1", [load_assignment("svc", [b1])])
    proc, port = start_proxy(remora, server, delta)
    wait_traffic(port, {"b1"})
    acked(server, server.wait_response(type_url=CLA_TYPE, version="1"), delta)

    bad = load_assignment("svc", [b1])
    bad["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"][
        "port_value"] = 70000  # out of range: the proto's validation refuses it
    server.set(CLA_TYPE, "2", [bad])
    response = server.wait_response(type_url=CLA_TYPE, version="2")
    nack = server.wait_request(lambda r: r["response_nonce"] == response["nonce"],
                               type_url=CLA_TYPE, what="the NACK")
    assert nack["error_detail"] is not None, nack
    assert "port_value" in nack["error_detail"]["message"], nack
    if not delta:
        assert nack["version_info"] == "1"  # the version still applied
    proc.wait_stat("cluster.svc.update_rejected", lambda v: v == 1)
    wait_traffic(port, {"b1"})

    # A good assignment after the bad one is applied and ACKed.
    b2 = http_backends("b2")
    server.set(CLA_TYPE, "3", [load_assignment("svc", [b2])])
    wait_traffic(port, {"b2"})
    acked(server, server.wait_response(type_url=CLA_TYPE, version="3"), delta)


@pytest.mark.parametrize("delta", MODES)
def test_reconnects_and_resyncs_after_the_server_restarts(remora, ads_server, http_backends,
                                                          delta):
    b1, b2 = http_backends("b1"), http_backends("b2")
    server = ads_server()
    server.set(CLA_TYPE, "1", [load_assignment("svc", [b1])])
    proc, port = start_proxy(remora, server, delta)
    wait_traffic(port, {"b1"})
    acked(server, server.wait_response(type_url=CLA_TYPE, version="1"), delta)

    server.kill()
    proc.wait_stat("control_plane.connected_state", lambda v: v == 0)
    proc.wait_stat("cluster.svc.update_failure", lambda v: v >= 1)
    # The last config keeps serving while the control plane is away.
    wait_traffic(port, {"b1"})

    server.start()  # the same port; remora's backoff brings it back
    server.set(CLA_TYPE, "2", [load_assignment("svc", [b2])])
    first = server.wait_request(type_url=CLA_TYPE, run=2, timeout=40,
                                what="a request on the new stream")
    assert first["node"] == {"id": "node-1", "cluster": "cluster-1"}
    if delta:
        # The new stream says which versions remora already holds.
        assert first["initial_resource_versions"] == {"svc": "1"}
        assert first["subscribe"] == ["svc"]
    else:
        assert first["version_info"] == "1" and first["resource_names"] == ["svc"]
    wait_traffic(port, {"b2"})
    proc.wait_stat("control_plane.connected_state", lambda v: v == 1)


@pytest.mark.parametrize("delta", MODES)
def test_a_closed_stream_is_reopened(remora, ads_server, http_backends, delta):
    """The server ends the stream with UNAVAILABLE (trailers) instead of dying."""
    b1, b2 = http_backends("b1"), http_backends("b2")
    server = ads_server()
    server.set(CLA_TYPE, "1", [load_assignment("svc", [b1])])
    proc, port = start_proxy(remora, server, delta)
    wait_traffic(port, {"b1"})
    server.close_streams()
    proc.wait_stat("cluster.svc.update_failure", lambda v: v >= 1)
    server.wait_request(lambda r: r["stream"] > 1, type_url=CLA_TYPE, timeout=40,
                        what="a request on a second stream")
    server.set(CLA_TYPE, "2", [load_assignment("svc", [b2])])
    wait_traffic(port, {"b2"})


def test_warming_waits_for_the_first_assignment(remora, ads_server, http_backends):
    b1 = http_backends("b1")
    server = ads_server()  # nothing to answer yet
    proc, port = start_proxy(remora, server, False, wait=False, initial_fetch_timeout="60s")
    server.wait_request(type_url=CLA_TYPE, what="the EDS subscription")
    # Subscribed but unanswered: the cluster warms and the server is not ready.
    for _ in range(5):
        assert curl(proc.url("/ready")).status == 503
    server.set(CLA_TYPE, "1", [load_assignment("svc", [b1])])
    proc.wait_ready()
    wait_traffic(port, {"b1"})


def test_initial_fetch_timeout_releases_warming(remora, ads_server, http_backends):
    b1 = http_backends("b1")
    server = ads_server()
    proc, port = start_proxy(remora, server, False, wait=False, initial_fetch_timeout="1s")
    server.wait_request(type_url=CLA_TYPE, what="the EDS subscription")
    assert curl(proc.url("/ready")).status == 503
    proc.wait_ready(timeout=10)  # released by the timeout, with no endpoints
    assert proc.stat("cluster.svc.init_fetch_timeout") == 1
    assert curl(f"http://127.0.0.1:{port}/").status == 503  # no healthy upstream yet
    server.set(CLA_TYPE, "1", [load_assignment("svc", [b1])])
    wait_traffic(port, {"b1"})


def validate(tmp_path, cfg):
    import json
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(cfg))
    return run_remora(["--mode", "validate", "-c", str(path)])


def test_ads_config_is_checked(tmp_path):
    (xds_port,) = free_ports(1)
    good = bootstrap([], [xds_cluster(xds_port), ads_eds_cluster("svc")],
                     dynamic_resources=ads_dynamic_resources())
    assert validate(tmp_path, good).returncode == 0

    google = bootstrap([], [xds_cluster(xds_port)], dynamic_resources=ads_dynamic_resources())
    google["dynamic_resources"]["ads_config"]["grpc_services"] = [
        {"google_grpc": {"target_uri": "127.0.0.1:1", "stat_prefix": "x"}}]
    result = validate(tmp_path, google)
    assert result.returncode != 0 and "google_grpc" in result.stderr + result.stdout

    http1 = bootstrap([], [static_cluster("xds-grpc", [xds_port])],
                      dynamic_resources=ads_dynamic_resources())
    result = validate(tmp_path, http1)
    assert result.returncode != 0 and "HTTP/2" in result.stderr + result.stdout

    unknown = bootstrap([], [xds_cluster(xds_port)],
                        dynamic_resources=ads_dynamic_resources(cluster="nope"))
    result = validate(tmp_path, unknown)
    assert result.returncode != 0 and "nope" in result.stderr + result.stdout

    rest = bootstrap([], [xds_cluster(xds_port)], dynamic_resources=ads_dynamic_resources())
    rest["dynamic_resources"]["ads_config"]["api_type"] = "REST"
    result = validate(tmp_path, rest)
    assert result.returncode != 0 and "api_type" in result.stderr + result.stdout

    no_ads = bootstrap([], [xds_cluster(xds_port), ads_eds_cluster("svc")])
    result = validate(tmp_path, no_ads)
    assert result.returncode != 0 and "ads_config" in result.stderr + result.stdout


def test_a_server_without_ads_is_retried(remora, http_backends):
    """A gRPC server that does not implement ADS answers trailers-only UNIMPLEMENTED: the call
    ends with that status, is counted as a failure, and retried with backoff."""
    from test_grpc_js import GrpcServer
    echo = GrpcServer()
    try:
        proc, _ = start_proxy(remora, echo, False, wait=False, initial_fetch_timeout="1s")
        wait_until(lambda: curl(proc.url("/ready")) is not None, 10, what="the admin listener")
        proc.wait_stat("cluster.svc.update_failure", lambda v: v >= 2, timeout=10)
        assert "grpc-status 12" in proc.log()
        assert proc.stat("control_plane.connected_state") in (0, 1)  # 1 while a retry is open
        proc.wait_ready(timeout=10)  # initial_fetch_timeout released the warming cluster
        assert proc.stat("cluster.svc.init_fetch_timeout") == 1
    finally:
        echo.close()


# -- listeners, clusters and routes over the same stream (lds_config / cds_config / rds: ads)

def route_config(name, cluster):
    return {"name": name, "virtual_hosts": [vhost(routes=[route(cluster=cluster)])]}


def cds_cluster(name):
    """An EDS-over-ADS cluster as CDS sends it (protobufjs reads no JSON duration strings)."""
    return {**ads_eds_cluster(name), "connect_timeout": {"seconds": 1}}


def start_dynamic_proxy(remora, server, delta, *args):
    """A remora whose only static resource is the ADS cluster: everything else over ADS."""
    (admin_port,) = free_ports(1)
    cfg = bootstrap([], [xds_cluster(server.port)], admin_port,
                    dynamic_resources=ads_lds_cds(delta),
                    node={"id": "node-1", "cluster": "cluster-1"})
    return remora(cfg, "--concurrency", "2", *args, log_level="debug")


def serve_all(server, version, listeners, clusters, routes, assignments):
    server.set(CLA_TYPE, version, assignments)
    server.set(CLUSTER_TYPE, version, clusters)
    server.set(ROUTE_TYPE, version, routes)
    server.set(LISTENER_TYPE, version, listeners)


def dump_section(proc, suffix):
    return next(c for c in proc.get("/config_dump").json()["configs"] if c["@type"].endswith(suffix))


def dynamic_versions(proc):
    """{name: version} of the dynamic listeners (active), clusters and route configs."""
    listeners = {d["name"]: d["active_state"]["version_info"]
                 for d in dump_section(proc, "ListenersConfigDump").get("dynamic_listeners", [])
                 if "active_state" in d}
    clusters = {d["cluster"]["name"]: d["version_info"]
                for d in dump_section(proc, "ClustersConfigDump").get("dynamic_active_clusters", [])}
    routes = {d["route_config"]["name"]: d["version_info"]
              for d in dump_section(proc, "RoutesConfigDump").get("dynamic_route_configs", [])}
    return listeners, clusters, routes


class SteadyLoad:
    """Requests in a loop on `port` from two threads (one keep-alive connection, one new
    connection per request) until stop(); every answer's backend or failure is recorded."""

    def __init__(self, port):
        import threading
        self.port = port
        self.answers, self.failures = [], []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(k,), daemon=True)
                         for k in (True, False)]
        for t in self._threads:
            t.start()

    def _run(self, keep_alive):
        import http.client
        import json
        conn = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", "/", headers={} if keep_alive else {"connection": "close"})
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    self.failures.append(f"status {response.status} {body[:100]!r}")
                else:
                    self.answers.append(json.loads(body)["backend"])
                if not keep_alive or response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException, ValueError) as e:
                self.failures.append(f"{type(e).__name__}: {e}")
                conn = None

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(15)


@pytest.mark.parametrize("delta", MODES)
def test_lds_cds_rds_over_ads_serve_and_change_without_failures(remora, ads_server,
                                                                 http_backends, delta):
    b1, b2 = http_backends("b1"), http_backends("b2")
    (port,) = free_ports(1)
    server = ads_server()
    clusters = [cds_cluster("c1"), cds_cluster("c2")]
    assignments = [load_assignment("c1", [b1]), load_assignment("c2", [b2])]
    serve_all(server, "1", [ads_rds_listener("l1", port, "r1")], clusters,
              [route_config("r1", "c1")], assignments)
    proc = start_dynamic_proxy(remora, server, delta)  # ready: the listener and its routes warmed
    wait_traffic(port, {"b1"})
    assert dynamic_versions(proc) == ({"l1": "1"}, {"c1": "1", "c2": "1"}, {"r1": "1"})
    # The last LDS and CDS responses processed, as Envoy's dump says.
    assert dump_section(proc, "ListenersConfigDump")["version_info"] == "1"
    assert dump_section(proc, "ClustersConfigDump")["version_info"] == "1"
    # Each type was ACKed with the nonce of the response that carried it.
    for type_url in (LISTENER_TYPE, CLUSTER_TYPE, ROUTE_TYPE, CLA_TYPE):
        response = server.wait_response(type_url=type_url, version="1")
        server.wait_request(lambda r: r["response_nonce"] == response["nonce"]
                            and r["error_detail"] is None, type_url=type_url,
                            what=f"the ACK of {type_url}")

    # A route changed over RDS under steady load: routing follows, nothing fails.
    load = SteadyLoad(port)
    try:
        wait_until(lambda: len(load.answers) >= 50, 10, what="the load running")
        server.set(ROUTE_TYPE, "2", [route_config("r1", "c2")])
        seen = len(load.answers)
        wait_until(lambda: load.answers[seen:].count("b2") >= 50, 10, what="answers from b2")
    finally:
        load.stop()
    assert not load.failures, load.failures[:5]
    switched = len(load.answers) - 1 - load.answers[::-1].index("b1")
    assert set(load.answers[switched + 1:]) == {"b2"}
    proc.wait_stat("http.l1.rds.r1.update_success", lambda v: v == 2)
    assert dynamic_versions(proc)[2] == {"r1": "2"}
    # The listener is untouched by a route change.
    assert proc.stat("listener_manager.listener_modified") == 0

    # A cluster removed over CDS is gone; what still routes keeps working.
    server.set(CLUSTER_TYPE, "3", [cds_cluster("c2")])
    wait_until(lambda: set(dynamic_versions(proc)[1]) == {"c2"}, 10, what="c1 removed")
    assert dump_section(proc, "ClustersConfigDump")["version_info"] == "3"
    proc.wait_stat("cluster_manager.cluster_removed", lambda v: v == 1)
    wait_traffic(port, {"b2"})
    response = server.wait_response(type_url=CLUSTER_TYPE, version="3")
    server.wait_request(lambda r: r["response_nonce"] == response["nonce"]
                        and r["error_detail"] is None, type_url=CLUSTER_TYPE,
                        what="the ACK of the removal")


@pytest.mark.parametrize("delta", MODES)
def test_listener_added_nacked_and_removed_over_lds(remora, ads_server, http_backends, delta):
    b1 = http_backends("b1")
    port1, port2 = free_ports(2)
    server = ads_server()
    l1, l2 = ads_rds_listener("l1", port1, "r1"), ads_rds_listener("l2", port2, "r1")
    serve_all(server, "1", [l1], [cds_cluster("c1")], [route_config("r1", "c1")],
              [load_assignment("c1", [b1])])
    proc = start_dynamic_proxy(remora, server, delta, "--drain-time-s", "3")
    wait_traffic(port1, {"b1"})

    # A listener added over LDS starts serving.
    server.set(LISTENER_TYPE, "2", [l1, l2])
    wait_until(lambda: curl(f"http://127.0.0.1:{port2}/") is not None, 10, what="l2 serving")
    wait_traffic(port2, {"b1"})
    # An unchanged listener keeps the version that last changed it.
    assert dynamic_versions(proc)[0] == {"l1": "1", "l2": "2"}

    # A listener remora cannot honour is NACKed with error_detail; the old one keeps serving.
    bad = ads_rds_listener("l2", port2, "r1")
    bad["address"]["socket_address"]["port_value"] = 70000
    server.set(LISTENER_TYPE, "3", [l1, bad])
    response = server.wait_response(type_url=LISTENER_TYPE, version="3")
    nack = server.wait_request(lambda r: r["response_nonce"] == response["nonce"],
                               type_url=LISTENER_TYPE, what="the LDS NACK")
    assert nack["error_detail"] is not None and "port_value" in nack["error_detail"]["message"]
    if not delta:
        assert nack["version_info"] == "2"  # the version still applied
    proc.wait_stat("listener_manager.lds.update_rejected", lambda v: v == 1)
    wait_traffic(port2, {"b1"})
    assert dynamic_versions(proc)[0]["l2"] == "2"
    # /config_dump shows the refused configuration as l2's error_state, beside its active one.
    (l2_dump,) = [d for d in dump_section(proc, "ListenersConfigDump")["dynamic_listeners"]
                  if d["name"] == "l2"]
    error = l2_dump["error_state"]
    assert error["version_info"] == "3" and "port_value" in error["details"]
    assert error["failed_configuration"]["address"]["socket_address"]["port_value"] == 70000
    assert "last_update_attempt" in error

    # A listener removed drains: a request in flight on it completes, then the port closes.
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(curl, f"http://127.0.0.1:{port2}/slow", timeout=10,
                           headers={"x-backend-delay-ms": "1500"})
        wait_until(lambda: any(r["path"] == "/slow" for r in b1.requests), 5,
                   what="the slow request at the backend")
        server.set(LISTENER_TYPE, "4", [l1])
        proc.wait_stat("listener_manager.listener_removed", lambda v: v == 1)
        assert slow.result().status == 200
    wait_until(lambda: curl(f"http://127.0.0.1:{port2}/", timeout=1) is None, 10,
               what="l2's port closed")
    assert "l2" not in dynamic_versions(proc)[0]
    # The next LDS response replaced the failure list: no error_state is left.
    assert not [d for d in dump_section(proc, "ListenersConfigDump")["dynamic_listeners"]
                if "error_state" in d]
    wait_traffic(port1, {"b1"})
