"""Must show: a real xDS client nobody here wrote. A proxyless gRPC client from @grpc/grpc-js-xds,
bootstrapped to remora-pilot (node metadata GENERATOR: grpc), resolves xds:///<fqdn>:<port> and
its calls follow a VirtualService's weighted split and header match to @grpc/grpc-js servers
registered as Kubernetes Endpoints (pods on 127.0.0.2 and 127.0.0.3); an edit of the
VirtualService reaches the running client; with the pilot stopped the client keeps serving, and a
restarted pilot resyncs it."""

import json
import os
import select
import subprocess
import time

import pytest

from conftest import free_port, wait_until
from pilot_harness import PILOT_JS, pilot  # noqa: F401 (fixture)

FQDN = "echo.default.svc.cluster.local"
TARGET = f"xds:///{FQDN}:7070"

SERVICE_AND_PODS = """
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  clusterIP: 10.96.0.10
  selector: {app: echo}
  ports:
  - {name: grpc, port: 7070}
---
apiVersion: v1
kind: Pod
metadata: {name: echo-v1, namespace: default, labels: {app: echo, version: v1}}
status: {podIP: 127.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: echo-v2, namespace: default, labels: {app: echo, version: v2}}
status: {podIP: 127.0.0.3}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"""


def virtual_service(v1, v2):
    return f"""
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {{name: echo}}
spec:
  hosts: [echo]
  http:
  - match:
    - headers: {{end-user: {{exact: jason}}}}
    route:
    - destination: {{host: echo, subset: v2}}
  - route:
    - destination: {{host: echo, subset: v1}}
      weight: {v1}
    - destination: {{host: echo, subset: v2}}
      weight: {v2}
"""


def endpoints(port1, port2):
    return f"""
apiVersion: v1
kind: Endpoints
metadata: {{name: echo, namespace: default}}
subsets:
- addresses: [{{ip: 127.0.0.2, targetRef: {{kind: Pod, name: echo-v1}}}}]
  ports: [{{name: grpc, port: {port1}}}]
- addresses: [{{ip: 127.0.0.3, targetRef: {{kind: Pod, name: echo-v2}}}}]
  ports: [{{name: grpc, port: {port2}}}]
"""


class Node:
    """A node.js process that prints JSON lines."""

    def __init__(self, args, env=None):
        self.proc = subprocess.Popen(["node", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})

    def line(self, timeout=30):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        assert line.startswith("{"), f"no output: {line!r} {self.proc.stderr.read() if self.proc.poll() is not None else ''}"
        return json.loads(line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            f.close()


@pytest.fixture
def mesh(pilot, tmp_path):
    procs = []
    servers = {}
    for name, ip in (("v1", "127.0.0.2"), ("v2", "127.0.0.3")):
        s = Node([str(PILOT_JS / "named_server.js"), f"{ip}:0", name])
        procs.append(s)
        servers[name] = s.line(20)["port"]
    # A fixed xDS port, so a restarted pilot is found where the client's bootstrap points.
    xds_addr = f"127.0.0.1:{free_port()}"
    p = pilot({"echo.yaml": SERVICE_AND_PODS, "vs.yaml": virtual_service(75, 25),
               "endpoints.yaml": endpoints(servers["v1"], servers["v2"])}, "--grpcAddr", xds_addr)
    bootstrap = tmp_path / "xds-bootstrap.json"
    bootstrap.write_text(json.dumps({
        "xds_servers": [{"server_uri": p.xds_address, "channel_creds": [{"type": "insecure"}],
                         "server_features": ["xds_v3"]}],
        "node": {"id": "sidecar~127.0.0.9~client.default~default.svc.cluster.local",
                 "locality": {}, "metadata": {"GENERATOR": "grpc"}}}))
    client = Node([str(PILOT_JS / "xds_client.js"), TARGET], env={"GRPC_XDS_BOOTSTRAP": str(bootstrap)})
    procs.append(client)

    def calls(count, metadata=None):
        client.proc.stdin.write(json.dumps({"count": count, "metadata": metadata or {}}) + "\n")
        client.proc.stdin.flush()
        return client.line(60)

    def restart(files):
        p.stop()
        return pilot(files, "--grpcAddr", xds_addr)

    yield p, calls, restart
    for proc in procs:
        proc.close()


def test_weighted_split_and_header_match(mesh):
    p, calls, _ = mesh
    r = calls(400)
    assert r["errors"] == {}
    # 75/25 of 400: mean 300, standard deviation about 8.7; 260..340 is beyond 4.5 sigma.
    assert 260 <= r["counts"].get("v1", 0) <= 340, r
    assert r["counts"]["v1"] + r["counts"]["v2"] == 400
    r = calls(50, {"end-user": "jason"})
    assert r == {"counts": {"v2": 50}, "errors": {}}
    sync = [s for s in p.json("/debug/syncz") if s["proxy_type"] == "grpc"]
    assert len(sync) == 1 and sync[0]["listener_nacks"] == 0 and sync[0]["route_nacks"] == 0
    assert sync[0]["listener_acked"] and sync[0]["route_acked"] and sync[0]["endpoint_acked"]
    dump = p.json("/debug/config_dump?proxyID=sidecar~127.0.0.9~client.default~default.svc.cluster.local")
    assert f"{FQDN}:7070" in [l["name"] for l in dump["configs"]["listeners"]]


def test_virtual_service_edit_reaches_the_running_client(mesh):
    p, calls, _ = mesh
    assert calls(20)["errors"] == {}
    start = time.monotonic()
    p.write("vs.yaml", virtual_service(0, 100))
    # Poll with small batches until every call lands on v2; each batch is real traffic.
    wait_until(lambda: calls(10)["counts"] == {"v2": 10}, 5, what="all calls on v2")
    assert time.monotonic() - start < 2.0
    assert calls(100) == {"counts": {"v2": 100}, "errors": {}}


def test_client_keeps_serving_while_pilot_restarts_and_resyncs(mesh):
    p, calls, restart = mesh
    assert calls(20)["errors"] == {}
    p.stop()
    # No control plane: the client keeps its last config and every call still succeeds.
    r = calls(50)
    assert r["errors"] == {} and sum(r["counts"].values()) == 50
    # A new pilot (a changed rule meanwhile) on the same address: the client reconnects, resyncs.
    restart({"vs.yaml": virtual_service(0, 100)})
    wait_until(lambda: calls(10)["counts"] == {"v2": 10}, 20, interval=0.1, what="resync to v2")
