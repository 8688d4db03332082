"""Real traffic through remora configured by remora-pilot, in a private network namespace with
Istio-style capture: a VirtualService's `tls` route picks a subset by SNI and its `tcp` route
splits the rest by weight; HTTP routes from two VirtualServices for one host and a delegate, with
a sourceLabels route that is not for this client; a Sidecar's egress hosts and REGISTRY_ONLY cut
what the client reaches.

The namespace holds the service VIP and pod addresses on lo, echo backends on the pod
addresses, remora-pilot on 127.0.0.1, remora as uid 1337 bootstrapped to it with the client pod's
Istio node id, and the nat OUTPUT rule redirecting every TCP connection not owned by uid 1337 to
:15001. Needs root and `ip netns`; skipped otherwise. The namespace goes on every exit path.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
import conftest as h  # noqa: E402
from netns import NetnsBase, skip_reason  # noqa: E402
from xds_harness import xds_cluster  # noqa: E402

PILOT_BIN = h.BUILD / "bin" / "remora-pilot"
PROXY_UID = 1337
DB_VIP, DB_V1, DB_V2 = "198.18.0.10", "198.18.1.1", "198.18.1.2"
WEB_VIP, WEB_V1, WEB_V2 = "198.18.0.20", "198.18.1.11", "198.18.1.12"
OUTSIDE = "198.18.0.99"  # no service: reachable only through PassthroughCluster
ADMIN_PORT, CAPTURE_PORT, XDS_PORT = 15000, 15001, 15010

_SKIP = skip_reason(("ip", "iptables", "setpriv"), h.REMORA_BIN)
if _SKIP is None and not PILOT_BIN.exists():
    _SKIP = f"{PILOT_BIN} not built"
pytestmark = pytest.mark.skipif(_SKIP is not None, reason=str(_SKIP))

MESH = """
apiVersion: v1
kind: Service
metadata: {name: db, namespace: data}
spec:
  clusterIP: 198.18.0.10
  ports: [{name: tcp-db, port: 5432}]
---
apiVersion: v1
kind: Pod
metadata: {name: db-v1, namespace: data, labels: {app: db, version: v1}}
status: {podIP: 198.18.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: db-v2, namespace: data, labels: {app: db, version: v2}}
status: {podIP: 198.18.1.2}
---
apiVersion: v1
kind: Endpoints
metadata: {name: db, namespace: data}
subsets:
- addresses: [{ip: 198.18.1.1, targetRef: {kind: Pod, name: db-v1}},
              {ip: 198.18.1.2, targetRef: {kind: Pod, name: db-v2}}]
  ports: [{name: tcp-db, port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 198.18.0.20
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-v1, namespace: default, labels: {app: web, version: v1}}
status: {podIP: 198.18.1.11}
---
apiVersion: v1
kind: Pod
metadata: {name: web-v2, namespace: default, labels: {app: web, version: v2}}
status: {podIP: 198.18.1.12}
---
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: default}
subsets:
- addresses: [{ip: 198.18.1.11, targetRef: {kind: Pod, name: web-v1}},
              {ip: 198.18.1.12, targetRef: {kind: Pod, name: web-v2}}]
  ports: [{name: http, port: 8080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: default}
spec:
  host: web
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
status: {podIP: 198.18.2.1}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db, namespace: data}
spec:
  host: db
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
"""


def db_routes(v1_weight, v2_weight):
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: db, namespace: data}}
spec:
  hosts: [db]
  tls:
  - match: [{{sniHosts: [primary.db.example]}}]
    route: [{{destination: {{host: db, subset: v1}}}}]
  tcp:
  - route:
    - {{destination: {{host: db, subset: v1}}, weight: {v1_weight}}}
    - {{destination: {{host: db, subset: v2}}, weight: {v2_weight}}}
"""


def sidecar(hosts, mode):
    return f"""
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: default, namespace: default}}
spec:
  egress: [{{hosts: [{hosts}]}}]
  outboundTrafficPolicy: {{mode: {mode}}}
"""


