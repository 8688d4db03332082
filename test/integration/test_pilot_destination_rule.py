"""remora-pilot's DestinationRule translation end to end: a remora sidecar bootstrapped to
remora-pilot over ADS sends real requests through the clusters and routes it gets — consistent
hashing keeps a header's (then, after an edit, a cookie's) requests on one backend — and a
scripted ADS client sees portLevelSettings, subset policies, connectionPool HTTP options and the
namespace/exportTo lookup as Istio produces them."""

from conftest import bootstrap, curl, free_ports, wait_until
from http_harness import hcm
from pilot_harness import ads_client, pilot, sidecar_id  # noqa: F401 (fixtures)
from xds_harness import ads_dynamic_resources, xds_cluster

FQDN = "reviews.default.svc.cluster.local"
ADS = {"ads": {}, "resource_api_version": "V3"}


def service_files(backends, rule):
    """reviews:9080 served by `backends` (each its own endpoint group: one port per backend)."""
    groups = "\n".join(f"- addresses: [{{ip: {b.host}}}]\n  ports: [{{name: http, port: {b.port}}}]"
                       for b in backends)
    return {
        "reviews.yaml": """
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  clusterIP: 10.96.0.20
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: reviews, namespace: default}
subsets:
""" + groups + "\n",
        "dr.yaml": rule,
    }


def hash_rule(hash_key):
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: reviews, namespace: default}}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer:
      consistentHash: {hash_key}
"""


def sidecar(remora, p):
    """remora with CDS and RDS route "9080" from remora-pilot, its HTTP listener on a free port
    (standing in for the captured 0.0.0.0_9080)."""
    listener_port, admin_port = free_ports(2)
    manager = hcm({})
    del manager["typed_config"]["route_config"]
    manager["typed_config"]["rds"] = {"route_config_name": "9080", "config_source": ADS}
    listener = {"name": "reviews_9080",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": listener_port}},
                "filter_chains": [{"filters": [manager]}]}
    dynamic = ads_dynamic_resources()
    dynamic["cds_config"] = ADS
    cfg = bootstrap([listener], [xds_cluster(p.xds_port)], admin_port, dynamic_resources=dynamic,
                    node={"id": sidecar_id("127.0.0.99", "client"), "cluster": "client.default"})
    return remora(cfg), listener_port


def backend_for(port, headers):
    r = curl(f"http://127.0.0.1:{port}/", headers={"Host": "reviews:9080", **headers})
    assert r is not None and r.status == 200, r
    return r.headers["x-backend"], r


def test_consistent_hash_keeps_a_header_then_a_cookie_on_one_backend(remora, pilot, http_backends):
    b1, b2 = http_backends("b1"), http_backends("b2")
    p = pilot(service_files([b1, b2], hash_rule("{httpHeaderName: x-user}")))
    proxy, port = sidecar(remora, p)
    cluster = f"outbound|9080||{FQDN}"
    # Both endpoints are in before hashing is judged.
    wait_until(lambda: proxy.stat(f"cluster.{cluster}.membership_total") == 2, 10, what="2 endpoints")

    owners = {}
    for user in (f"user-{i}" for i in range(24)):
        seen = {backend_for(port, {"x-user": user})[0] for _ in range(5)}
        assert len(seen) == 1, f"{user} went to {seen}"
        owners[user] = seen.pop()
    # The ring spreads users over both backends (24 users on one of two: p = 2^-23).
    assert set(owners.values()) == {"b1", "b2"}, owners

    # Editing the rule to hash a cookie: remora now issues the cookie on the first answer, and
    # requests carrying it stay on one backend.
    p.write("dr.yaml", hash_rule("{httpCookie: {name: session, path: /, ttl: 60s}}"))

    def cookie_issued():
        _, r = backend_for(port, {})
        return r.headers.get("set-cookie")

    set_cookie = wait_until(cookie_issued, 5, what="Set-Cookie from the cookie hash policy")
    assert set_cookie.startswith("session=") and "Path=/" in set_cookie, set_cookie
    assert "Max-Age=60" in set_cookie, set_cookie
    cookie = set_cookie.split(";")[0]
    seen = {backend_for(port, {"Cookie": cookie, "x-user": f"user-{i}"})[0] for i in range(10)}
    assert len(seen) == 1, seen


def test_connection_pool_limits_requests_per_connection_and_idles_out(remora, pilot, http_backends):
    b = http_backends("b")
    rule = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  trafficPolicy:
    connectionPool: {http: {maxRequestsPerConnection: 2, idleTimeout: 300ms}}
"""
    p = pilot(service_files([b], rule))
    proxy, port = sidecar(remora, p)
    cluster = f"outbound|9080||{FQDN}"
    for _ in range(6):
        backend_for(port, {})
    # Two requests per upstream connection: six requests took three connections.
    assert len({r["peer_port"] for r in b.requests}) == 3, b.requests
    assert proxy.stat(f"cluster.{cluster}.upstream_cx_max_requests") == 3
    # And an idle upstream connection is closed after 300 ms.
    backend_for(port, {})
    proxy.wait_stat(f"cluster.{cluster}.upstream_cx_idle_timeout", lambda v: v >= 1, timeout=5)


