"""Transparent capture in a private network namespace, as a sidecar does it.

A namespace of our own gets 198.18.0.10/32 on lo, a backend on 198.18.0.10:8080 (and :9090), remora
as uid 1337 on 127.0.0.1:15001 (listener filter original_dst, use_original_dst, tcp_proxy to an
ORIGINAL_DST cluster), and a nat OUTPUT rule redirecting every TCP connection not owned by uid 1337
to :15001. A client connecting to 198.18.0.10:8080 must then reach the backend through remora.

Needs root and `ip netns`; skipped otherwise. Only addresses inside the namespace are touched, and
the namespace (with its rules) is deleted on every exit path.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
import conftest as h  # noqa: E402  (the integration harness: REMORA_BIN, curl parsing)
from netns import NetnsBase, skip_reason  # noqa: E402

PROXY_UID = 1337
VIP = "198.18.0.10"
ADMIN_PORT = 15000
CAPTURE_PORT = 15001
TCP_PROXY = h.TCP_PROXY_TYPE
ORIGINAL_DST = h.ORIGINAL_DST_TYPE


_SKIP = skip_reason(("ip", "iptables", "setpriv", "curl"), h.REMORA_BIN)
pytestmark = pytest.mark.skipif(_SKIP is not None, reason=str(_SKIP))


class Netns(NetnsBase):
    def __init__(self):
        super().__init__("remora-e2e")

    def create(self):
        self.add()
        self.run("ip", "addr", "add", f"{VIP}/32", "dev", "lo")
        # Loopback (admin, the capture port itself) stays direct, as in Istio's ISTIO_OUTPUT;
        # everything else not from the proxy's uid is redirected to the capture port.
        self.run("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", "127.0.0.1/32", "-j", "RETURN")
        self.run("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-m", "owner", "!", "--uid-owner",
                 str(PROXY_UID), "-j", "REDIRECT", "--to-ports", str(CAPTURE_PORT))

    def admin(self, path, method="GET"):
        # Bytes, not text: text mode would turn the header/body separator into "\n\n".
        r = subprocess.run(["ip", "netns", "exec", self.name, "curl", "-sS", "-i", "--max-time", "3",
                            "-X", method, f"http://127.0.0.1:{ADMIN_PORT}{path}"],
                           capture_output=True, timeout=10)
        if r.returncode != 0:
            return None
        head, _, body = r.stdout.partition(b"\r\n\r\n")
        return int(head.split()[1]), body.decode()

    def stats(self):
        resp = self.admin("/stats")
        assert resp and resp[0] == 200, resp
        return StatsDict(h.parse_text_stats(resp[1]))


class StatsDict(dict):
    """A missing stat fails with the names that do exist, so a renamed stat is easy to spot."""

    def __missing__(self, key):
        related = sorted(k for k in self if k.split(".")[0] == key.split(".")[0])
        raise AssertionError(f"no stat {key}; {key.split('.')[0]}.* stats: {related}")


@pytest.fixture
def netns():
    ns = Netns()
    try:
        ns.create()
        yield ns
    finally:
        ns.destroy()
        assert ns.name not in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                             text=True).stdout


@pytest.fixture
def workdir():
    # remora runs as uid 1337, so its config must be readable outside root's 0700 pytest tmp.
    d = tempfile.mkdtemp(prefix="remora-e2e-")
    os.chmod(d, 0o755)
    try:
        yield Path(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def capture_config(handoff):
    listeners = [{
        "name": "virtualOutbound",
        "address": h.socket_address(CAPTURE_PORT),
        "use_original_dst": True,
        "listener_filters": [{"name": "envoy.filters.listener.original_dst",
                              "typed_config": {"@type": ORIGINAL_DST}}],
        "filter_chains": [{"filters": [h.tcp_proxy_filter("PassthroughCluster", "PassthroughCluster")]}],
    }]
    clusters = [{
        "name": "PassthroughCluster",
        "type": "ORIGINAL_DST",
        "lb_policy": "CLUSTER_PROVIDED",
        "connect_timeout": "1s",
    }]
    if handoff:
        listeners.append({
            "name": "0.0.0.0_8080",
            "address": h.socket_address(8080, "0.0.0.0"),
            "bind_to_port": False,
            "filter_chains": [{"filters": [h.tcp_proxy_filter("outbound|8080||backend", "outbound_8080")]}],
        })
        clusters.append(h.static_cluster("outbound|8080||backend", [8080], host=VIP))
    return h.bootstrap(listeners, clusters, ADMIN_PORT)


def start_stack(ns, workdir, handoff):
    backends = []
    for port in (8080, 9090):
        b = ns.spawn(sys.executable, str(HERE / "ns_helper.py"), "backend", VIP, str(port), "60",
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert b.stdout.readline().strip() == "ready", f"backend :{port} did not start"
        backends.append(b)
    cfg = workdir / "remora.yaml"
    cfg.write_text(json.dumps(capture_config(handoff)))
    cfg.chmod(0o644)
    log = open(workdir / "remora.log", "wb")
    remora = ns.spawn("setpriv", f"--reuid={PROXY_UID}", f"--regid={PROXY_UID}", "--clear-groups",
                      str(h.REMORA_BIN), "-c", str(cfg), "--concurrency", "1", "-l", "debug",
                      stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + h.READY_TIMEOUT
    while True:
        assert remora.poll() is None, "remora exited:\n" + (workdir / "remora.log").read_text()
        resp = ns.admin("/ready")
        if resp and resp[0] == 200:
            break
        assert time.monotonic() < deadline, "remora not ready:\n" + (workdir / "remora.log").read_text()
        time.sleep(0.05)
    return remora


def client(ns, port, message="hello-through-remora"):
    r = ns.run(sys.executable, str(HERE / "ns_helper.py"), "client", VIP, str(port), message)
    out = dict(kv.split("=", 1) for kv in r.stdout.split() if "=" in kv)
    assert out["echo"] == message
    return out


def assert_went_through_proxy(out, port):
    # The client believes it talks to VIP:port directly (NAT is transparent to it) ...
    assert out["client_peer"] == f"{VIP}:{port}"
    # ... but the backend's peer is remora's upstream socket, not the client's socket.
    assert out["local"] == f"{VIP}:{port}"
    assert out["peer"] != out["client_local"], "backend saw the client directly: not captured"
    assert out["peer"].split(":")[0] in (VIP, "127.0.0.1")


def test_original_dst_capture(netns, workdir):
    start_stack(netns, workdir, handoff=False)
    before = netns.stats()
    out = client(netns, 8080)
    assert_went_through_proxy(out, 8080)
    out = client(netns, 9090)
    assert_went_through_proxy(out, 9090)
    s = netns.stats()
    listener = f"listener.127.0.0.1_{CAPTURE_PORT}.downstream_cx_total"
    assert s[listener] - before.get(listener, 0) == 2
    assert s["cluster.PassthroughCluster.upstream_cx_total"] == 2
    assert s["tcp.PassthroughCluster.downstream_cx_total"] == 2


def test_use_original_dst_hands_off_to_bind_to_port_false_listener(netns, workdir):
    start_stack(netns, workdir, handoff=True)
    out = client(netns, 8080)  # a listener exists for 0.0.0.0:8080: hand-off
    assert_went_through_proxy(out, 8080)
    out = client(netns, 9090)  # none for :9090: stays on virtualOutbound → PassthroughCluster
    assert_went_through_proxy(out, 9090)
    s = netns.stats()
    assert s["tcp.outbound_8080.downstream_cx_total"] == 1
    assert s["cluster.outbound|8080||backend.upstream_cx_total"] == 1
    assert s["tcp.PassthroughCluster.downstream_cx_total"] == 1
    assert s["cluster.PassthroughCluster.upstream_cx_total"] == 1
    # Nothing may actually listen on :8080 besides the backend on the VIP (bind_to_port false).
    r = netns.run("ss", "-Htln", "sport = :8080", check=False)
    if r.returncode == 0:
        assert "0.0.0.0:8080" not in r.stdout and "*:8080" not in r.stdout
