"""Issue 8's must-show: Bookinfo in the local mesh, sidecars configured by remora-pilot, Istio's
own rules steering real traffic (through `remoractl mesh demo`), traffic through both sidecars
with the capture rules in place, a restart of remora-pilot under load that fails nothing, and
outlier detection ejecting a replica whose application was killed.

Needs root, `ip netns` and a built remora-pilot; skipped otherwise. Every test ends with
`mesh down`."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

import conftest as h  # noqa: E402
from netns import skip_reason  # noqa: E402

REMORACTL = h.BUILD / "bin" / "remoractl"
PILOT = h.BUILD / "bin" / "remora-pilot"
SAMPLES = h.REPO / "samples" / "bookinfo"
RUN = Path("/run/remora-mesh")
REVIEWS_V1 = "outbound|9080|v1|reviews.default.svc.cluster.local"

_SKIP = skip_reason(("ip", "iptables", "setpriv", "curl"), REMORACTL)
if _SKIP is None and not PILOT.exists():
    _SKIP = f"{PILOT} not built"
if _SKIP is None and RUN.exists():
    _SKIP = "a mesh is already up on this machine"
pytestmark = pytest.mark.skipif(_SKIP is not None, reason=str(_SKIP))


def remoractl(*args, check=True, timeout=300):
    r = subprocess.run([str(REMORACTL), *args], capture_output=True, text=True, timeout=timeout,
                       errors="replace")
    if check:
        assert r.returncode == 0, f"{args}: {r.returncode}\n{r.stdout}{r.stderr}"
    return r


def sidecar_stats(pod):
    out = remoractl("mesh", "exec", pod, "--", "curl", "-s", "127.0.0.1:15000/stats").stdout
    return h.parse_text_stats(out)


def load(user="", requests=40):
    out = remoractl("mesh", "exec", "client-0", "--", "python3", str(SAMPLES / "bookinfo.py"),
                    "load", "--requests", str(requests), "--user", user).stdout
    return json.loads(out)


@pytest.fixture
def mesh_down():
    yield
    remoractl("mesh", "down", check=False)


def section(text, title):
    """The two traffic lines printed under a demo step's heading."""
    block = text.split(f"== {title}", 1)[1].split("\n==", 1)[0]
    jason = re.search(r"jason:\s+(.*)", block).group(1)
    everyone = re.search(r"everyone:\s+(.*)", block).group(1)
    return jason, everyone


def share(line, version):
    m = re.search(rf"reviews {version}\s+(\d+)%", line)
    return int(m.group(1)) if m else 0


def test_bookinfo_rules_through_sidecars_and_a_pilot_restart(mesh_down):
    demo = remoractl("mesh", "demo", "--requests", "20").stdout
    jason, everyone = section(demo, "virtual-service-all-v1.yaml")
    assert share(jason, "v1") == 100 and share(everyone, "v1") == 100
    jason, everyone = section(demo, "virtual-service-reviews-test-v2.yaml")
    assert share(jason, "v2") == 100 and share(everyone, "v1") == 100
    jason, everyone = section(demo, "virtual-service-ratings-test-delay.yaml")
    # The 7 s delay exceeds productpage's two 3 s tries: jason's page has no reviews.
    assert "reviews unavailable 20/20" in jason and share(everyone, "v1") == 100
    jason, everyone = section(demo, "virtual-service-ratings-test-abort.yaml")
    assert share(jason, "v2") == 100 and "ratings unavailable 20/20" in jason
    assert share(everyone, "v1") == 100 and "ratings unavailable" not in everyone
    _, everyone = section(demo, "virtual-service-reviews-50-v3.yaml")
    # 50/50 over 20 requests: outside 15..85% is more than 3 standard deviations.
    assert 15 <= share(everyone, "v3") <= 85 and share(everyone, "v1") + share(everyone, "v3") == 100
    assert "refused:" in demo and "mutual TLS" in demo

    # Every sidecar has ACKed all it was sent, as proxy-status and mesh status show.
    status = remoractl("proxy-status").stdout.splitlines()
    assert len(status) == 8 and all(line.split()[1:5] == ["SYNCED"] * 4 for line in status[1:])
    pods = remoractl("mesh", "status").stdout.splitlines()
    assert len(pods) == 8 and all(line.split()[-1] == "SYNCED" for line in pods[1:])

    # Pod to pod through both sidecars, the applications unaware.
    before_out = sidecar_stats("productpage-v1-0")
    before_in = sidecar_stats("reviews-v1-0")
    assert load("", 20)["errors"] == 0
    after_out = sidecar_stats("productpage-v1-0")
    after_in = sidecar_stats("reviews-v1-0")
    assert after_out[f"cluster.{REVIEWS_V1}.upstream_rq_total"] > \
        before_out.get(f"cluster.{REVIEWS_V1}.upstream_rq_total", 0)
    inbound = "cluster.inbound|9080||.upstream_rq_total"  # reviews-v1-0's sidecar to its app
    assert after_in[inbound] > before_in.get(inbound, 0)
    rules = remoractl("mesh", "exec", "reviews-v1-0", "--", "iptables", "-t", "nat", "-S").stdout
    for chain in ("ISTIO_INBOUND", "ISTIO_REDIRECT", "ISTIO_IN_REDIRECT", "ISTIO_OUTPUT"):
        assert f"-N {chain}" in rules
    # The inbound clusters are Istio's ORIGINAL_DST ones bound to 127.0.0.6: reviews' application
    # is called by its sidecar from 127.0.0.6, through the capture rules' 127.0.0.6 exemption.
    for _ in range(4):
        called = json.loads(remoractl("mesh", "exec", "client-0", "--", "curl", "-sf",
                                      "http://reviews:9080/reviews/0").stdout)
        assert called["service"] == "reviews" and called["peer"] == "127.0.0.6", called

    # remora-pilot killed under load: the proxies keep their config, no request fails.
    pilot = subprocess.run(["pgrep", "-f", "remora-pilot --config-dir"], capture_output=True,
                           text=True).stdout.split()
    assert pilot
    loader = subprocess.Popen(
        [str(REMORACTL), "mesh", "exec", "client-0", "--", "python3", str(SAMPLES / "bookinfo.py"),
         "load", "--requests", "200", "--concurrency", "4"], stdout=subprocess.PIPE, text=True)
    for pid in pilot:
        os.kill(int(pid), signal.SIGKILL)
    summary = json.loads(loader.communicate(timeout=120)[0])
    assert summary["errors"] == 0 and summary["reviews_unavailable"] == 0
    # The supervisor restarts it (10 s back-off); every proxy reconnects and is in sync again,
    # and traffic still flows.
    def all_synced():
        r = remoractl("proxy-status", check=False)
        rows = r.stdout.splitlines()[1:] if r.returncode == 0 else []
        return len(rows) == 7 and all(row.split()[1:5] == ["SYNCED"] * 4 for row in rows)
    h.wait_until(all_synced, 40, interval=0.5, what="proxies resynced with the restarted pilot")
    assert load("", 20)["errors"] == 0


