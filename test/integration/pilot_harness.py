"""Harness for remora-pilot's integration tests: the pilot process (`pilot` fixture, config
directory under tmp_path, free ports on loopback), its monitoring port, a scripted ADS client
standing in for a sidecar (pilot/ads_client.js) and proxyless gRPC peers (pilot/*.js)."""

import json
import os
import queue
import select
import signal
import subprocess
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import BUILD, WaitTimeout, wait_until

PILOT_BIN = BUILD / "bin" / "remora-pilot"
PILOT_JS = Path(__file__).parent / "pilot"
NODE_MODULES = Path(__file__).parent.parent / "node" / "node_modules"


def sidecar_id(ip, pod, ns="default"):
    return f"sidecar~{ip}~{pod}.{ns}~{ns}.svc.cluster.local"


class Pilot:
    def __init__(self, config_dir, log_path, args):
        """config_dir None: the source is in args (--kube-api-server, --kubeconfig)."""
        self.config_dir = Path(config_dir) if config_dir is not None else None
        self.log_path = log_path
        self._log = open(log_path, "wb")
        source = ["--config-dir", str(config_dir)] if config_dir is not None else []
        self.proc = subprocess.Popen(
            [str(PILOT_BIN), *source, "--grpcAddr", "127.0.0.1:0",
             "--monitoringAddr", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE, stderr=self._log, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline() if ready else ""
        assert line.startswith("{"), f"remora-pilot did not start: {line!r}\n{self.log()}"
        ports = json.loads(line)
        self.xds_port = ports["xds_port"]
        self.monitoring_port = ports["monitoring_port"]
        self.xds_address = f"127.0.0.1:{self.xds_port}"

    def log(self):
        return Path(self.log_path).read_text(errors="replace")

    def get(self, path):
        """(status, body) of a monitoring page."""
        url = f"http://127.0.0.1:{self.monitoring_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def json(self, path):
        status, body = self.get(path)
        assert status == 200, (path, status, body)
        return json.loads(body)

    def metric(self, name):
        """The value of one Prometheus sample (name with labels, as printed), or 0."""
        _, body = self.get("/metrics")
        for line in body.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return 0.0

    def write(self, name, text):
        """Writes a manifest file atomically (rename), as editors and kubectl-style tools do."""
        path = self.config_dir / name
        tmp = self.config_dir / f".{name}.tmp"
        tmp.write_text(textwrap.dedent(text))
        os.replace(tmp, path)
        return path

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()
        self._log.close()


@pytest.fixture
def pilot(tmp_path):
    """pilot(files={name: yaml}, *args) starts remora-pilot over a fresh config directory;
    pilot(source=["--kube-api-server", URL]) takes its objects from that source instead."""
    started = []
    config_dir = tmp_path / "config"
    config_dir.mkdir()

    def start(files=None, *args, source=None):
        for name, text in (files or {}).items():
            (config_dir / name).write_text(textwrap.dedent(text))
        p = Pilot(None if source else config_dir, tmp_path / f"pilot{len(started)}.log",
                  [*(source or []), *args])
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


class AdsClient:
    """pilot/ads_client.js: subscribes like a sidecar and ACKs; responses collected as dicts."""

    def __init__(self, pilot, mode, node_id, *extra, env=None):
        self.proc = subprocess.Popen(
            ["node", str(PILOT_JS / "ads_client.js"), pilot.xds_address, mode, node_id, *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **(env or {})})
        self.responses = []
        self._queue = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("{"):
                self._queue.put(json.loads(line))

    def _drain(self):
        while True:
            try:
                self.responses.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def wait_for(self, predicate, timeout=10, what="response"):
        """The first response from now on (after `since`) satisfying predicate."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                r = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.responses.append(r)
            assert "error" not in r, r
            if predicate(r):
                return r
        raise WaitTimeout(f"no {what} within {timeout}s; got {[x.get('type') for x in self.responses]}")

    def latest(self, t, timeout=10):
        """The latest response of type t (waiting for the first one)."""
        self._drain()
        got = [r for r in self.responses if r.get("type") == t]
        if got:
            return got[-1]
        return self.wait_for(lambda r: r.get("type") == t, timeout, what=t)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def ads_client():
    """ads_client(pilot, mode, node_id, *extra) starts a scripted ADS client."""
    clients = []

    def start(*args, **kwargs):
        assert (NODE_MODULES / "@grpc" / "grpc-js-xds").is_dir(), "run scripts/deps.sh"
        c = AdsClient(*args, **kwargs)
        clients.append(c)
        return c

    yield start
    for c in clients:
        c.close()
