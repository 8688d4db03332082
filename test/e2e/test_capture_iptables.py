"""`remoractl iptables` against a real nat table, inside a network namespace the test creates.

The namespace's nat table gets the rules; `iptables-save -t nat` must then equal what the issue's
golden listing (test/unit/testdata/remoractl/*.rules, hand-written) gives when restored into a
second, fresh namespace: same rules, same order, in iptables' own canonical form. Running twice
changes nothing; --cleanup restores the table exactly as found, including rules that are not ours.
Then the rules at work, with `remoractl sidecar` running remora as uid 1337: one pod calling a
service VIP, and two pods (veths on a bridge in a third namespace) calling each other.

Needs root and `ip netns`; skipped otherwise. Namespaces are deleted on every exit path.
"""

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
import conftest as h  # noqa: E402  (BUILD)
import istio_config as istio  # noqa: E402  (the Istio-shaped static resources)
from netns import NetnsBase, skip_reason  # noqa: E402

REMORACTL = h.BUILD / "bin" / "remoractl"
GOLDEN = HERE.parent / "unit" / "testdata" / "remoractl"


_SKIP = skip_reason(("ip", "iptables", "iptables-save", "iptables-restore", "setpriv", "curl"),
                    REMORACTL)
pytestmark = pytest.mark.skipif(_SKIP is not None, reason=str(_SKIP))


class Netns(NetnsBase):
    """A private network namespace with lo up, made at once; run() executes inside it."""

    def __init__(self):
        super().__init__("remora-cap")
        self.add()

    def nat(self):
        """The nat table as iptables-save prints it, minus comments and packet counters."""
        out = self.run("iptables-save", "-t", "nat").stdout
        lines = []
        for line in out.splitlines():
            if line.startswith("#"):
                continue
            if line.startswith(":"):
                line = line.rsplit(" ", 1)[0]  # ":CHAIN POLICY [packets:bytes]"
            lines.append(line)
        return lines

    def curl(self, url):
        """(status, body) of a GET from inside the namespace, or None."""
        r = self.run("curl", "-sS", "--max-time", "2", "-o", "-", "-w", "\n%{http_code}", url,
                     check=False)
        if r.returncode != 0:
            return None
        body, _, code = r.stdout.rpartition("\n")
        return int(code), body



@pytest.fixture
def namespaces():
    made = []

    def make():
        ns = Netns()
        made.append(ns)
        return ns

    try:
        yield make
    finally:
        for ns in made:
            ns.destroy()


def expected_nat(make, golden_file, preexisting=""):
    """The canonical nat table for a hand-written golden listing: restored into a fresh namespace."""
    ref = make()
    if preexisting:
        ref.run("iptables-restore", "--noflush", input=preexisting)
    ref.run("iptables-restore", "--noflush", input=(GOLDEN / golden_file).read_text())
    return ref.nat()


# Rules that are not ours, which neither applying nor --cleanup may touch.
PREEXISTING = """*nat
:KEEP - [0:0]
-A KEEP -d 198.18.9.9/32 -j RETURN
-A OUTPUT -p tcp -j KEEP
-A PREROUTING -p udp -j KEEP
COMMIT
"""


def test_defaults_install_the_golden_rules_idempotently_and_cleanup_restores(namespaces):
    pod = namespaces()
    pod.run("iptables-restore", "--noflush", input=PREEXISTING)
    before = pod.nat()

    r = pod.run(str(REMORACTL), "iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m",
                "REDIRECT", "-i", "*", "-b", "*", "-d", "15090,15021,15020")
    assert "capture rules installed" in r.stdout
    installed = pod.nat()
    assert installed == expected_nat(namespaces, "iptables_defaults.rules", PREEXISTING)
    # Each golden rule is there as written (iptables -C parses it the same way).
    for line in (GOLDEN / "iptables_defaults.rules").read_text().splitlines():
        if line.startswith("-A "):
            pod.run("iptables", "-t", "nat", "-C", *line[3:].split())

    pod.run(str(REMORACTL), "iptables")  # the defaults are the same flags
    assert pod.nat() == installed, "running twice changed the table"

    r = pod.run(str(REMORACTL), "iptables", "--cleanup")
    assert "removed the capture rules" in r.stdout
    assert pod.nat() == before
    r = pod.run(str(REMORACTL), "iptables", "--cleanup")
    assert "nothing to clean up" in r.stdout
    assert pod.nat() == before


