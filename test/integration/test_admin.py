"""The admin API answers like Envoy's: paths, methods, content types, JSON shapes, and counters that
move with traffic. Driven with curl."""

import json
import re
import socket

import pytest

from conftest import (bootstrap, closed_by_peer, connect, echo_handler, free_ports, recv_all,
                      send_pattern, simple_proxy_config, sink_handler, static_cluster, tcp_listener,
                      wait_until)


@pytest.fixture
def proxied(remora, backends, ports):
    """remora with listener 'ingress' → tcp_proxy 'ingress_tcp' → cluster 'backend' (a sink that
    replies with a digest line), plus an unused cluster 'idle'."""
    backend = backends(sink_handler())
    listener_port, admin_port, idle_port = ports(3)
    cfg = simple_proxy_config(backend.port, listener_port, admin_port)
    cfg["static_resources"]["clusters"].append(static_cluster("idle", [idle_port]))
    proc = remora(cfg)
    proc.listener_port = listener_port
    proc.backend = backend
    return proc


def one_transfer(port, nbytes):
    """Sends nbytes, half-closes, reads the reply line; returns its length."""
    with connect(port) as s:
        send_pattern(s, nbytes, seed=21)
        s.shutdown(socket.SHUT_WR)
        reply = s.makefile("rb").readline()
    assert reply.split()[1] == str(nbytes).encode()
    return len(reply)


def test_ready(proxied):
    r = proxied.get("/ready")
    assert r.status == 200
    assert r.body.strip() == "LIVE"
    assert r.headers["content-type"].startswith("text/plain")


def test_server_info_shape(proxied):
    r = proxied.get("/server_info")
    assert r.status == 200
    assert r.headers["content-type"].startswith("application/json")
    info = r.json()
    assert info["state"] == "LIVE"
    assert info["version"]
    for key in ("uptime_current_epoch", "uptime_all_epochs", "hot_restart_version",
                "command_line_options", "node"):
        assert key in info, key
    opts = info["command_line_options"]
    assert opts["concurrency"] == 1
    assert opts["config_path"] == str(proxied.config_path)
    assert opts["mode"] == "Serve"
    assert re.fullmatch(r"\d+s", opts["drain_time"]), opts["drain_time"]


def test_stats_text_and_counters_move_with_traffic(proxied):
    port = proxied.listener_port
    before = proxied.stats()
    assert before["cluster.backend.upstream_cx_total"] == 0
    assert before["cluster.backend.membership_total"] == 1
    assert before["cluster.backend.membership_healthy"] == 1
    assert before["server.live"] == 1

    up = [1 << 20, 3 * (1 << 20) + 5]
    down = [one_transfer(port, n) for n in up]

    lst = f"listener.127.0.0.1_{port}."
    proxied.wait_stat("cluster.backend.upstream_cx_tx_bytes_total", lambda v: v == sum(up))
    proxied.wait_stat("cluster.backend.upstream_cx_rx_bytes_total", lambda v: v == sum(down))
    proxied.wait_stat(lst + "downstream_cx_active", lambda v: v == 0)
    proxied.wait_stat("cluster.backend.upstream_cx_active", lambda v: v == 0)
    s = proxied.stats()
    assert s[lst + "downstream_cx_total"] == 2
    assert s["cluster.backend.upstream_cx_total"] == 2
    assert s["tcp.ingress_tcp.downstream_cx_total"] == 2
    assert s["tcp.ingress_tcp.downstream_cx_rx_bytes_total"] == sum(up)
    assert s["tcp.ingress_tcp.downstream_cx_tx_bytes_total"] == sum(down)
    assert s["cluster.backend.upstream_cx_connect_fail"] == 0
    assert s["cluster.idle.upstream_cx_total"] == 0
    assert "server.uptime" in s and "server.memory_allocated" in s and s["server.concurrency"] == 1


def test_stats_content_type_and_format(proxied):
    r = proxied.get("/stats")
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/plain")
    lines = [l for l in r.body.splitlines() if l]
    assert lines and all(re.fullmatch(r"[A-Za-z0-9_.:\-\[\]]+: .*", l) for l in lines), lines[:5]
    # Envoy prints counters and gauges in name order, then histograms in name order.
    histogram = [not re.fullmatch(r"-?\d+", l.split(": ", 1)[1]) for l in lines]
    split = histogram.index(True) if True in histogram else len(lines)
    assert not any(histogram[:split]) and all(histogram[split:]), lines
    names = [l.split(": ")[0] for l in lines]
    assert names[:split] == sorted(names[:split]), "Envoy sorts stats by name"
    assert names[split:] == sorted(names[split:])
    assert "cluster.backend.upstream_cx_connect_ms" in names[split:]


