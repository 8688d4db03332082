"""remora-pilot's VirtualService and Sidecar translation as a scripted ADS client receives it:
several VirtualServices for one host merged oldest first (gateway-only and unexported ones left
out), delegates, sourceLabels per proxy, `tcp`/`tls` routes as filter chains, and Sidecar egress
scoping with its outbound traffic policy, including a live edit of the Sidecar."""

from conftest import wait_until
from pilot_harness import ads_client, pilot, sidecar_id  # noqa: F401 (fixtures)

FQDN = "reviews.default.svc.cluster.local"
DB = "db.data.svc.cluster.local"

MESH = """
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  clusterIP: 10.96.0.20
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: data}
spec:
  clusterIP: 10.96.0.30
  ports: [{name: tcp-db, port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: shop}
spec:
  clusterIP: 10.96.0.40
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client-v1, namespace: default, labels: {app: client, version: v1}}
status: {podIP: 10.0.0.21}
---
apiVersion: v1
kind: Pod
metadata: {name: client-v2, namespace: default, labels: {app: client, version: v2}}
status: {podIP: 10.0.0.22}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db, namespace: data}
spec:
  host: db
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
"""


def vhost(rds, name=FQDN, port=9080):
    return next(v for v in rds["resources"][str(port)]["virtual_hosts"] if v["name"] == f"{name}:{port}")


def route_names(rds):
    return [r.get("name") for r in vhost(rds)["routes"]]


def client(pilot_proc, ads_client, pod="client-v1", ip="10.0.0.21", ns="default", mode="sotw"):
    return ads_client(pilot_proc, mode, sidecar_id(ip, pod, ns))


def test_virtual_services_for_one_host_merge_oldest_first(pilot, ads_client):
    p = pilot({"mesh.yaml": MESH, "vs.yaml": """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: newer, namespace: default, creationTimestamp: "2025-03-01T00:00:00Z"}
spec:
  hosts: [reviews]
  http:
  - {name: newer, match: [{uri: {prefix: /new}}], route: [{destination: {host: reviews, subset: v2}}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: older, namespace: default, creationTimestamp: "2025-01-01T00:00:00Z"}
spec:
  hosts: [reviews]
  http:
  - {name: older, match: [{uri: {prefix: /old}}], route: [{destination: {host: reviews, subset: v1}}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge, namespace: default}
spec:
  hosts: [reviews]
  gateways: [istio-system/ingressgateway]
  http: [{name: edge, route: [{destination: {host: reviews}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: private, namespace: shop}
spec:
  hosts: [reviews.default.svc.cluster.local]
  exportTo: ["."]
  http: [{name: private, route: [{destination: {host: reviews.default.svc.cluster.local}}]}]
"""})
    c = client(p, ads_client)
    rds = c.latest("rds")
    assert route_names(rds) == ["older", "newer"]
    assert vhost(rds)["routes"][0]["route"]["cluster"] == f"outbound|9080|v1|{FQDN}"
    # A proxy in shop also gets shop's private VirtualService (no timestamp: oldest).
    shop = client(p, ads_client, pod="x", ip="10.0.9.1", ns="shop")
    assert route_names(shop.latest("rds")) == ["private", "older", "newer"]


ROOT_VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - name: api
    match: [{uri: {prefix: /api}}]
    delegate: {name: reviews-api, namespace: team}
  - {name: rest, route: [{destination: {host: reviews}}]}
"""

DELEGATE_VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-api, namespace: team}
spec:
  http:
  - name: v2
    match: [{uri: {prefix: /api/v2}, headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews.default.svc.cluster.local, subset: v2}}]
  - name: elsewhere
    match: [{uri: {prefix: /static}}]
    route: [{destination: {host: reviews.default.svc.cluster.local}}]
  - name: v1
    route: [{destination: {host: reviews.default.svc.cluster.local, subset: v1}}]
"""


def test_delegate_routes_are_merged_under_the_root_match(pilot, ads_client):
    p = pilot({"mesh.yaml": MESH, "vs.yaml": ROOT_VS, "delegate.yaml": DELEGATE_VS})
    c = client(p, ads_client, mode="delta")
    rds = c.latest("rds")
    # /static is not under /api: that delegate route does not apply.
    assert route_names(rds) == ["api-v2", "api-v1", "rest"]
    v2, v1, _ = vhost(rds)["routes"]
    assert v2["match"]["prefix"] == "/api/v2"
    assert v2["match"]["headers"] == [{"name": "end-user", "string_match": {"exact": "jason"}}]
    assert v2["route"]["cluster"] == f"outbound|9080|v2|{FQDN}"
    assert v1["match"]["prefix"] == "/api"
    # Editing the delegate alone changes the root's routes.
    p.write("delegate.yaml", """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-api, namespace: team}
spec:
  http: [{name: only, route: [{destination: {host: reviews.default.svc.cluster.local}}]}]
""")
    r = c.wait_for(lambda r: r["type"] == "rds" and route_names(r) == ["api-only", "rest"], 5,
                   what="delegate edit")
    assert vhost(r)["routes"][0]["route"]["cluster"] == f"outbound|9080||{FQDN}"


def test_source_labels_give_each_workload_its_routes(pilot, ads_client):
    p = pilot({"mesh.yaml": MESH, "vs.yaml": """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - name: canary-callers
    match: [{sourceLabels: {version: v2}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - {name: everyone, route: [{destination: {host: reviews, subset: v1}}]}
"""})
    v1 = client(p, ads_client, pod="client-v1", ip="10.0.0.21")
    v2 = client(p, ads_client, pod="client-v2", ip="10.0.0.22")
    assert route_names(v1.latest("rds")) == ["everyone"]
    assert route_names(v2.latest("rds")) == ["canary-callers", "everyone"]


