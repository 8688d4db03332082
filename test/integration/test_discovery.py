"""Service discovery end to end: STRICT_DNS and LOGICAL_DNS clusters resolve through c-ares
against a real DNS server on loopback (Debian's dnsmasq, answering from a hosts file it rereads
on SIGHUP), and an EDS cluster follows its endpoints file as it is atomically replaced. Traffic
goes through remora with curl to real HTTP backends on different 127.0.0.x addresses."""

import collections
import json
import os
import shutil
import signal
import subprocess
import threading

import pytest

from conftest import (bootstrap, curl, free_port, free_ports, is_listening, socket_address,
                      wait_until)
from http_harness import HttpBackend, http_listener, route, vhost

CLA_TYPE = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
CARES_TYPE = ("type.googleapis.com/"
              "envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig")


class Dnsmasq:
    """dnsmasq on 127.0.0.1:<port> answering only from a hosts file; set() rewrites the file
    and makes dnsmasq reread it."""

    def __init__(self, tmp_path):
        self.hosts_path = tmp_path / "dns_hosts"
        self.hosts_path.write_text("")
        self.port = free_port()
        self.log_path = tmp_path / "dnsmasq.log"
        self.proc = subprocess.Popen(
            ["dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", f"--addn-hosts={self.hosts_path}",
             "--listen-address=127.0.0.1", "--bind-interfaces", f"--port={self.port}",
             "--user=root", "--pid-file=", "--local-ttl=1", "--log-queries", "--log-facility=-"],
            stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT)
        wait_until(lambda: self._answers(), 5, what="dnsmasq up")

    def _answers(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"dnsmasq exited: {self.log_path.read_text()}")
        return "started" in self.log_path.read_text()

    def set(self, entries):
        """entries: [(ip, name)]; takes effect at once for new queries."""
        text = "".join(f"{ip} {name}\n" for ip, name in entries)
        tmp = self.hosts_path.with_suffix(".new")
        tmp.write_text(text)
        os.replace(tmp, self.hosts_path)
        self.proc.send_signal(signal.SIGHUP)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def dnsmasq(tmp_path):
    if shutil.which("dnsmasq") is None:
        pytest.fail("dnsmasq is not installed (scripts/deps.sh installs it)")
    server = Dnsmasq(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def loopback_backends():
    """Backends on 127.0.0.2, .3 (and .4) sharing one port: a DNS answer picks among them."""
    made = []
    port = None
    for _ in range(20):
        port = free_port("127.0.0.2")
        if not any(is_listening(port, h) for h in ("127.0.0.3", "127.0.0.4")):
            break
    for i in (2, 3, 4):
        made.append(HttpBackend(f"b{i}", host=f"127.0.0.{i}", port=port))
    yield {b.host: b for b in made}, port
    for b in made:
        b.close()


def dns_cluster(name, cluster_type, hostname, port, dns_port, **extra):
    cluster = {
        "name": name,
        "type": cluster_type,
        "connect_timeout": "1s",
        "dns_refresh_rate": "0.1s",
        "typed_dns_resolver_config": {
            "name": "envoy.network.dns_resolver.cares",
            "typed_config": {"@type": CARES_TYPE,
                             "resolvers": [socket_address(dns_port)],
                             "dns_resolver_options": {"no_default_search_domain": True}},
        },
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": socket_address(port, hostname)}}]}]},
    }
    cluster.update(extra)
    return cluster


def start_proxy(remora, clusters, cluster_name):
    listener_port, admin_port = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster=cluster_name)])]}
    proc = remora(bootstrap([http_listener("http", listener_port, rc)], clusters, admin_port))
    return proc, listener_port


def backends_hit(listener_port, n):
    seen = collections.Counter()
    for i in range(n):
        resp = curl(f"http://127.0.0.1:{listener_port}/r{i}")
        assert resp is not None, "no response"
        if resp.status == 200:
            seen[json.loads(resp.body)["backend"]] += 1
        else:
            seen[resp.status] += 1
    return seen


def wait_traffic(listener_port, expected, n=12, timeout=10.0):
    """Polls until n requests land exactly on the set of backends `expected`."""
    box = {}

    def check():
        box["seen"] = backends_hit(listener_port, n)
        return set(box["seen"]) == set(expected)

    try:
        wait_until(check, timeout, interval=0.05, what=f"traffic on {sorted(expected)}")
    except AssertionError:
        raise AssertionError(f"traffic went to {box.get('seen')}, wanted {sorted(expected)}") from None
    return box["seen"]