MESH = """
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  clusterIP: 10.96.0.20
  ports: [{name: http, port: 9080}, {name: http-admin, port: 9081}]
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1, namespace: default, labels: {app: reviews, version: v1}}
status: {podIP: 10.0.0.11}
"""

RULES = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  exportTo: ["."]
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    connectionPool:
      http: {idleTimeout: 5s, maxRequestsPerConnection: 100}
    portLevelSettings:
    - port: {number: 9081}
      loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 65537}}}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      loadBalancer: {consistentHash: {httpQueryParameterName: user, ringHash: {minimumRingSize: 2048}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-mesh, namespace: istio-system}
spec:
  host: "*.svc.cluster.local"
  trafficPolicy: {loadBalancer: {simple: RANDOM}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews, subset: v1}}]
"""


def test_scripted_sidecars_see_merged_policies_per_namespace(pilot, ads_client):
    p = pilot({"mesh.yaml": MESH, "rules.yaml": RULES})
    c = ads_client(p, "sotw", sidecar_id("10.0.0.99", "client"))
    cds = c.latest("cds")["resources"]
    main = cds[f"outbound|9080||{FQDN}"]
    assert main.get("lb_policy", "ROUND_ROBIN") == "ROUND_ROBIN"  # proto3 JSON omits the default
    options = main["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]["common_http_protocol_options"]
    assert options["idle_timeout"] == {"seconds": 5}
    assert options["max_requests_per_connection"] == {"value": 100}
    admin = cds[f"outbound|9081||{FQDN}"]
    assert admin["lb_policy"] == "MAGLEV" and admin["maglev_lb_config"]["table_size"] == {"value": 65537}
    assert "typed_extension_protocol_options" not in admin  # port-level settings do not inherit
    v1 = cds[f"outbound|9080|v1|{FQDN}"]
    assert v1["lb_policy"] == "RING_HASH"
    assert v1["ring_hash_lb_config"]["minimum_ring_size"] == {"value": 2048}
    assert "typed_extension_protocol_options" in v1  # the subset keeps the top-level pool
    rds = c.latest("rds")["resources"]
    vhost = next(v for v in rds["9080"]["virtual_hosts"] if v["name"] == f"{FQDN}:9080")
    assert vhost["routes"][0]["route"]["hash_policy"] == [{"query_parameter": {"name": "user"}}]
    admin_vhost = next(v for v in rds["9081"]["virtual_hosts"] if v["name"] == f"{FQDN}:9081")
    # The destination names no port: the subset's hash wins over the port-level one (Istio).
    assert admin_vhost["routes"][0]["route"]["cluster"] == f"outbound|9081|v1|{FQDN}"
    assert admin_vhost["routes"][0]["route"]["hash_policy"] == [{"query_parameter": {"name": "user"}}]

    # The rule is exported to its own namespace only: a proxy elsewhere gets the root namespace's.
    other = ads_client(p, "sotw", sidecar_id("10.0.1.5", "client", "shop"))
    other_cds = other.latest("cds")["resources"]
    assert other_cds[f"outbound|9080||{FQDN}"]["lb_policy"] == "RANDOM"
    assert f"outbound|9080|v1|{FQDN}" not in other_cds
