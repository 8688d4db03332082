"""remora-pilot as a process: manifests from --config-dir (multi-document, watched, errors with
file, document and field path, duplicates naming both files, unsupported kinds listed), the ADS
server over State-of-the-World and Delta with a scripted client standing in for a sidecar
(Istio-named resources, ACK/NACK in /debug/syncz and /metrics, debounced full pushes, endpoint-only
changes pushed at once as EDS only) and the monitoring pages."""

import subprocess
import time
from pathlib import Path

from conftest import BUILD
from pilot_harness import AdsClient, ads_client, pilot, sidecar_id  # noqa: F401 (fixtures)

REPO = Path(__file__).resolve().parents[2]
# Istio's Bookinfo objects and its traffic rules, as the repository keeps them.
BOOKINFO_FILES = [REPO / "test" / "unit" / "testdata" / "remoractl" / "bookinfo.yaml",
                  *sorted((REPO / "samples" / "bookinfo" / "networking").glob("*.yaml"))]
FQDN = "reviews.default.svc.cluster.local"

SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  clusterIP: 10.96.0.20
  selector: {app: reviews}
  ports:
  - {name: http, port: 9080, targetPort: 9080}
"""

PODS = """
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1, namespace: default, labels: {app: reviews, version: v1}}
status: {podIP: 10.0.0.11}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v2, namespace: default, labels: {app: reviews, version: v2}}
status: {podIP: 10.0.0.12}
"""


def endpoints(*ips, port=9080):
    addresses = "\n".join(f"  - {{ip: {ip}}}" for ip in ips)
    return f"""
apiVersion: v1
kind: Endpoints
metadata: {{name: reviews, namespace: default}}
subsets:
- addresses:
{addresses}
  ports: [{{name: http, port: {port}}}]
"""


DESTINATION_RULE = """
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"""


def virtual_service(v1, v2):
    return f"""
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {{name: reviews, namespace: default}}
spec:
  hosts: [reviews]
  http:
  - match:
    - headers: {{end-user: {{exact: jason}}}}
    fault:
      abort: {{httpStatus: 503, percentage: {{value: 50}}}}
    route:
    - destination: {{host: reviews, subset: v2}}
    retries: {{attempts: 3, perTryTimeout: 2s, retryOn: "5xx,503"}}
  - route:
    - destination: {{host: reviews, subset: v1}}
      weight: {v1}
    - destination: {{host: reviews, subset: v2}}
      weight: {v2}
    timeout: 1.5s