def test_seed_form_and_a_changed_rule_set_replace_the_old_one(namespaces):
    pod = namespaces()
    pod.run(str(REMORACTL), "iptables", "-b", "8080,8081", "-o", "25")
    # Re-running with other flags replaces the rules (no leftovers from the first set).
    pod.run(str(REMORACTL), "iptables", "-z", "15001", "-b", "9080")
    assert pod.nat() == expected_nat(namespaces, "iptables_seed_9080.rules")
    pod.run(str(REMORACTL), "iptables", "--cleanup")
    assert pod.nat() == namespaces().nat()  # as a fresh namespace


def test_failed_restore_changes_nothing(namespaces):
    pod = namespaces()
    pod.run(str(REMORACTL), "iptables")
    installed = pod.nat()
    # A uid remoractl accepts but iptables' owner match refuses: iptables-restore fails mid-input,
    # after our chains were declared (flushed) and refilled in part; none of it may be committed.
    r = pod.run(str(REMORACTL), "iptables", "-u", "4294967295", check=False)
    if r.returncode == 0:
        pytest.skip("this iptables accepted the edge-case uid; nothing to check")
    assert "iptables-restore --noflush failed" in r.stderr
    assert pod.nat() == installed, "a failed restore left a partial change"


PROXY_UID = 1337
SERVICE_VIP = "198.19.0.5"


def outbound_static(backend_port):
    """virtualOutbound on 15001 (original_dst recorded) sending everything to one backend."""
    return {"static_resources": {
        "listeners": [{
            "name": "virtualOutbound",
            "address": h.socket_address(15001, "0.0.0.0"),
            "listener_filters": [{"name": "envoy.filters.listener.original_dst",
                                  "typed_config": {"@type": h.ORIGINAL_DST_TYPE}}],
            "filter_chains": [{"filters": [h.tcp_proxy_filter("outbound|9080||reviews", "outbound")]}],
        }],
        "clusters": [h.static_cluster("outbound|9080||reviews", [backend_port])],
    }}


def start_sidecar(ns, workdir, name, ip, static_config):
    """`remoractl sidecar` as the proxy uid in ns, with static_config merged; waits for 15021."""
    static = workdir / f"{name}-static.json"
    static.write_text(json.dumps(static_config))
    static.chmod(0o644)
    log_path = workdir / f"{name}-sidecar.log"
    log = open(log_path, "wb")
    sidecar = ns.spawn("setpriv", f"--reuid={PROXY_UID}", f"--regid={PROXY_UID}", "--clear-groups",
                       str(REMORACTL), "sidecar", "--pod-name", f"{name}-7f9c", "--instance-ip", ip,
                       "--discovery-address", "none", "--static", str(static),
                       "--config-path", str(workdir / f"{name}-envoy-rev.yaml"),
                       "--remora", str(h.REMORA_BIN), "--", "--concurrency", "1", "--drain-time-s", "1",
                       stdout=log, stderr=subprocess.STDOUT)
    log.close()
    sidecar.log_text = lambda: log_path.read_text(errors="replace")
    deadline = time.monotonic() + h.READY_TIMEOUT
    while True:
        if sidecar.poll() is not None:
            raise AssertionError(f"{name} sidecar exited:\n" + sidecar.log_text())
        ready = ns.curl("http://127.0.0.1:15021/healthz/ready")
        if ready and ready[0] == 200:
            return sidecar
        if time.monotonic() > deadline:
            sidecar.kill()
            raise AssertionError(f"{name} not ready ({ready}):\n" + sidecar.log_text())
        time.sleep(0.05)


def listener_cx(ns, port, ip="0.0.0.0"):
    name = f"listener.{ip}_{port}.downstream_cx_total"
    status, body = ns.curl(f"http://127.0.0.1:15000/stats?filter={name}")
    assert status == 200
    return h.parse_text_stats(body).get(name, 0)