def test_stats_json(proxied):
    one_transfer(proxied.listener_port, 1000)
    proxied.wait_stat("cluster.backend.upstream_cx_tx_bytes_total", lambda v: v == 1000)
    r = proxied.get("/stats?format=json")
    assert r.status == 200
    assert r.headers["content-type"].startswith("application/json")
    doc = r.json()
    entries = {e["name"]: e["value"] for e in doc["stats"] if "name" in e}
    assert entries["cluster.backend.upstream_cx_total"] == 1
    assert entries["cluster.backend.upstream_cx_tx_bytes_total"] == 1000
    assert isinstance(entries["server.live"], int)


def test_stats_filter(proxied):
    r = proxied.get("/stats?filter=cluster%5C.backend%5C.")  # regex cluster\.backend\.
    assert r.status == 200
    names = [l.split(": ")[0] for l in r.body.splitlines() if l]
    assert names and all(n.startswith("cluster.backend.") for n in names), names
    assert "cluster.backend.upstream_cx_total" in names
    r = proxied.get("/stats?filter=upstream_cx_connect_fail$")
    names = sorted(l.split(": ")[0] for l in r.body.splitlines() if l)
    assert names == ["cluster.backend.upstream_cx_connect_fail", "cluster.idle.upstream_cx_connect_fail"]


def test_stats_usedonly(proxied):
    one_transfer(proxied.listener_port, 100)
    proxied.wait_stat("cluster.backend.upstream_cx_tx_bytes_total", lambda v: v == 100)
    names = [l.split(": ")[0] for l in proxied.get("/stats?usedonly").body.splitlines() if l]
    assert "cluster.backend.upstream_cx_total" in names
    assert "cluster.idle.upstream_cx_total" not in names
    assert "cluster.idle.upstream_cx_total" in proxied.stats()


def test_stats_prometheus(proxied):
    port = proxied.listener_port
    one_transfer(port, 10)
    proxied.wait_stat("cluster.backend.upstream_cx_tx_bytes_total", lambda v: v == 10)
    r = proxied.get("/stats/prometheus")
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/plain")
    body = r.body
    assert "# TYPE envoy_cluster_upstream_cx_total counter" in body
    assert re.search(r'^envoy_cluster_upstream_cx_total\{envoy_cluster_name="backend"\} 1$', body, re.M), body
    assert re.search(r'^envoy_cluster_upstream_cx_total\{envoy_cluster_name="idle"\} 0$', body, re.M)
    assert "# TYPE envoy_server_live gauge" in body
    assert re.search(r"^envoy_server_live(\{\})? 1$", body, re.M)
    # Envoy's tag extraction also names listeners and tcp_proxy stat prefixes.
    assert re.search(r'^envoy_listener_downstream_cx_total\{envoy_listener_address="127\.0\.0\.1_%d"\} 1$'
                     % port, body, re.M), "listener address tag"
    assert re.search(r'^envoy_tcp_downstream_cx_total\{envoy_tcp_prefix="ingress_tcp"\} 1$', body, re.M), \
        "tcp_proxy prefix tag"
    # Each metric's TYPE line appears once.
    types = re.findall(r"^# TYPE (\S+) ", body, re.M)
    assert len(types) == len(set(types))


def test_clusters_text_and_json(proxied):
    one_transfer(proxied.listener_port, 10)
    port = proxied.backend.port
    proxied.wait_stat("cluster.backend.upstream_cx_active", lambda v: v == 0)
    r = proxied.get("/clusters")
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/plain")
    lines = r.body.splitlines()
    assert f"backend::127.0.0.1:{port}::cx_total::1" in lines, r.body
    assert f"backend::127.0.0.1:{port}::cx_active::0" in lines
    assert f"backend::127.0.0.1:{port}::cx_connect_fail::0" in lines
    assert any(l.startswith("idle::127.0.0.1:") and "::cx_total::0" in l for l in lines)
    assert any(l == f"backend::127.0.0.1:{port}::health_flags::healthy" for l in lines), r.body

    j = proxied.get("/clusters?format=json")
    assert j.headers["content-type"].startswith("application/json")
    statuses = {c["name"]: c for c in j.json()["cluster_statuses"]}
    host = statuses["backend"]["host_statuses"][0]
    assert host["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": port}
    stats = {s["name"]: s for s in host["stats"]}
    assert int(stats["cx_total"]["value"]) == 1


def test_listeners_text_and_json(proxied):
    port = proxied.listener_port
    r = proxied.get("/listeners")
    assert r.status == 200
    assert r.body.splitlines() == [f"ingress::127.0.0.1:{port}"]
    j = proxied.get("/listeners?format=json").json()
    [status] = j["listener_statuses"]
    assert status["name"] == "ingress"
    assert status["local_address"]["socket_address"] == {"address": "127.0.0.1", "port_value": port}


