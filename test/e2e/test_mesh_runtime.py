"""`remoractl mesh` as the kubelet and the network: pods as network namespaces on a bridge, their
/etc/hosts, the applications run and restarted, `mesh apply`, and `mesh down` leaving nothing
behind, also after the supervisor was killed. The pods here opt out of injection, so this runs
without a control plane; the sidecars' part is covered where remora-pilot is (Bookinfo).

Needs root and `ip netns`; skipped otherwise. Every test ends with `mesh down`.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

import conftest as h  # noqa: E402  (BUILD, wait_until)
from netns import skip_reason  # noqa: E402

REMORACTL = h.BUILD / "bin" / "remoractl"
RUN = Path("/run/remora-mesh")

_SKIP = skip_reason(("ip", "setpriv", "curl"), REMORACTL)
if _SKIP is None and RUN.exists():
    _SKIP = "a mesh is already up on this machine"
pytestmark = pytest.mark.skipif(_SKIP is not None, reason=str(_SKIP))

MANIFESTS = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {sidecar.istio.io/inject: "false"}
    spec:
      containers:
      - name: web
        command: [python3, -m, http.server, "8080"]
        env: [{name: WHO, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
---
apiVersion: v1
kind: Pod
metadata:
  name: client
  annotations: {sidecar.istio.io/inject: "false"}
spec:
  containers:
  - name: client
    command: [sleep, infinity]
"""


def mesh(*args, check=True, timeout=120):
    r = subprocess.run([str(REMORACTL), "mesh", *args], capture_output=True, text=True,
                       timeout=timeout)
    if check:
        assert r.returncode == 0, f"mesh {args}: {r.returncode}\n{r.stdout}{r.stderr}"
    return r


def status():
    return {p["name"]: p for p in json.loads(mesh("status", "-o", "json").stdout)}


def leftovers():
    """What a mesh could leave behind: namespaces, /etc/netns entries, the run dir, processes."""
    names = {"web-0", "web-1", "client", "once-0", "remora-node"}
    netns = set(subprocess.run(["ip", "netns", "list"], capture_output=True,
                               text=True).stdout.split()) & names
    etc = {n for n in names if Path("/etc/netns", n).exists()}
    procs = subprocess.run(["pgrep", "-f", "http.server 8080|sleep infinity|remoractl mesh|"
                            "remora-pilot --config-dir /run/remora-mesh"],
                           capture_output=True, text=True).stdout.split()
    return {"netns": netns, "etc": etc, "run": RUN.exists(), "procs": procs}


CLEAN = {"netns": set(), "etc": set(), "run": False, "procs": []}


@pytest.fixture
def manifests(tmp_path):
    (tmp_path / "app.yaml").write_text(MANIFESTS)
    yield tmp_path
    mesh("down", check=False)


def test_pods_run_on_the_bridge_with_their_hosts_and_come_down_clean(manifests):
    up = mesh("up", "-f", str(manifests), "--pilot", "none", "--wait", "60")
    assert "web-1" in up.stdout and "Running" in up.stdout
    pods = status()
    assert {n: (p["ip"], p["phase"]) for n, p in pods.items()} == {
        "web-0": ("198.18.0.10", "Running"), "web-1": ("198.18.0.11", "Running"),
        "client": ("198.18.0.12", "Running")}
    # Pod to pod across the bridge, from inside the client's namespace.
    for ip in ("198.18.0.10", "198.18.0.11"):
        h.wait_until(lambda: mesh("exec", "client", "--", "curl", "-sf", "-o", "/dev/null",
                                  f"http://{ip}:8080/", check=False).returncode == 0,
                     20, what=f"web at {ip}")
    hosts = mesh("exec", "client", "--", "cat", "/etc/hosts").stdout
    assert "198.19.0.10\tweb web.default web.default.svc web.default.svc.cluster.local" in hosts
    assert "198.18.0.1\tremora-pilot.remora-system.svc" in hosts
    route = mesh("exec", "web-0", "--", "ip", "route").stdout
    assert "default via 198.18.0.1" in route
    # The API objects remora-pilot reads.
    slice_ = (RUN / "config" / "endpointslice.default.web-mesh.yaml").read_text()
    assert "198.18.0.10" in slice_ and "198.18.0.11" in slice_ and "port: 8080" in slice_
    assert "clusterIP: 198.19.0.10" in (RUN / "config" / "service.default.web.yaml").read_text()
    # The downward API reached the application.
    pid = pods["web-1"]["containers"][0]["pid"]
    assert b"WHO=web-1\0" in Path(f"/proc/{pid}/environ").read_bytes()
    mesh("down")
    assert leftovers() == CLEAN