"""


def mesh(extra=None):
    files = {"reviews.yaml": SERVICE + "---" + PODS, "endpoints.yaml": endpoints("10.0.0.11", "10.0.0.12"),
             "dr.yaml": DESTINATION_RULE, "vs.yaml": virtual_service(80, 20)}
    files.update(extra or {})
    return files


def reviews_vhost(rds):
    return next(v for v in rds["resources"]["9080"]["virtual_hosts"] if v["name"] == f"{FQDN}:9080")


def test_bookinfo_manifests_load_with_duplicates_and_unsupported_kinds_reported(pilot):
    p = pilot({f.name: f.read_text() for f in BOOKINFO_FILES})
    reg = p.json("/debug/registryz")
    hosts = {s["hostname"] for s in reg["services"]}
    assert {f"{n}.default.svc.cluster.local" for n in ("details", "ratings", "reviews", "productpage")} <= hosts
    assert "Deployment/default/reviews-v2" in reg["not_yet_supported"]
    assert "ServiceAccount/default/bookinfo-reviews" in reg["not_yet_supported"]
    # Several sample files define VirtualService reviews: the first file loaded keeps it and the
    # error names both files.
    dup = [e for e in reg["errors"] if "VirtualService/default/reviews" in e["error"]]
    assert dup and all("virtual-service-all-v1.yaml" in e["error"] for e in dup), reg["errors"]
    assert any(e["file"] == "virtual-service-reviews-50-v3.yaml" for e in dup)
    assert "not yet supported" in p.log()


def test_malformed_file_reports_document_and_field_and_keeps_serving(pilot, ads_client):
    p = pilot(mesh())
    c = ads_client(p, "sotw", sidecar_id("10.0.0.99", "client"))
    rds = c.latest("rds")
    assert [w["weight"]["value"] for w in reviews_vhost(rds)["routes"][1]["route"]["weighted_clusters"]["clusters"]] == [80, 20]
    # Document 1 of the file has a negative weight: the whole file keeps its last good objects.
    p.write("vs.yaml", virtual_service(50, 50) + "---" + virtual_service(-1, 5).replace("name: reviews", "name: other", 1))

    def error_reported():
        errors = p.json("/debug/registryz")["errors"]
        return [e for e in errors if e["file"] == "vs.yaml"]

    from conftest import wait_until
    errors = wait_until(error_reported, 3, what="registryz error")
    assert errors[0]["error"].startswith("document 1: spec.http[1].route[0].weight: expected an unsigned integer"), errors
    # Nothing was pushed: the served routes are still 80/20.
    time.sleep(0.5)  # a push would have gone out within the debounce interval; assert none did
    c._drain()
    assert c.latest("rds")["nonce"] == rds["nonce"]
    p.write("vs.yaml", virtual_service(30, 70))
    new = c.wait_for(lambda r: r["type"] == "rds", 3)
    assert [w["weight"]["value"] for w in reviews_vhost(new)["routes"][1]["route"]["weighted_clusters"]["clusters"]] == [30, 70]
    assert not error_reported()


def test_edit_is_pushed_within_one_second_debounced(pilot, ads_client):
    p = pilot(mesh())
    c = ads_client(p, "sotw", sidecar_id("10.0.0.99", "client"))
    c.latest("rds")
    start = time.monotonic()
    p.write("vs.yaml", virtual_service(10, 90))
    r = c.wait_for(lambda r: r["type"] == "rds", 3)
    assert time.monotonic() - start < 1.0
    clusters = reviews_vhost(r)["routes"][1]["route"]["weighted_clusters"]["clusters"]
    assert [(w["name"], w["weight"]["value"]) for w in clusters] == [
        (f"outbound|9080|v1|{FQDN}", 10), (f"outbound|9080|v2|{FQDN}", 90)]
    assert p.metric('pilot_push_triggers{type="full"}') == 1


def test_endpoint_change_is_pushed_at_once_as_eds_only(pilot, ads_client):
    p = pilot(mesh())
    c = ads_client(p, "sotw", sidecar_id("10.0.0.99", "client"))
    c.latest("rds")
    c.latest("eds")
    p.write("endpoints.yaml", endpoints("10.0.0.11", "10.0.0.12", "10.0.0.13"))
    r = c.wait_for(lambda r: r["type"] == "eds", 3)
    default = r["resources"][f"outbound|9080||{FQDN}"]
    ips = [e["endpoint"]["address"]["socket_address"]["address"] for e in default["endpoints"][0]["lb_endpoints"]]
    assert ips == ["10.0.0.11", "10.0.0.12", "10.0.0.13"]
    # Subsets select by pod labels: the new address has no pod, so it is in no subset and the
    # subsets' assignments are unchanged. SotW EDS may omit unchanged resources: only one is sent.
    assert set(r["resources"]) == {f"outbound|9080||{FQDN}"}
    time.sleep(0.4)  # past the debounce interval: no other type may follow
    c._drain()
    after = c.responses[c.responses.index(r) + 1:]
    assert all(x["type"] == "eds" for x in after), after
    assert p.metric('pilot_push_triggers{type="endpoint"}') == 1
    assert p.metric('pilot_push_triggers{type="full"}') == 0


def test_sidecar_resources_are_istio_shaped(pilot, ads_client):
    p = pilot(mesh())
    # The proxy of pod reviews-v1: it gets an inbound cluster and chain for its own port.
    c = ads_client(p, "sotw", sidecar_id("10.0.0.11", "reviews-v1"))
    cds = c.latest("cds")["resources"]
    assert set(cds) == {"BlackHoleCluster", "PassthroughCluster", "inbound|9080||",
                        f"outbound|9080||{FQDN}", f"outbound|9080|v1|{FQDN}", f"outbound|9080|v2|{FQDN}"}
    assert cds[f"outbound|9080|v1|{FQDN}"]["type"] == "EDS"
    assert cds["PassthroughCluster"]["type"] == "ORIGINAL_DST"
    # Istio's inbound cluster: on to the original destination (the pod IP), from 127.0.0.6.
    inbound_cluster = cds["inbound|9080||"]
    assert inbound_cluster["type"] == "ORIGINAL_DST"
    assert inbound_cluster["lb_policy"] == "CLUSTER_PROVIDED"
    assert inbound_cluster["connect_timeout"] == {"seconds": 10}
    assert inbound_cluster["cleanup_interval"] == {"seconds": 60}
    assert inbound_cluster["upstream_bind_config"]["source_address"]["address"] == "127.0.0.6"
    limits = inbound_cluster["circuit_breakers"]["thresholds"][0]
    assert limits["max_connections"] == {"value": 4294967295} and limits["track_remaining"]
    assert "load_assignment" not in inbound_cluster
    lds = c.latest("lds")["resources"]
    assert set(lds) == {"virtualOutbound", "virtualInbound", "0.0.0.0_9080"}
    assert lds["virtualOutbound"]["address"]["socket_address"]["port_value"] == 15001
    assert lds["virtualOutbound"]["use_original_dst"]["value"] is True
    inbound = lds["virtualInbound"]
    assert inbound["address"]["socket_address"]["port_value"] == 15006
    assert inbound["filter_chains"][0]["filter_chain_match"]["destination_port"]["value"] == 9080
    hcm = lds["0.0.0.0_9080"]["filter_chains"][0]["filters"][0]["typed_config"]
    assert hcm["rds"]["route_config_name"] == "9080"
    assert [f["name"] for f in hcm["http_filters"]] == ["envoy.filters.http.cors", "envoy.filters.http.fault",
                                                   "envoy.filters.http.router"]
    vhost = reviews_vhost(c.latest("rds"))
    assert vhost["domains"] == [FQDN, f"{FQDN}:9080", "reviews", "reviews:9080", "reviews.default",
                                "reviews.default:9080", "reviews.default.svc", "reviews.default.svc:9080",
                                "10.96.0.20", "10.96.0.20:9080"]
    jason, split = vhost["routes"]
    assert jason["match"]["headers"] == [{"name": "end-user", "string_match": {"exact": "jason"}}]
    assert jason["route"]["cluster"] == f"outbound|9080|v2|{FQDN}"
    assert jason["route"]["retry_policy"]["num_retries"]["value"] == 3
    assert jason["route"]["retry_policy"]["retry_on"] == "5xx,retriable-status-codes"
    assert jason["route"]["retry_policy"]["retriable_status_codes"] == [503]
    fault = jason["typed_per_filter_config"]["envoy.filters.http.fault"]
    assert fault["abort"]["http_status"] == 503
    assert fault["abort"]["percentage"] == {"numerator": 500000, "denominator": "MILLION"}
    assert split["route"]["timeout"] == {"seconds": 1, "nanos": 500000000}


def test_nack_is_recorded_in_syncz_and_metrics(pilot, ads_client):
    p = pilot(mesh())
    node = sidecar_id("10.0.0.99", "client")
    c = ads_client(p, "sotw", node, "--nack", "cds=cluster type not supported here")
    c.latest("cds")
    from conftest import wait_until
    sync = wait_until(lambda: [s for s in p.json("/debug/syncz")
                               if s.get("cluster_nacks") and s.get("listener_acked")], 5,
                      what="NACK in syncz")[0]
    assert sync["proxy"] == node
    assert sync["cluster_nack"] == "cluster type not supported here"
    assert p.metric('pilot_total_xds_rejects{type="cds"}') >= 1
    assert p.metric('pilot_xds{version="remora"}') == 1
    dump = p.json("/debug/config_dump?proxyID=" + node)
    assert {c["name"] for c in dump["configs"]["clusters"]} >= {f"outbound|9080||{FQDN}"}
    assert p.get("/debug/config_dump?proxyID=nobody")[0] == 404
    # remoractl proxy-status reads the same page, as istioctl proxy-status does.
    r = subprocess.run([str(BUILD / "bin" / "remoractl"), "proxy-status", "--pilot-address",
                        f"127.0.0.1:{p.monitoring_port}"], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 0, r.stderr
    header, row = r.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "CDS", "LDS", "EDS", "RDS", "PROTOCOL"]
    assert row.split()[:3] == ["client.default", "NACK", "SYNCED"]
    assert "client.default NACK CDS: cluster type not supported here" in r.stdout


def test_delta_pushes_only_what_changed_and_removals(pilot, ads_client):
    p = pilot(mesh({"ratings.yaml": SERVICE.replace("reviews", "ratings").replace("10.96.0.20", "10.96.0.30")}))
    c = ads_client(p, "delta", sidecar_id("10.0.0.99", "client"))
    first_cds = c.latest("cds")
    assert f"outbound|9080||ratings.default.svc.cluster.local" in first_cds["resources"]
    c.latest("rds")
    c._drain()
    # A VirtualService change alters route config 9080 only: one RDS resource, no CDS/LDS.
    p.write("vs.yaml", virtual_service(60, 40))
    r = c.wait_for(lambda r: r["type"] == "rds", 3)
    assert list(r["resources"]) == ["9080"]
    time.sleep(0.3)
    c._drain()
    assert not [x for x in c.responses[c.responses.index(r) + 1:] if x["type"] in ("cds", "lds")]
    # Removing a service removes its clusters by name.
    (p.config_dir / "ratings.yaml").unlink()
    r = c.wait_for(lambda r: r["type"] == "cds", 3)
    assert r["removed"] == [f"outbound|9080||ratings.default.svc.cluster.local"]
    assert r["resources"] == {}


def test_reconnecting_client_resyncs(pilot, ads_client):
    p = pilot(mesh())
    node = sidecar_id("10.0.0.99", "client")
    first = ads_client(p, "sotw", node)
    first.latest("rds")
    first.close()
    from conftest import wait_until
    wait_until(lambda: p.metric('pilot_xds{version="remora"}') == 0, 5, what="disconnect")
    second = ads_client(p, "sotw", node)
    assert f"outbound|9080||{FQDN}" in second.latest("cds")["resources"]
    assert reviews_vhost(second.latest("rds"))["routes"]
