"""remora as an ADS client (dynamic_resources.ads_config over envoy_grpc), against the scripted
ADS server of xds_harness (@grpc/grpc-js), in State of the World and Delta: EDS over ADS steers
real curl traffic between real backends; the node identity, versions, nonces and ACKs are as
Envoy's; an assignment remora cannot honour is NACKed with error_detail while the old endpoints
keep serving; remora keeps serving when the server dies, reconnects and resyncs when it is back;
a cluster warms until its first assignment, or until initial_fetch_timeout."""

import pytest

from conftest import bootstrap, curl, free_ports, run_remora, static_cluster, wait_until
from http_harness import http_listener, route, vhost
from test_discovery import wait_traffic
from xds_harness import (CLA_TYPE, AdsServer, ads_dynamic_resources, ads_eds_cluster,
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
