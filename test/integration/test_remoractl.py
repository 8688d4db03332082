"""remoractl bootstrap/sidecar: the sidecar bootstrap starts remora, its health listener answers
/healthz/ready from the proxy's readiness, its Prometheus listener serves /stats/prometheus, and
`remoractl sidecar` runs remora with it, passing signals through and exiting with its status.

Every port comes from flags (free loopback ports), so nothing here needs Istio's fixed ports.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BUILD, REMORA_BIN, curl, free_ports, run_remora, wait_until

REMORACTL = BUILD / "bin" / "remoractl"

POD = ["--pod-name", "reviews-v1-7f9c", "--pod-namespace", "bookinfo", "--instance-ip", "198.18.0.11",
       "--labels", "app=reviews,version=v1", "--discovery-address", "none", "--listen-address", "127.0.0.1"]


def remoractl(*args, env=None):
    return subprocess.run([str(REMORACTL), *args], capture_output=True, text=True, timeout=15,
                          env=env, stdin=subprocess.DEVNULL)


def port_flags(admin, health, prom):
    return ["--admin-port", str(admin), "--health-port", str(health), "--prometheus-port", str(prom)]


@pytest.fixture
def sidecar_ports():
    admin, health, prom = free_ports(3)
    return admin, health, prom


def test_bootstrap_validates_in_remora(tmp_path, sidecar_ports):
    out = tmp_path / "bootstrap.yaml"
    r = remoractl("bootstrap", *POD, *port_flags(*sidecar_ports), "-o", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert 'id: "sidecar~198.18.0.11~reviews-v1-7f9c.bookinfo~bookinfo.svc.cluster.local"' in text
    v = run_remora(["--mode", "validate", "-c", str(out)])
    assert v.returncode == 0, v.stdout + v.stderr


def test_health_listener_follows_readiness_and_prometheus_answers(remora, tmp_path, sidecar_ports):
    admin, health, prom = sidecar_ports
    r = remoractl("bootstrap", *POD, *port_flags(admin, health, prom))
    assert r.returncode == 0, r.stderr
    proc = remora(r.stdout, wait=False)
    proc.admin_port = admin
    proc.wait_ready()
    ready_url = f"http://127.0.0.1:{health}/healthz/ready"

    def ready_status():
        resp = curl(ready_url, timeout=2.0)
        return None if resp is None else resp.status

    wait_until(lambda: ready_status() == 200, 5.0, what="/healthz/ready 200")
    assert curl(ready_url).body.strip() == "LIVE"
    # Not a canned answer: when the proxy stops being ready, so does /healthz/ready.
    assert proc.post("/healthcheck/fail").status == 200
    resp = curl(ready_url)
    assert resp.status == 503 and resp.body.strip() == "DRAINING", resp
    assert proc.post("/healthcheck/ok").status == 200
    assert curl(ready_url).status == 200
    # Only the readiness path is exposed on the health port.
    assert curl(f"http://127.0.0.1:{health}/stats").status == 404

    metrics = curl(f"http://127.0.0.1:{prom}/stats/prometheus")
    assert metrics is not None and metrics.status == 200, metrics
    assert "# TYPE envoy_" in metrics.body
    # The health port's own traffic shows up in the metrics served on the Prometheus port.
    assert 'envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="agent"}' in metrics.body
    assert curl(f"http://127.0.0.1:{prom}/ready").status == 404


def _children(pid):
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sidecar_runs_remora_and_passes_signals(tmp_path, sidecar_ports, sig):
    admin, health, prom = sidecar_ports
    config = tmp_path / "proxy" / "envoy-rev.yaml"
    log = open(tmp_path / "sidecar.log", "wb")
    proc = subprocess.Popen([str(REMORACTL), "sidecar", *POD, *port_flags(admin, health, prom),
                             "--config-path", str(config), "--remora", str(REMORA_BIN),
                             "--", "--concurrency", "1", "--drain-time-s", "1"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        def ready():
            resp = curl(f"http://127.0.0.1:{health}/healthz/ready", timeout=1.0)
            return resp is not None and resp.status == 200

        wait_until(ready, 10.0, what="sidecar ready")
        assert config.exists() and "sidecar~198.18.0.11~" in config.read_text()
        children = _children(proc.pid)
        assert len(children) == 1, children
        remora_pid = children[0]
        assert os.readlink(f"/proc/{remora_pid}/exe") == str(REMORA_BIN.resolve())

        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0  # remora drained and exited 0; so did remoractl
        assert not Path(f"/proc/{remora_pid}").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def test_sidecar_exits_with_remoras_status(tmp_path, sidecar_ports):
    r = subprocess.run([str(REMORACTL), "sidecar", *POD, *port_flags(*sidecar_ports),
                        "--config-path", str(tmp_path / "b.yaml"), "--remora", str(REMORA_BIN),
                        "--", "--no-such-remora-flag"],
                       capture_output=True, text=True, timeout=15, stdin=subprocess.DEVNULL)
    direct = run_remora(["-c", str(tmp_path / "b.yaml"), "--no-such-remora-flag"])
    assert direct.returncode != 0
    assert r.returncode == direct.returncode, r.stderr


def test_sidecar_and_bootstrap_errors(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("POD_NAME", "INSTANCE_IP")}
    r = remoractl("bootstrap", "--instance-ip", "198.18.0.1", env=env)
    assert r.returncode == 1 and "pod name is required" in r.stderr
    r = remoractl("sidecar", *POD, "--config-path", str(tmp_path / "b.yaml"), "--remora",
                  str(tmp_path / "missing"))
    assert r.returncode == 1 and "remora binary was not found" in r.stderr
    r = remoractl("bootstrap", "--help")
    assert r.returncode == 0 and "--discovery-address" in r.stdout