def test_outlier_detection_ejects_a_killed_replica(mesh_down, tmp_path):
    # Bookinfo with two reviews-v1 replicas, run from a copy of the samples.
    shutil.copy(SAMPLES / "bookinfo.py", tmp_path)
    manifests = (SAMPLES / "bookinfo.yaml").read_text()
    manifests = manifests.replace("  name: reviews-v1\n  labels:\n    app: reviews\n    version: v1\n"
                                  "spec:\n  replicas: 1", "  name: reviews-v1\n  labels:\n"
                                  "    app: reviews\n    version: v1\nspec:\n  replicas: 2")
    assert "replicas: 2" in manifests
    (tmp_path / "bookinfo.yaml").write_text(manifests)
    (tmp_path / "client.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: client-0, labels: {app: client}}\n"
        "spec:\n  containers:\n  - {name: client, command: [sleep, infinity]}\n")
    remoractl("mesh", "up", "-f", str(tmp_path), "--wait", "120")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "dr.yaml").write_text("""apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 60s,
                       maxEjectionPercent: 100}
  subsets:
  - {name: v1, labels: {version: v1}}
""")
    (rules / "vs.yaml").write_text("""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews, subset: v1}}]
""")
    remoractl("mesh", "apply", "-f", str(rules / "dr.yaml"))
    remoractl("mesh", "apply", "-f", str(rules / "vs.yaml"))
    h.wait_until(lambda: load("", 10)["versions"] == {"v1": 10}, 20, interval=0.5,
                 what="reviews routed to v1")

    status = {p["name"]: p for p in json.loads(remoractl("mesh", "status", "-o", "json").stdout)}
    victim = next(c for c in status["reviews-v1-1"]["containers"] if c["name"] == "reviews")
    os.kill(victim["pid"], signal.SIGKILL)
    ejections = f"cluster.{REVIEWS_V1}.outlier_detection.ejections_enforced_total"
    h.wait_until(lambda: (load("", 10), sidecar_stats("productpage-v1-0").get(ejections, 0))[1] >= 1,
                 30, interval=0.2, what="the dead replica ejected")
    endpoints = remoractl("proxy-config", "endpoints", "productpage-v1-0").stdout
    dead_ip = status["reviews-v1-1"]["ip"]
    assert any(line.startswith(f"{dead_ip}:9080") and REVIEWS_V1 in line
               for line in endpoints.splitlines())  # still listed, only ejected
    summary = load("", 200)
    assert summary["requests"] == 200 and summary["errors"] == 0
    assert summary["reviews_unavailable"] == 0 and summary["versions"] == {"v1": 200}