def test_strict_dns_follows_a_changing_answer(remora, dnsmasq, loopback_backends):
    _, port = loopback_backends
    dnsmasq.set([("127.0.0.2", "svc.remora.test")])
    # Default lookup family AUTO: AAAA first (dnsmasq has none for the name), then A.
    proc, listener = start_proxy(
        remora, [dns_cluster("dns", "STRICT_DNS", "svc.remora.test", port, dnsmasq.port)], "dns")
    proc.wait_stat("cluster.dns.membership_total", lambda v: v == 1)
    wait_traffic(listener, {"b2"})

    # The name gains an address: both take traffic.
    dnsmasq.set([("127.0.0.2", "svc.remora.test"), ("127.0.0.3", "svc.remora.test")])
    proc.wait_stat("cluster.dns.membership_total", lambda v: v == 2)
    seen = wait_traffic(listener, {"b2", "b3"})
    assert seen["b2"] == seen["b3"]  # round robin over the two

    # It loses the first: traffic leaves it, and the host is gone from /clusters.
    dnsmasq.set([("127.0.0.3", "svc.remora.test")])
    proc.wait_stat("cluster.dns.membership_total", lambda v: v == 1)
    wait_traffic(listener, {"b3"})
    clusters = proc.get("/clusters").body
    assert "dns::127.0.0.3:" in clusters and "dns::127.0.0.2:" not in clusters

    # The next refresh finds the same answer: counted, and nothing is rebuilt.
    proc.wait_stat("cluster.dns.update_no_rebuild", lambda v: v >= 1)
    stats = proc.stats()
    assert stats["cluster.dns.update_attempt"] >= stats["cluster.dns.update_success"] >= 3
    assert stats["cluster.dns.membership_change"] >= 2

    # The DNS server goes away: resolution fails, the known host keeps serving.
    dnsmasq.stop()
    proc.wait_stat("cluster.dns.update_failure", lambda v: v >= 1)
    assert backends_hit(listener, 4) == {"b3": 4}


def test_dns_cluster_warms_before_listeners_accept(remora, dnsmasq, loopback_backends):
    """Envoy's cluster warming: until the first resolution finishes the server is INITIALIZING
    (/ready 503) and its listener refuses connections; the first request after it sees the
    resolved host, never a 503 UH for an empty cluster."""
    _, port = loopback_backends
    dnsmasq.set([("127.0.0.2", "warm.remora.test")])
    listener_port, admin_port = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="dns")])]}
    cluster = dns_cluster("dns", "STRICT_DNS", "warm.remora.test", port, dnsmasq.port,
                          dns_lookup_family="V4_ONLY")
    # Stopped, dnsmasq leaves the query in its socket until it continues.
    dnsmasq.proc.send_signal(signal.SIGSTOP)
    try:
        proc = remora(bootstrap([http_listener("http", listener_port, rc)], [cluster], admin_port),
                      wait=False)
        wait_until(lambda: curl(proc.url("/ready")) is not None, 5, what="admin up")
        proc.wait_stat("cluster.dns.update_attempt", lambda v: v == 1)
        ready = proc.get("/ready")
        assert (ready.status, ready.body) == (503, "INITIALIZING\n")
        assert not is_listening(listener_port)
        assert proc.stat("cluster.dns.update_success") == 0
    finally:
        dnsmasq.proc.send_signal(signal.SIGCONT)
    proc.wait_ready()
    assert proc.stat("cluster.dns.membership_total") == 1
    assert backends_hit(listener_port, 3) == {"b2": 3}


def test_strict_dns_v4_only_resolves_every_endpoint(remora, dnsmasq, loopback_backends):
    _, port = loopback_backends
    dnsmasq.set([("127.0.0.2", "a.remora.test"), ("127.0.0.3", "b.remora.test"),
                 ("127.0.0.4", "b.remora.test")])
    cluster = dns_cluster("dns", "STRICT_DNS", "a.remora.test", port, dnsmasq.port,
                          dns_lookup_family="V4_ONLY", respect_dns_ttl=True)
    cluster["load_assignment"]["endpoints"][0]["lb_endpoints"].append(
        {"endpoint": {"address": socket_address(port, "b.remora.test")}})
    proc, listener = start_proxy(remora, [cluster], "dns")
    proc.wait_stat("cluster.dns.membership_total", lambda v: v == 3)
    wait_traffic(listener, {"b2", "b3", "b4"})


