"""remora-pilot and a real remora, end to end on loopback: remora bootstrapped by `remoractl
bootstrap` as a sidecar (node id in Istio's form, ADS for LDS and CDS) takes its routes from
remora-pilot. A VirtualService remora cannot honour — a uri regex RE2 refuses, which remora-pilot
passes on as Istio's istiod does when no validating webhook stops it — is NACKed with
error_detail; remora keeps serving the routes it had, remora-pilot's /debug/syncz shows the NACK
and its error for that proxy, and fixing the file clears it with an ACK.

No capture rules here (no root): the test's own listener points its connection manager at
remora-pilot's RDS route config for the service port, as a sidecar's outbound listener does."""

import json
import subprocess

import pytest
import yaml

from conftest import BUILD, curl, free_ports, is_listening, socket_address, wait_until
from http_harness import HCM_TYPE, router_filter
from pilot_harness import pilot, sidecar_id  # noqa: F401 (fixture)

REMORACTL = BUILD / "bin" / "remoractl"
PROXY_IP = "10.255.0.9"
NODE = sidecar_id(PROXY_IP, "client")


def service(port, backend_port):
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: reviews, namespace: default}}
spec:
  clusterIP: 10.96.0.20
  ports: [{{name: http, port: {port}, targetPort: {backend_port}}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: reviews, namespace: default}}
subsets:
- addresses: [{{ip: 127.0.0.1}}]
  ports: [{{name: http, port: {backend_port}}}]
"""


def virtual_service(regex):
    """/special (by regex) answers 418 from the fault filter; everything else goes to reviews."""
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews, namespace: default}}
spec:
  hosts: [reviews]
  http:
  - match: [{{uri: {{regex: "{regex}"}}}}]
    fault: {{abort: {{httpStatus: 418, percentage: {{value: 100}}}}}}
    route: [{{destination: {{host: reviews}}}}]
  - route: [{{destination: {{host: reviews}}}}]
"""


def sidecar_bootstrap(tmp_path, pilot_port, listener_port, service_port):
    """remoractl bootstrap's sidecar, its fixed ports moved to free ones, plus a listener whose
    connection manager takes RDS route config `<service_port>` over ADS."""
    admin, health, prometheus = free_ports(3)
    static = {"static_resources": {"listeners": [{
        "name": "test_outbound", "address": socket_address(listener_port),
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": HCM_TYPE, "stat_prefix": "test_outbound",
                "rds": {"route_config_name": str(service_port),
                        "config_source": {"ads": {}, "resource_api_version": "V3"}},
                "http_filters": [{"name": "envoy.filters.http.fault", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"}},
                    router_filter()]}}]}]}]}}
    static_path = tmp_path / "static.json"
    static_path.write_text(json.dumps(static))
    r = subprocess.run([str(REMORACTL), "bootstrap", "--discovery-address", f"127.0.0.1:{pilot_port}",
                        "--pod-name", "client", "--pod-namespace", "default",
                        "--instance-ip", PROXY_IP, "--listen-address", "127.0.0.1",
                        "--admin-port", str(admin), "--health-port", str(health),
                        "--prometheus-port", str(prometheus), "--static", str(static_path)],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(r.stdout), admin


def proxy_sync(p):
    rows = [s for s in p.json("/debug/syncz") if s["proxy"] == NODE]
    return rows[0] if rows else {}


def test_nack_keeps_the_last_good_routes_and_shows_in_syncz(pilot, remora, http_backends):
    # The sidecar's capture listeners bind 0.0.0.0:15001 and :15006 here, as in a pod.
    busy = [port for port in (15001, 15006) if is_listening(port)]
    if busy:
        pytest.skip(f"ports {busy} are taken on this host")
    backend = http_backends("reviews")
    service_port, listener_port = free_ports(2)
    p = pilot({"reviews.yaml": service(service_port, backend.port),
               "vs.yaml": virtual_service("/special(/.*)?")})
    cfg, admin = sidecar_bootstrap(p.config_dir.parent, p.xds_port, listener_port, service_port)
    proc = remora(cfg, "--concurrency", "2")
    host = {"host": f"reviews:{service_port}"}

    def status(path):
        r = curl(f"http://127.0.0.1:{listener_port}{path}", headers=host)
        return r.status if r is not None else None
    assert status("/reviews/0") == 200 and status("/special/1") == 418
    sync = wait_until(lambda: (s := proxy_sync(p)) and s.get("route_acked") == s.get("route_sent")
                      and s.get("route_acked") and s, 5, what="RDS ACKed")
    assert "route_nack" not in sync and sync["route_nacks"] == 0
    rds_prefix = f"http.test_outbound.rds.{service_port}"
    assert proc.stat(f"{rds_prefix}.update_rejected") == 0

    # A lookahead: valid for Istio's YAML, refused by RE2. remora-pilot translates it as given.
    p.write("vs.yaml", virtual_service("/special(?=/)"))
    sync = wait_until(lambda: (s := proxy_sync(p)).get("route_nacks", 0) >= 1 and s, 5,
                      what="the RDS NACK in syncz")
    assert sync["route_acked"] != sync["route_sent"]
    assert sync["route_nack"].startswith(f"route_config {service_port}: ") and \
        "match.safe_regex.regex: invalid regex" in sync["route_nack"], sync
    proc.wait_stat(f"{rds_prefix}.update_rejected", lambda v: v >= 1)
    # remora serves the last good routes: both the regex route and the default one.
    for _ in range(10):
        assert status("/reviews/0") == 200 and status("/special/1") == 418
    dump = proc.get("/config_dump").json()
    routes = next(c for c in dump["configs"] if c["@type"].endswith("RoutesConfigDump"))
    (active,) = routes["dynamic_route_configs"]
    assert active["version_info"] == sync["route_version"]
    # remoractl proxy-status, as istioctl's, names the NACK and its error.
    r = subprocess.run([str(REMORACTL), "proxy-status", "--pilot-address",
                        f"127.0.0.1:{p.monitoring_port}"], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 0, r.stderr
    row = next(line for line in r.stdout.splitlines() if line.startswith("client.default "))
    assert row.split()[1:5] == ["SYNCED", "SYNCED", "SYNCED", "NACK"], r.stdout
    assert "client.default NACK RDS: " in r.stdout
    assert p.metric('pilot_total_xds_rejects{type="rds"}') >= 1

    # Fixed: the new routes are ACKed, the NACK cleared, and they serve.
    p.write("vs.yaml", virtual_service("/other(/.*)?"))
    sync = wait_until(lambda: (s := proxy_sync(p)) and s.get("route_acked") == s.get("route_sent")
                      and "route_nack" not in s and s, 5, what="the fixed routes ACKed")
    assert sync["route_nacks"] >= 1  # the count stays
    wait_until(lambda: status("/special/1") == 200, 5, what="the fixed routes serving")
    assert status("/other/1") == 418 and status("/reviews/0") == 200
    assert proc.stat(f"{rds_prefix}.update_success") >= 2