def test_config_dump(proxied):
    r = proxied.get("/config_dump")
    assert r.status == 200
    assert r.headers["content-type"].startswith("application/json")
    configs = r.json()["configs"]
    by_type = {c["@type"].rsplit(".", 1)[1]: c for c in configs}
    assert set(by_type) >= {"BootstrapConfigDump", "ClustersConfigDump", "ListenersConfigDump"}
    assert all(c["@type"].startswith("type.googleapis.com/envoy.admin.v3.") for c in configs)
    boot = by_type["BootstrapConfigDump"]["bootstrap"]
    assert boot["static_resources"]["clusters"][0]["name"] == "backend"
    clusters = by_type["ClustersConfigDump"]["static_clusters"]
    assert {c["cluster"]["name"] for c in clusters} == {"backend", "idle"}
    assert all(c["cluster"]["@type"] == "type.googleapis.com/envoy.config.cluster.v3.Cluster"
               for c in clusters)
    assert all("last_updated" in c for c in clusters)
    [listener] = by_type["ListenersConfigDump"]["static_listeners"]
    assert listener["listener"]["@type"] == "type.googleapis.com/envoy.config.listener.v3.Listener"
    assert listener["listener"]["name"] == "ingress"
    typed = listener["listener"]["filter_chains"][0]["filters"][0]["typed_config"]
    assert typed["@type"].endswith("tcp_proxy.v3.TcpProxy") and typed["cluster"] == "backend"


def test_unknown_path_is_404(proxied):
    assert proxied.get("/no_such_admin_path").status == 404


def test_mutating_endpoints_require_post(proxied):
    """Envoy answers GET on mutating endpoints with 405 and does nothing."""
    for path in ("/quitquitquit", "/healthcheck/fail", "/drain_listeners", "/logging?level=debug"):
        assert proxied.get(path).status == 405, path
    assert proxied.proc.poll() is None
    assert proxied.get("/ready").status == 200
    assert is_open(proxied.listener_port)


def is_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def test_healthcheck_fail_and_ok(proxied):
    r = proxied.post("/healthcheck/fail")
    assert r.status == 200
    ready = proxied.get("/ready")
    assert ready.status == 503
    assert ready.body.strip() == "DRAINING"
    proxied.wait_stat("server.live", lambda v: v == 0)
    assert proxied.get("/server_info").json()["state"] == "DRAINING"
    # Failing health checks does not stop traffic.
    one_transfer(proxied.listener_port, 10)

    assert proxied.post("/healthcheck/ok").status == 200
    assert proxied.get("/ready").status == 200
    proxied.wait_stat("server.live", lambda v: v == 1)
    assert proxied.get("/server_info").json()["state"] == "LIVE"


def test_quitquitquit_exits_zero(proxied):
    r = proxied.post("/quitquitquit")
    assert r.status == 200
    assert proxied.wait_exit(5) == 0


def test_drain_listeners_stops_accepting_but_keeps_open_connections(remora, backends, ports):
    backend = backends(echo_handler)
    listener_port, admin_port = ports(2)
    proc = remora(simple_proxy_config(backend.port, listener_port, admin_port), concurrency=2)
    with connect(listener_port, timeout=10) as s:
        s.sendall(b"before")
        assert s.recv(6) == b"before"
        assert proc.post("/drain_listeners").status == 200
        wait_until(lambda: not is_open(listener_port), 2, what="listener to stop accepting")
        try:
            socket.create_connection(("127.0.0.1", listener_port), timeout=2).close()
            refused = False
        except ConnectionRefusedError:
            refused = True
        assert refused, "new connection accepted after /drain_listeners"
        s.sendall(b"after")
        assert s.recv(5) == b"after", "open connection broke after /drain_listeners"
    assert proc.proc.poll() is None, "remora exited on /drain_listeners"
    assert proc.get("/ready").status in (200, 503)


def test_logging_level_change(remora, ports):
    dead, listener_port, admin_port = ports(3)
    cfg = bootstrap([tcp_listener("l", listener_port, "dead")], [static_cluster("dead", [dead])],
                    admin_port)
    proc = remora(cfg, log_level="info")
    with connect(listener_port, timeout=10) as s:
        assert closed_by_peer(s)
    proc.wait_stat("cluster.dead.upstream_cx_connect_fail", lambda v: v == 1)
    assert "[debug]" not in proc.log()

    r = proc.post("/logging?level=debug")
    assert r.status == 200
    assert "debug" in r.body
    with connect(listener_port, timeout=10) as s:
        assert closed_by_peer(s)
    wait_until(lambda: "[debug]" in proc.log() and "Connection refused" in proc.log(), 5,
               what="a debug log line after /logging?level=debug")

    assert proc.post("/logging?level=bogus").status in (400, 404)