def test_logical_dns_uses_one_host_at_the_first_address(remora, dnsmasq, loopback_backends):
    _, port = loopback_backends
    dnsmasq.set([("127.0.0.2", "logical.remora.test")])
    proc, listener = start_proxy(
        remora, [dns_cluster("logical", "LOGICAL_DNS", "logical.remora.test", port, dnsmasq.port,
                             dns_lookup_family="V4_PREFERRED")], "logical")
    proc.wait_stat("cluster.logical.membership_total", lambda v: v == 1)
    wait_traffic(listener, {"b2"})
    # Two addresses: still one host.
    dnsmasq.set([("127.0.0.2", "logical.remora.test"), ("127.0.0.3", "logical.remora.test")])
    proc.wait_stat("cluster.logical.update_success", lambda v: v >= 3)
    assert proc.stat("cluster.logical.membership_total") == 1
    # The address moves: the one host follows it. Its kept-alive connection to b2 is not
    # drained (Envoy's LOGICAL_DNS): one answer that closes it, and the next connection goes to
    # the new address.
    dnsmasq.set([("127.0.0.4", "logical.remora.test")])
    wait_until(lambda: f"logical::127.0.0.4:{port}::" in proc.get("/clusters").body, 5,
               what="the host at the new address")
    resp = curl(f"http://127.0.0.1:{listener}/bye", headers=["x-backend-close: 1"])
    assert json.loads(resp.body)["backend"] == "b2"
    wait_traffic(listener, {"b4"})
    assert proc.stat("cluster.logical.membership_total") == 1


def clusters_host(proc, cluster, address):
    """/clusters' lines for one host as {field: value}."""
    prefix = f"{cluster}::{address}::"
    return {line[len(prefix):].split("::")[0]: line.rsplit("::", 1)[1]
            for line in proc.get("/clusters").body.splitlines() if line.startswith(prefix)}


def test_logical_dns_host_keeps_its_state_when_the_address_moves(remora, dnsmasq,
                                                                   loopback_backends):
    """Envoy's LOGICAL_DNS: one logical host whose address is the latest answer's first. A move
    keeps the host (its /clusters counters and its outlier ejection carry on, membership does not
    change); a kept-alive connection stays on the old address and finishes its requests there,
    while a new connection goes to the new one."""
    backends, port = loopback_backends
    b2, b3 = backends["127.0.0.2"], backends["127.0.0.3"]
    dnsmasq.set([("127.0.0.2", "moving.remora.test")])
    outlier = {"consecutive_5xx": 2, "interval": "60s", "base_ejection_time": "60s",
               "max_ejection_percent": 100}
    proc, listener = start_proxy(
        remora, [dns_cluster("logical", "LOGICAL_DNS", "moving.remora.test", port, dnsmasq.port,
                             dns_lookup_family="V4_ONLY", outlier_detection=outlier)], "logical")
    proc.wait_stat("cluster.logical.membership_total", lambda v: v == 1)
    changes = proc.stat("cluster.logical.membership_change")
    # Three requests over one kept-alive connection, the last two failing: ejected (in panic, a
    # lone ejected host still takes traffic).
    assert curl(f"http://127.0.0.1:{listener}/ok").status == 200
    for i in range(2):
        resp = curl(f"http://127.0.0.1:{listener}/fail{i}", headers=["x-backend-status: 503"])
        assert resp.status == 503
    proc.wait_stat("cluster.logical.outlier_detection.ejections_enforced_total", lambda v: v == 1)
    old = clusters_host(proc, "logical", f"127.0.0.2:{port}")
    assert (old["rq_total"], old["cx_total"]) == ("3", "1"), old
    assert old["health_flags"] == "/failed_outlier_check"

    dnsmasq.set([("127.0.0.3", "moving.remora.test")])
    wait_until(lambda: clusters_host(proc, "logical", f"127.0.0.3:{port}"), 5,
               what="the host at the new address")
    moved = clusters_host(proc, "logical", f"127.0.0.3:{port}")
    assert clusters_host(proc, "logical", f"127.0.0.2:{port}") == {}
    assert (moved["rq_total"], moved["cx_total"], moved["hostname"]) == (
        "3", "1", "moving.remora.test"), moved
    assert moved["health_flags"] == "/failed_outlier_check"  # the same host, still ejected

    # A slow request takes the idle connection, which still goes to b2; one sent meanwhile needs
    # a new connection, which goes to b3.
    box = {}
    slow = threading.Thread(target=lambda: box.update(resp=curl(
        f"http://127.0.0.1:{listener}/slow", headers=["x-backend-delay-ms: 1500"])))
    slow.start()
    try:
        b2.wait_requests(4)
        fast = curl(f"http://127.0.0.1:{listener}/fast")
    finally:
        slow.join(10)
    assert json.loads(fast.body)["backend"] == "b3"
    assert json.loads(box["resp"].body)["backend"] == "b2"
    assert [r["path"] for r in b3.requests] == ["/fast"]
    after = clusters_host(proc, "logical", f"127.0.0.3:{port}")
    assert (after["rq_total"], after["cx_total"], after["cx_active"]) == ("5", "2", "2"), after
    assert proc.stat("cluster.logical.membership_total") == 1
    assert proc.stat("cluster.logical.membership_change") == changes
    assert proc.stat("cluster.logical.upstream_cx_total") == 2