# Two VirtualServices for web (the older one first) and a delegate under /api.
WEB_ROUTES = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web-root, namespace: default, creationTimestamp: "2025-01-01T00:00:00Z"}
spec:
  hosts: [web]
  http:
  - name: not-for-this-client
    match: [{sourceLabels: {app: someone-else}}]
    route: [{destination: {host: web, subset: v2}}]
  - name: api
    match: [{uri: {prefix: /api}}]
    delegate: {name: web-api, namespace: team}
  - name: alpha
    match: [{uri: {prefix: /alpha}}]
    route: [{destination: {host: web, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web-more, namespace: default, creationTimestamp: "2025-02-01T00:00:00Z"}
spec:
  hosts: [web]
  http:
  - name: rest
    route: [{destination: {host: web, subset: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web-api, namespace: team}
spec:
  http:
  - name: v1
    match: [{uri: {prefix: /api/v1}}]
    route: [{destination: {host: web.default.svc.cluster.local, subset: v1}}]
  - name: elsewhere
    match: [{uri: {prefix: /b}}]
    route: [{destination: {host: web.default.svc.cluster.local, subset: v1}}]
"""

# An HTTP server on argv[1]:argv[2] answering every request with its own address.
HTTP_BACKEND = textwrap.dedent("""
    import http.server, sys
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_GET(self):
            body = f"local={self.server.server_address[0]}\\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Handler)
    print("ready", flush=True)
    server.serve_forever()
""")

# Sends a TLS ClientHello naming argv[3] and prints the backend's first line (its address).
TLS_CLIENT = textwrap.dedent("""
    import socket, ssl, sys
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=sys.argv[3])
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as s:
        s.sendall(outgoing.read())
        print(s.makefile("rb").readline().decode().strip())
""")


class Mesh(NetnsBase):
    def __init__(self, workdir):
        super().__init__("remora-pilot-e2e")
        self.workdir = workdir
        self.config_dir = workdir / "config"

    def create(self):
        self.add()
        for ip in (DB_VIP, DB_V1, DB_V2, OUTSIDE, WEB_VIP, WEB_V1, WEB_V2):
            self.run("ip", "addr", "add", f"{ip}/32", "dev", "lo")
        self.run("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", "127.0.0.1/32", "-j",
                 "RETURN")
        self.run("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-m", "owner", "!",
                 "--uid-owner", str(PROXY_UID), "-j", "REDIRECT", "--to-ports", str(CAPTURE_PORT))
        for ip, port in ((DB_V1, 5432), (DB_V2, 5432), (OUTSIDE, 7000)):
            b = self.spawn(sys.executable, str(HERE / "ns_helper.py"), "backend", ip, str(port),
                           "120", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            assert b.stdout.readline().strip() == "ready"
        for ip in (WEB_V1, WEB_V2):
            b = self.spawn(sys.executable, "-c", HTTP_BACKEND, ip, "8080", stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
            assert b.stdout.readline().strip() == "ready"

    def write(self, name, text):
        tmp = self.config_dir / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, self.config_dir / name)

    def start(self, files):
        self.config_dir.mkdir()
        for name, text in files.items():
            self.write(name, text)
        self.pilot_log = open(self.workdir / "pilot.log", "wb")
        pilot = self.spawn(str(PILOT_BIN), "--config-dir", str(self.config_dir), "--grpcAddr",
                           f"127.0.0.1:{XDS_PORT}", "--monitoringAddr", "127.0.0.1:15014",
                           stdout=subprocess.PIPE, stderr=self.pilot_log, text=True)
        assert pilot.stdout.readline().startswith("{"), self.log("pilot.log")
        cfg = h.bootstrap([], [xds_cluster(XDS_PORT)], ADMIN_PORT,
            node={"id": "sidecar~198.18.2.1~client.default~default.svc.cluster.local",
                  "cluster": "client.default"},
            dynamic_resources={
                "lds_config": {"ads": {}, "resource_api_version": "V3"},
                "cds_config": {"ads": {}, "resource_api_version": "V3"},
                "ads_config": {"api_type": "GRPC", "transport_api_version": "V3",
                               "grpc_services": [{"envoy_grpc": {"cluster_name": "xds-grpc"}}]}})
        path = self.workdir / "remora.json"
        path.write_text(json.dumps(cfg))
        path.chmod(0o644)
        log = open(self.workdir / "remora.log", "wb")
        remora = self.spawn("setpriv", f"--reuid={PROXY_UID}", f"--regid={PROXY_UID}",
                            "--clear-groups", str(h.REMORA_BIN), "-c", str(path), "--concurrency",
                            "1", stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while self.run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                       f"http://127.0.0.1:{ADMIN_PORT}/ready", check=False).stdout != "200":
            assert remora.poll() is None, self.log("remora.log")
            assert time.monotonic() < deadline, self.log("remora.log") + self.log("pilot.log")
            time.sleep(0.05)

    def log(self, name):
        return (self.workdir / name).read_text(errors="replace")

    def stat(self, name):
        r = self.run("curl", "-s", f"http://127.0.0.1:{ADMIN_PORT}/stats")
        return h.parse_text_stats(r.stdout).get(name, 0)

    def tcp(self, ip, port):
        """The backend address a plain connection reaches, or None when it is cut off."""
        r = self.run(sys.executable, str(HERE / "ns_helper.py"), "client", ip, str(port), "ping",
                     check=False)
        out = dict(kv.split("=", 1) for kv in r.stdout.split() if "=" in kv)
        return out.get("local", "").split(":")[0] or None

    def http(self, path):
        """(status, the web pod that answered or None) for GET http://web<path>."""
        r = self.run("curl", "-s", "--max-time", "5", "-w", " status=%{http_code}",
                     f"http://{WEB_VIP}{path}", check=False)
        out = dict(kv.split("=", 1) for kv in r.stdout.split() if "=" in kv)
        return int(out.get("status", 0)), out.get("local")

    def tls(self, ip, port, sni):
        r = self.run(sys.executable, "-c", TLS_CLIENT, ip, str(port), sni, check=False)
        out = dict(kv.split("=", 1) for kv in r.stdout.split() if "=" in kv)
        return out.get("local", "").split(":")[0] or None


@pytest.fixture
def mesh():
    workdir = Path(tempfile.mkdtemp(prefix="remora-pilot-e2e-"))
    os.chmod(workdir, 0o755)
    m = Mesh(workdir)
    try:
        m.create()
        yield m
    finally:
        m.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


def test_tls_and_tcp_routes_steer_connections(mesh):
    mesh.start({"mesh.yaml": MESH, "vs.yaml": db_routes(0, 100)})
    # The routes arrive with the first config; poll until the db listener serves them.
    h.wait_until(lambda: mesh.tcp(DB_VIP, 5432) == DB_V2, 10, what="tcp route to v2")
    assert {mesh.tcp(DB_VIP, 5432) for _ in range(5)} == {DB_V2}
    assert mesh.tls(DB_VIP, 5432, "primary.db.example") == DB_V1  # SNI match: subset v1
    assert mesh.tls(DB_VIP, 5432, "replica.db.example") == DB_V2  # other SNI: the tcp route
    # A weight edit is followed live: 50/50 reaches both subsets.
    mesh.write("vs.yaml", db_routes(50, 50))
    seen = set()
    h.wait_until(lambda: seen.add(mesh.tcp(DB_VIP, 5432)) or seen == {DB_V1, DB_V2}, 15,
                 what="both subsets under 50/50")


def test_http_routes_of_merged_and_delegate_virtual_services(mesh):
    mesh.start({"mesh.yaml": MESH, "web.yaml": WEB_ROUTES})
    h.wait_until(lambda: mesh.http("/alpha") == (200, WEB_V1), 10, what="route alpha to v1")
    # The sourceLabels route is not for this client: without a match, the newer VirtualService's
    # route takes the rest.
    assert mesh.http("/") == (200, WEB_V2)
    assert mesh.http("/api/v1/x") == (200, WEB_V1)  # the delegate's route under /api
    # /api/other matches the root's /api but no delegate route, and /b is not under /api (the
    # delegate's /b route is dropped): both fall through to the newer VirtualService's route.
    assert mesh.http("/api/other") == (200, WEB_V2)
    assert mesh.http("/b") == (200, WEB_V2)


def test_sidecar_egress_and_registry_only_cut_off_traffic(mesh):
    mesh.start({"mesh.yaml": MESH, "sidecar.yaml": sidecar('"./*"', "REGISTRY_ONLY")})
    # db is in namespace data, outside "./*": its listener is gone, and REGISTRY_ONLY sends the
    # connection (like one to an address no service has) to BlackHoleCluster.
    assert mesh.tcp(DB_VIP, 5432) is None
    assert mesh.tcp(OUTSIDE, 7000) is None
    assert mesh.stat("tcp.BlackHoleCluster.downstream_cx_total") == 2
    # The Sidecar now lets in data/* and ALLOW_ANY: db balances over its pods, and an unknown
    # address passes through.
    mesh.write("sidecar.yaml", sidecar('"./*", "data/*"', "ALLOW_ANY"))
    h.wait_until(lambda: mesh.tcp(DB_VIP, 5432) in (DB_V1, DB_V2), 10, what="db in scope")
    assert mesh.tcp(OUTSIDE, 7000) == OUTSIDE