def test_tcp_and_tls_routes_become_filter_chains(pilot, ads_client):
    p = pilot({"mesh.yaml": MESH, "vs.yaml": """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db, namespace: data}
spec:
  hosts: [db]
  tls:
  - match: [{sniHosts: [primary.db.example], port: 5432}]
    route: [{destination: {host: db, subset: v1}}]
  tcp:
  - match: [{port: 5432}]
    route:
    - {destination: {host: db, subset: v1}, weight: 90}
    - {destination: {host: db, subset: v2}, weight: 10}
"""})
    c = client(p, ads_client)
    listener = c.latest("lds")["resources"]["10.96.0.30_5432"]
    assert [f["name"] for f in listener["listener_filters"]] == ["envoy.filters.listener.tls_inspector"]
    sni, split = listener["filter_chains"]
    assert sni["filter_chain_match"]["server_names"] == ["primary.db.example"]
    assert sni["filters"][0]["typed_config"]["cluster"] == f"outbound|5432|v1|{DB}"
    assert "filter_chain_match" not in split  # the port-only tcp match catches the rest
    weighted = split["filters"][0]["typed_config"]["weighted_clusters"]["clusters"]
    assert [(w["name"], w["weight"]) for w in weighted] == [
        (f"outbound|5432|v1|{DB}", 90), (f"outbound|5432|v2|{DB}", 10)]
    assert {f"outbound|5432|v1|{DB}", f"outbound|5432|v2|{DB}"} <= set(c.latest("cds")["resources"])


SIDECAR = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: default, namespace: {ns}}}
spec:
  egress: [{{hosts: [{hosts}]}}]
  {policy}
"""


def test_sidecar_scopes_what_each_proxy_receives_and_follows_edits(pilot, ads_client):
    p = pilot({"mesh.yaml": MESH,
               "sidecar.yaml": SIDECAR.format(ns="istio-system", hosts='"./*", "data/*"',
                                              policy="outboundTrafficPolicy: {mode: REGISTRY_ONLY}")})
    c = client(p, ads_client, mode="delta")
    assert set(c.latest("cds")["resources"]) == {
        "BlackHoleCluster", "PassthroughCluster", f"outbound|9080||{FQDN}",
        f"outbound|9080|v1|{FQDN}", f"outbound|9080|v2|{FQDN}", f"outbound|5432||{DB}",
        f"outbound|5432|v1|{DB}", f"outbound|5432|v2|{DB}"}
    lds = c.latest("lds")["resources"]
    assert set(lds) == {"virtualOutbound", "virtualInbound", "0.0.0.0_9080", "10.96.0.30_5432"}
    chain = lds["virtualOutbound"]["filter_chains"][0]
    assert chain["name"] == "virtualOutbound-blackhole"
    assert chain["filters"][0]["typed_config"]["cluster"] == "BlackHoleCluster"
    rds = c.latest("rds")["resources"]["9080"]
    assert [v["name"] for v in rds["virtual_hosts"]] == [f"{FQDN}:9080", "block_all"]
    assert rds["virtual_hosts"][1]["routes"][0]["direct_response"]["status"] == 502
    # A proxy in shop gets its own namespace instead of default.
    shop = client(p, ads_client, pod="x", ip="10.0.9.1", ns="shop")
    assert "outbound|9080||ratings.shop.svc.cluster.local" in shop.latest("cds")["resources"]
    assert f"outbound|9080||{FQDN}" not in shop.latest("cds")["resources"]

    # default's own Sidecar (ALLOW_ANY, only db) takes over from the root one: reviews' clusters
    # are removed and unknown destinations pass through again.
    p.write("default.yaml", SIDECAR.format(ns="default", hosts='"data/db.data.svc.cluster.local"',
                                           policy="outboundTrafficPolicy: {mode: ALLOW_ANY}"))
    removed = c.wait_for(lambda r: r["type"] == "cds" and r["removed"], 5, what="cds removal")
    assert set(removed["removed"]) == {f"outbound|9080||{FQDN}", f"outbound|9080|v1|{FQDN}",
                                       f"outbound|9080|v2|{FQDN}"}

    def lds_update():
        c._drain()
        return [r for r in c.responses if r["type"] == "lds" and "0.0.0.0_9080" in r["removed"]]

    lds = wait_until(lds_update, 5, what="lds update")[0]
    chain = lds["resources"]["virtualOutbound"]["filter_chains"][0]
    assert chain["filters"][0]["typed_config"]["cluster"] == "PassthroughCluster"


def test_sidecar_ingress_is_accepted_and_listed_as_not_yet_supported(pilot, ads_client):
    p = pilot({"mesh.yaml": MESH, "sidecar.yaml": """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: with-ingress, namespace: default}
spec:
  ingress: [{port: {number: 9080, protocol: HTTP, name: http}, defaultEndpoint: "127.0.0.1:9080"}]
  egress: [{hosts: ["./*"]}]
"""})
    assert "Sidecar/default/with-ingress" in p.json("/debug/registryz")["not_yet_supported"]
    # Its egress still applies: db in data is out of scope.
    c = client(p, ads_client)
    assert f"outbound|5432||{DB}" not in c.latest("cds")["resources"]
    assert "not yet supported" in p.log()