def test_logical_dns_health_checks_follow_the_host(remora, dnsmasq, loopback_backends):
    """The active health checker checks the one logical host wherever it is: its connection to
    the old address cut, it reconnects to the new one, and the host stays the same, healthy."""
    backends, port = loopback_backends
    b2, b3 = backends["127.0.0.2"], backends["127.0.0.3"]
    for b in (b2, b3):
        b.health_path = "/healthz"
    dnsmasq.set([("127.0.0.2", "checked.remora.test")])
    hc = {"timeout": "1s", "interval": "0.1s", "no_traffic_interval": "0.1s",
          "unhealthy_threshold": 2, "healthy_threshold": 1,
          "http_health_check": {"path": "/healthz"}}
    proc, listener = start_proxy(
        remora, [dns_cluster("logical", "LOGICAL_DNS", "checked.remora.test", port, dnsmasq.port,
                             dns_lookup_family="V4_ONLY", health_checks=[hc])], "logical")
    wait_until(lambda: len(b2.health_checks) >= 2, 5, what="checks at b2")
    changes = proc.stat("cluster.logical.membership_change")
    assert clusters_host(proc, "logical", f"127.0.0.2:{port}")["health_flags"] == "healthy"

    dnsmasq.set([("127.0.0.3", "checked.remora.test")])
    wait_until(lambda: clusters_host(proc, "logical", f"127.0.0.3:{port}"), 5,
               what="the host at the new address")
    b2.kill()  # the checker's kept connection breaks; its next check connects to b3
    wait_until(lambda: len(b3.health_checks) >= 3, 5, what="checks at b3")
    host = clusters_host(proc, "logical", f"127.0.0.3:{port}")
    assert host["health_flags"] == "healthy", host
    assert proc.stat("cluster.logical.membership_change") == changes
    assert proc.stat("cluster.logical.membership_healthy") == 1
    assert json.loads(curl(f"http://127.0.0.1:{listener}/x").body)["backend"] == "b3"


def test_dns_config_is_checked(remora, tmp_path):
    from conftest import run_remora
    cluster = dns_cluster("logical", "LOGICAL_DNS", "x.remora.test", 80, 53)
    cluster["load_assignment"]["endpoints"][0]["lb_endpoints"].append(
        {"endpoint": {"address": socket_address(81, "y.remora.test")}})
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps(bootstrap([], [cluster])))
    result = run_remora(["--mode", "validate", "-c", str(cfg)])
    assert result.returncode != 0
    assert "LOGICAL_DNS clusters must have a single locality_lb_endpoint" in result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# EDS from a file


def endpoint(backend, weight=None, health=None):
    ep = {"endpoint": {"address": socket_address(backend.port, backend.host)}}
    if weight is not None:
        ep["load_balancing_weight"] = weight
    if health is not None:
        ep["health_status"] = health
    return ep


class EndpointsFile:
    def __init__(self, path, cluster):
        self.path = path
        self.cluster = cluster

    def write(self, localities, text=None):
        """Replaces the file atomically (write aside, then rename), as Envoy expects."""
        if text is None:
            cla = {"@type": CLA_TYPE, "cluster_name": self.cluster, "endpoints": localities}
            text = json.dumps({"version_info": "1", "resources": [cla]})
        tmp = self.path.parent / (self.path.name + ".tmp")
        tmp.write_text(text)
        os.rename(tmp, self.path)


def eds_cluster(name, path, **extra):
    cluster = {"name": name, "type": "EDS", "connect_timeout": "1s",
               "eds_cluster_config": {"eds_config": {"path_config_source": {"path": str(path)},
                                                     "resource_api_version": "V3"}}}
    cluster.update(extra)
    return cluster