def all_listeners_cx(ns):
    """downstream_cx_total summed over the proxy's listeners (admin's own excluded)."""
    status, body = ns.curl("http://127.0.0.1:15000/stats?filter=downstream_cx_total")
    assert status == 200
    return sum(v for k, v in h.parse_text_stats(body).items()
               if k.startswith("listener.") and k.endswith(".downstream_cx_total")
               and not k.startswith("listener.admin."))


def redirect_packets(ns):
    """Packets counted by the ISTIO_REDIRECT rule (one per captured connection: nat sees its SYN)."""
    out = ns.run("iptables", "-t", "nat", "-L", "ISTIO_REDIRECT", "-v", "-x", "-n").stdout
    rows = [line.split() for line in out.splitlines() if "REDIRECT" in line and "redir" in line]
    assert len(rows) == 1, out
    return int(rows[0][0])


def test_sidecar_as_proxy_uid_captures_outbound_exactly_once(namespaces):
    """remoractl iptables + remoractl sidecar (as uid 1337) in one namespace: an unmodified client
    calling a service VIP reaches the backend through remora's 15001 listener, each connection is
    redirected exactly once, and remora's own upstream connection is not captured again."""
    pod = namespaces()
    # A non-loopback route for the service range, so the client's packets leave through OUTPUT
    # towards an interface, as in a pod (a veth whose peer stays unconfigured: nothing answers).
    pod.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0peer")
    pod.run("ip", "addr", "add", "198.18.0.11/24", "dev", "eth0")
    pod.run("ip", "link", "set", "eth0", "up")
    pod.run("ip", "link", "set", "eth0peer", "up")
    pod.run("ip", "route", "add", "198.19.0.0/16", "dev", "eth0")
    pod.run(str(REMORACTL), "iptables")

    workdir = Path(tempfile.mkdtemp(prefix="remoractl-e2e-"))
    workdir.chmod(0o777)
    procs = []
    try:
        backend = pod.spawn(sys.executable, str(HERE / "ns_helper.py"), "backend", "127.0.0.1", "9080",
                            "60", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(backend)
        assert backend.stdout.readline().strip() == "ready"
        sidecar = start_sidecar(pod, workdir, "reviews", "198.18.0.11", outbound_static(9080))
        procs.append(sidecar)

        def cx_total():
            return listener_cx(pod, 15001)

        cx0, redirected0 = cx_total(), redirect_packets(pod)
        for i in range(3):
            r = pod.run(sys.executable, str(HERE / "ns_helper.py"), "client", SERVICE_VIP, "9080", f"hello-{i}")
            out = dict(kv.split("=", 1) for kv in r.stdout.split() if "=" in kv)
            assert out["echo"] == f"hello-{i}"
            # The client saw the VIP; the backend saw remora (from loopback), not the client.
            assert out["client_peer"] == f"{SERVICE_VIP}:9080"
            assert out["peer"].startswith("127.0.0.1:")
            assert cx_total() == cx0 + i + 1
            assert redirect_packets(pod) == redirected0 + i + 1
        # Admin and health traffic of the pod's own processes over lo is not captured.
        assert redirect_packets(pod) == redirected0 + 3

        sidecar.send_signal(15)
        assert sidecar.wait(timeout=10) == 0, sidecar.log_text()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


REVIEWS_VIP, DB_VIP = "198.19.0.5", "198.19.0.6"  # service VIPs: nothing owns these addresses
POD_A, POD_B = "198.18.0.10", "198.18.0.20"


def admin_get(ns, port, path):
    r = ns.curl(f"http://127.0.0.1:{port}{path}")
    assert r is not None, f"no answer from :{port}{path}"
    return r


def test_two_pods_istio_shaped_sidecars(namespaces):
    """Pods A and B (198.18.0.0/16, default via the bridge 198.18.0.1 in a third namespace), each
    with `remoractl iptables` and a uid-1337 `remoractl sidecar` whose static resources have
    Istio's shape (test/integration/istio_config.py): virtualOutbound hands A's captured
    connections to 0.0.0.0_9080 (HTTP, routed by Host) or 198.19.0.6_9000 (TCP); virtualInbound on B
    picks the chain by destination port into inbound|<port>|| clusters bound to 127.0.0.6.
    An unmodified curl in A reaches B's app, which sees 127.0.0.6; each request is one connection
    on A's listeners (the 0.0.0.0_<port> it was handed to; 15001 for passthrough), one at B's
    15006 and one packet on A's ISTIO_REDIRECT rule."""
    bridge = namespaces()
    bridge.run("ip", "link", "add", "br0", "type", "bridge")
    bridge.run("ip", "addr", "add", "198.18.0.1/16", "dev", "br0")
    bridge.run("ip", "link", "set", "br0", "up")
    pods = {}
    for name, ip in (("a", POD_A), ("b", POD_B)):
        pod = namespaces()
        pod.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", f"veth-{name}")
        pod.run("ip", "link", "set", f"veth-{name}", "netns", bridge.name)
        bridge.run("ip", "link", "set", f"veth-{name}", "master", "br0")
        bridge.run("ip", "link", "set", f"veth-{name}", "up")
        pod.run("ip", "addr", "add", f"{ip}/16", "dev", "eth0")
        pod.run("ip", "link", "set", "eth0", "up")
        pod.run("ip", "route", "add", "default", "via", "198.18.0.1")
        pod.run(str(REMORACTL), "iptables")
        pods[name] = pod
    a, b = pods["a"], pods["b"]

    workdir = Path(tempfile.mkdtemp(prefix="remoractl-e2e-"))
    workdir.chmod(0o777)
    procs = []
    try:
        # 7070: an application port no service declares (B's inbound passthrough).
        for mode, port in (("http", 9080), ("backend", 9000), ("backend", 7070)):
            app = b.spawn(sys.executable, str(HERE / "ns_helper.py"), mode, "0.0.0.0", str(port), "120",
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            procs.append(app)
            assert app.stdout.readline().strip() == "ready"
        # A calls reviews (HTTP) and db (TCP), both served by B; keepalive off so that every
        # request is its own connection from A's sidecar to B's.
        a_static = istio.sidecar_static(
            http_services=[(9080, "reviews.default.svc.cluster.local", REVIEWS_VIP, [POD_B])],
            tcp_services=[(9000, "db.default.svc.cluster.local", DB_VIP, [POD_B])],
            keepalive=False)
        b_static = istio.sidecar_static(inbound_http_ports=[9080], inbound_tcp_ports=[9000])
        sidecar_a = start_sidecar(a, workdir, "a", POD_A, a_static)
        procs.append(sidecar_a)
        procs.append(start_sidecar(b, workdir, "b", POD_B, b_static))

        # As in Envoy, a connection virtualOutbound hands off is counted by the listener that serves
        # it (0.0.0.0_9080), not by virtualOutbound, which counts only what it serves itself
        # (passthrough, below). Across all of A's listeners each request is one connection.
        def counters():
            return (listener_cx(a, 15001), listener_cx(a, 9080), all_listeners_cx(a),
                    listener_cx(b, 15006), redirect_packets(a))

        out0, http0, all0, in0, redirected0 = counters()
        for i in range(3):
            status, body = a.curl(f"http://{REVIEWS_VIP}:9080/reviews/{i}")
            assert status == 200, body
            assert body.startswith("peer=127.0.0.6:"), body  # B's app was called by B's sidecar
            assert f"host={REVIEWS_VIP}:9080" in body  # the Host the client sent, routed on
            n = i + 1
            assert counters() == (out0, http0 + n, all0 + n, in0 + n, redirected0 + n)
        # The Host header picks the route: a service name works as well as the VIP.
        r = a.run("curl", "-sS", "--max-time", "5", "-H", "Host: reviews", f"http://{REVIEWS_VIP}:9080/")
        assert r.stdout.startswith("peer=127.0.0.6:") and "host=reviews" in r.stdout
        # HTTP/2 with prior knowledge: http_inspector sees the h2c preface, the same HCM chain.
        r = a.run("curl", "-sS", "--max-time", "5", "--http2-prior-knowledge",
                  f"http://{REVIEWS_VIP}:9080/h2c")
        assert r.stdout.startswith("peer=127.0.0.6:"), r.stdout + r.stderr
        stats = h.parse_text_stats(admin_get(a, 15000, "/stats")[1])
        assert stats["http.outbound_0.0.0.0_9080.downstream_rq_total"] == 5
        assert (stats["http_inspector.http11_found"], stats["http_inspector.http2_found"]) == (4, 1)
        assert stats["tls_inspector.tls_not_found"] == 5
        assert stats["cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_total"] == 5
        b_stats = h.parse_text_stats(admin_get(b, 15000, "/stats")[1])
        assert b_stats["cluster.inbound|9080||.upstream_rq_total"] == 5

        # The TCP service through tcp_proxy on both sides, each connection counted once (on A by
        # the 198.19.0.6_9000 listener it is handed to).
        out0, all0, in0, redirected0 = (listener_cx(a, 15001), all_listeners_cx(a),
                                        listener_cx(b, 15006), redirect_packets(a))
        r = a.run(sys.executable, str(HERE / "ns_helper.py"), "client", DB_VIP, "9000", "select-1")
        out = dict(kv.split("=", 1) for kv in r.stdout.split() if "=" in kv)
        assert out["echo"] == "select-1"
        assert out["client_peer"] == f"{DB_VIP}:9000"  # the client never knew
        assert out["peer"].startswith("127.0.0.6:")
        assert listener_cx(a, 9000, DB_VIP) == 1
        assert (listener_cx(a, 15001), all_listeners_cx(a), listener_cx(b, 15006),
                redirect_packets(a)) == (out0, all0 + 1, in0 + 1, redirected0 + 1)
        stats = h.parse_text_stats(admin_get(a, 15000, "/stats")[1])
        assert stats["cluster.outbound|9000||db.default.svc.cluster.local.upstream_cx_total"] == 1

        # A destination no listener knows passes through A (PassthroughCluster, ORIGINAL_DST) and
        # B's virtualInbound catch-all (InboundPassthroughClusterIpv4) delivers it from 127.0.0.6.
        # This one virtualOutbound serves itself: its downstream_cx_total rises.
        out0, in0, redirected0 = listener_cx(a, 15001), listener_cx(b, 15006), redirect_packets(a)
        r = a.run(sys.executable, str(HERE / "ns_helper.py"), "client", POD_B, "7070", "direct")
        out = dict(kv.split("=", 1) for kv in r.stdout.split() if "=" in kv)
        assert out["echo"] == "direct" and out["peer"].startswith("127.0.0.6:"), r.stdout
        assert (listener_cx(a, 15001), listener_cx(b, 15006), redirect_packets(a)) == \
            (out0 + 1, in0 + 1, redirected0 + 1)
        stats = h.parse_text_stats(admin_get(a, 15000, "/stats")[1])
        assert stats["cluster.PassthroughCluster.upstream_cx_total"] == 1
        b_stats = h.parse_text_stats(admin_get(b, 15000, "/stats")[1])
        assert b_stats["cluster.InboundPassthroughClusterIpv4.upstream_cx_total"] == 1

        # From outside any pod (the bridge, as kubelet would): B's health port is excluded from
        # inbound capture (-d), so the probe reaches B's 15021 listener itself, not 15006 ...
        in_before = listener_cx(b, 15006)
        assert bridge.curl(f"http://{POD_B}:15021/healthz/ready") == (200, "LIVE\n")
        assert listener_cx(b, 15006) == in_before

        # /healthz/ready follows the proxy's readiness: not ready while it fails health checks.
        assert admin_get(a, 15021, "/healthz/ready")[0] == 200
        a.run("curl", "-sS", "-X", "POST", "http://127.0.0.1:15000/healthcheck/fail")
        assert admin_get(a, 15021, "/healthz/ready")[0] == 503
        a.run("curl", "-sS", "-X", "POST", "http://127.0.0.1:15000/healthcheck/ok")
        assert admin_get(a, 15021, "/healthz/ready") == (200, "LIVE\n")
        # Prometheus on 15090, with the listener counters in Prometheus form.
        status, body = admin_get(a, 15090, "/stats/prometheus")
        assert status == 200
        assert 'envoy_listener_downstream_cx_total{envoy_listener_address="0.0.0.0_15001"}' in body, \
            body[:2000]

        sidecar_a.send_signal(15)
        assert sidecar_a.wait(timeout=10) == 0, sidecar_a.log_text()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