def test_an_application_that_dies_is_restarted(manifests):
    mesh("up", "-f", str(manifests), "--pilot", "none", "--wait", "60")
    before = status()["web-0"]
    os.kill(before["containers"][0]["pid"], signal.SIGKILL)
    # Restarted after the first back-off (10 s), with the restart counted.
    after = h.wait_until(lambda: (lambda p: p if p["restarts"] == 1 and p["phase"] == "Running"
                                  else None)(status()["web-0"]), 30, interval=0.2,
                         what="web-0 restarted")
    assert after["containers"][0]["pid"] != before["containers"][0]["pid"]
    assert status()["web-1"]["restarts"] == 0


def test_apply_replaces_objects_and_refuses_what_it_cannot_serve(manifests, tmp_path_factory):
    mesh("up", "-f", str(manifests), "--pilot", "none", "--wait", "60")
    rules = tmp_path_factory.mktemp("rules")
    vs = rules / "vs.yaml"
    vs.write_text("apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                  "metadata: {name: web}\nspec:\n  hosts: [web]\n  http:\n"
                  "  - route: [{destination: {host: web}}]\n")
    assert mesh("apply", "-f", str(vs)).stdout == "virtualservice/web created\n"
    assert mesh("apply", "-f", str(vs)).stdout == "virtualservice/web configured\n"
    assert (RUN / "config" / "virtualservice.default.web.yaml").read_text() == vs.read_text()
    new_service = rules / "svc.yaml"
    new_service.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: other}\n"
                           "spec: {ports: [{port: 81}]}\n")
    mesh("apply", "-f", str(new_service))
    assert "clusterIP: 198.19.0.11" in (RUN / "config" / "service.default.other.yaml").read_text()
    mtls = rules / "dr.yaml"
    mtls.write_text("apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                    "metadata: {name: web}\nspec:\n  host: web\n"
                    "  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}\n")
    r = mesh("apply", "-f", str(mtls), check=False)
    assert r.returncode == 1 and "mutual TLS" in r.stderr
    assert not (RUN / "config" / "destinationrule.default.web.yaml").exists()


def test_down_cleans_up_after_a_killed_supervisor(manifests):
    mesh("up", "-f", str(manifests), "--pilot", "none", "--wait", "60")
    supervisor = int((RUN / "supervisor.pid").read_text())
    os.kill(supervisor, signal.SIGKILL)
    h.wait_until(lambda: not Path(f"/proc/{supervisor}").exists() or
                 "Z" in Path(f"/proc/{supervisor}/stat").read_text().split()[2], 10,
                 what="supervisor gone")
    mesh("down")
    assert leftovers() == CLEAN


def test_up_refuses_a_second_mesh_and_bad_manifests(manifests, tmp_path_factory):
    bad = tmp_path_factory.mktemp("bad")
    (bad / "pod.yaml").write_text("kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
                                  "  - {name: app, image: nginx}\n")
    r = mesh("up", "-f", str(bad), "--pilot", "none", check=False)
    assert r.returncode == 1 and "command is required" in r.stderr
    assert leftovers() == CLEAN
    mesh("up", "-f", str(manifests), "--pilot", "none", "--wait", "60")
    r = mesh("up", "-f", str(manifests), "--pilot", "none", check=False)
    assert r.returncode == 1 and "already up" in r.stderr


JOB = """\
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: work
        command: [sh, -c, "curl -s -o /dev/null http://127.0.0.1:15021/healthz/ready && exit 0"]
"""


def test_a_jobs_sidecar_drains_when_the_job_ends(tmp_path):
    """A Job pod with its sidecar (remora-pilot running): the application runs once its sidecar
    is ready, and when it exits the sidecar drains and exits, so the pod completes."""
    (tmp_path / "job.yaml").write_text(JOB)
    try:
        up = mesh("up", "-f", str(tmp_path), "--wait", "60")
        assert "Succeeded" in up.stdout
        pod = status()["once-0"]
        assert pod["phase"] == "Succeeded" and pod["restarts"] == 0
        assert all(c["pid"] == -1 for c in pod["containers"])  # the sidecar is gone too
    finally:
        mesh("down", check=False)
    assert leftovers() == CLEAN