def test_eds_degraded_endpoint_takes_what_the_healthy_cannot(remora, http_backends, tmp_path):
    """Envoy's degraded endpoints: an EDS DEGRADED host gets traffic only for the share the
    healthy hosts' availability cannot cover (one healthy, one degraded host: 70% / 30%)."""
    a, d = http_backends("a"), http_backends("d")
    endpoints = EndpointsFile(tmp_path / "endpoints.json", "eds")
    endpoints.write([{"lb_endpoints": [endpoint(a), endpoint(d, health="DEGRADED")]}])
    proc, listener = start_proxy(remora, [eds_cluster("eds", endpoints.path)], "eds")
    assert proc.stat("cluster.eds.membership_degraded") == 1
    assert proc.stat("cluster.eds.membership_healthy") == 1
    clusters = proc.get("/clusters").body
    assert f"eds::{d.host}:{d.port}::health_flags::/degraded_eds_health" in clusters
    assert f"eds::{a.host}:{a.port}::health_flags::healthy" in clusters
    seen = backends_hit(listener, 100)
    assert set(seen) == {"a", "d"} and 15 <= seen["d"] <= 45, seen
    # Enough healthy hosts (3 of 4 healthy: 105% availability): the degraded one gets nothing.
    b, c = http_backends("b"), http_backends("c")
    endpoints.write([{"lb_endpoints": [endpoint(a), endpoint(b), endpoint(c),
                                       endpoint(d, health="DEGRADED")]}])
    proc.wait_stat("cluster.eds.membership_healthy", lambda v: v == 3)
    assert "d" not in backends_hit(listener, 30)
    # The JSON form says DEGRADED.
    statuses = json.loads(proc.get("/clusters?format=json").body)["cluster_statuses"][0]
    by_port = {h["address"]["socket_address"]["port_value"]: h for h in statuses["host_statuses"]}
    assert by_port[d.port]["health_status"]["eds_health_status"] == "DEGRADED"


def test_eds_file_follows_edits(remora, http_backends, tmp_path):
    b1, b2, b3 = http_backends("b1"), http_backends("b2"), http_backends("b3")
    eds_dir = tmp_path / "eds"
    eds_dir.mkdir()
    endpoints = EndpointsFile(eds_dir / "endpoints.json", "eds")
    endpoints.write([{"lb_endpoints": [endpoint(b1, 1), endpoint(b2, 3)]}])
    proc, listener = start_proxy(remora, [eds_cluster("eds", endpoints.path)], "eds")
    proc.wait_stat("cluster.eds.membership_total", lambda v: v == 2)
    wait_traffic(listener, {"b1", "b2"})
    # Weights: smooth round robin gives exactly 1:3.
    assert backends_hit(listener, 40) == {"b1": 10, "b2": 30}

    # P=0's hosts marked UNHEALTHY / DRAINING by EDS: everything fails over to P=1.
    endpoints.write([{"lb_endpoints": [endpoint(b1, health="UNHEALTHY"),
                                       endpoint(b2, health="DRAINING")]},
                     {"priority": 1, "lb_endpoints": [endpoint(b3)]}])
    proc.wait_stat("cluster.eds.membership_healthy", lambda v: v == 1)
    wait_traffic(listener, {"b3"})
    clusters = proc.get("/clusters").body
    assert f"eds::{b1.host}:{b1.port}::health_flags::/failed_eds_health" in clusters
    assert f"eds::{b3.host}:{b3.port}::priority::1" in clusters

    # P=0 back to health: it takes all traffic again.
    endpoints.write([{"lb_endpoints": [endpoint(b1), endpoint(b2)]},
                     {"priority": 1, "lb_endpoints": [endpoint(b3)]}])
    proc.wait_stat("cluster.eds.membership_healthy", lambda v: v == 3)
    wait_traffic(listener, {"b1", "b2"})
    assert backends_hit(listener, 10) == {"b1": 5, "b2": 5}

    # A file that does not parse is rejected and the membership kept.
    rejected = proc.stat("cluster.eds.update_rejected")
    endpoints.write(None, text="{not json")
    proc.wait_stat("cluster.eds.update_rejected", lambda v: v == rejected + 1)
    assert backends_hit(listener, 4) == {"b1": 2, "b2": 2}

    # Moves of other files in the directory are not this cluster's; the next move of its file is.
    before = proc.stat("cluster.eds.update_attempt")
    (eds_dir / "other.tmp").write_text("x")
    os.rename(eds_dir / "other.tmp", eds_dir / "other.json")
    endpoints.write([{"lb_endpoints": [endpoint(b3)]}])
    wait_traffic(listener, {"b3"})
    assert proc.stat("cluster.eds.update_attempt") == before + 1
    assert proc.stat("cluster.eds.update_success") >= 4


def test_eds_panic_threshold(remora, http_backends, tmp_path):
    b1, b2, b3 = http_backends("b1"), http_backends("b2"), http_backends("b3")
    panicking = EndpointsFile(tmp_path / "panic.yaml", "panicking")
    strict = EndpointsFile(tmp_path / "strict.yaml", "strict")
    # One of three healthy (33% < 50%): panic, traffic to all three.
    localities = [{"lb_endpoints": [endpoint(b1), endpoint(b2, health="UNHEALTHY"),
                                    endpoint(b3, health="TIMEOUT")]}]
    panicking.write(localities)
    strict.write(localities)
    clusters = [eds_cluster("panicking", panicking.path),
                eds_cluster("strict", strict.path,
                            common_lb_config={"healthy_panic_threshold": {"value": 0}})]
    listener_port, admin_port = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[
        route(match={"prefix": "/strict"}, cluster="strict"), route(cluster="panicking")])]}
    proc = remora(bootstrap([http_listener("http", listener_port, rc)], clusters, admin_port))
    proc.wait_stat("cluster.panicking.membership_total", lambda v: v == 3)
    proc.wait_stat("cluster.strict.membership_total", lambda v: v == 3)
    wait_until(lambda: curl(f"http://127.0.0.1:{listener_port}/strict/x").status == 200, 5)
    wait_until(lambda: curl(f"http://127.0.0.1:{listener_port}/x").status == 200, 5)
    panics = proc.stat("cluster.panicking.lb_healthy_panic")
    assert backends_hit(listener_port, 9) == {"b1": 3, "b2": 3, "b3": 3}
    assert proc.stat("cluster.panicking.lb_healthy_panic") == panics + 9
    # Threshold 0 disables panic: only the healthy host.
    for i in range(4):
        resp = curl(f"http://127.0.0.1:{listener_port}/strict/{i}")
        assert resp.status == 200 and json.loads(resp.body)["backend"] == "b1"
    assert proc.stat("cluster.strict.lb_healthy_panic") == 0


def test_eds_locality_weights_and_overprovisioning(remora, http_backends, tmp_path):
    b1, b2, b3 = http_backends("b1"), http_backends("b2"), http_backends("b3")
    endpoints = EndpointsFile(tmp_path / "eds.json", "eds")
    # Locality a weight 1, b weight 3: a quarter of the traffic to a.
    endpoints.write([
        {"locality": {"zone": "a"}, "load_balancing_weight": 1, "lb_endpoints": [endpoint(b1)]},
        {"locality": {"zone": "b"}, "load_balancing_weight": 3,
         "lb_endpoints": [endpoint(b2), endpoint(b3)]}])
    proc, listener = start_proxy(
        remora, [eds_cluster("eds", endpoints.path,
                             common_lb_config={"locality_weighted_lb_config": {}})], "eds")
    proc.wait_stat("cluster.eds.membership_total", lambda v: v == 3)
    wait_traffic(listener, {"b1", "b2", "b3"}, n=20)
    seen = backends_hit(listener, 40)
    assert seen["b1"] == 10 and seen["b2"] + seen["b3"] == 30
    assert f"eds::{b2.host}:{b2.port}::zone::b" in proc.get("/clusters").body

    # Overprovisioning factor 1.0 with one of two P=0 hosts unhealthy: P=0 keeps 50%.
    cla = {"@type": CLA_TYPE, "cluster_name": "eds", "policy": {"overprovisioning_factor": 100},
           "endpoints": [{"lb_endpoints": [endpoint(b1), endpoint(b2, health="UNHEALTHY")]},
                         {"priority": 1, "lb_endpoints": [endpoint(b3)]}]}
    endpoints.write(None, text=json.dumps({"version_info": "2", "resources": [cla]}))
    proc.wait_stat("cluster.eds.membership_healthy", lambda v: v == 2)
    wait_traffic(listener, {"b1", "b3"}, n=30)
    seen = backends_hit(listener, 200)
    assert set(seen) == {"b1", "b3"}
    assert 60 <= seen["b1"] <= 140, seen
