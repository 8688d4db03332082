"""remora-pilot reading a Kubernetes API server (--kube-api-server, --kubeconfig) by list + watch,
against the stand-in server pilot/kube_apiserver.py: the initial paged list, watch events pushed to
a scripted ADS client within a second, deletions, bookmarks advancing the resourceVersion the next
watch starts from, 410 Gone (as an ERROR event and as an HTTP status) relisting and converging,
the API server going away and coming back, malformed objects reported and ignored, and the
kubeconfig flags."""

import base64
import subprocess
import time

import pytest

from conftest import wait_until
from pilot.kube_apiserver import KubeApiServer
from pilot_harness import PILOT_BIN, ads_client, pilot, sidecar_id  # noqa: F401 (fixtures)

FQDN = "reviews.default.svc.cluster.local"
CLIENT = sidecar_id("10.0.0.99", "client")


@pytest.fixture
def kube():
    """kube(**options) starts a stand-in API server on loopback."""
    servers = []

    def start(**options):
        server = KubeApiServer(**options).up()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.down()


def service(name, port=9080, ip="10.96.0.20"):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"clusterIP": ip, "type": "ClusterIP", "sessionAffinity": "None", "selector": {"app": name},
                     "ports": [{"name": "http", "port": port, "protocol": "TCP", "targetPort": port}]},
            "status": {"loadBalancer": {}}}


def pod(name, ip, version):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": "reviews", "version": version}},
            "spec": {"serviceAccountName": "bookinfo-reviews", "containers": [{"name": "app", "image": "x"}]},
            "status": {"phase": "Running", "podIP": ip}}


def slice_(ips):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "reviews-abcde", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "reviews"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 9080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]}


def destination_rule():
    return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "reviews", "namespace": "default", "generation": 1},
            "spec": {"host": "reviews", "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                                                    {"name": "v2", "labels": {"version": "v2"}}]}}


def virtual_service(v1, v2):
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "reviews", "namespace": "default", "generation": 1},
            "spec": {"hosts": ["reviews"], "http": [{"route": [
                {"destination": {"host": "reviews", "subset": "v1"}, "weight": v1},
                {"destination": {"host": "reviews", "subset": "v2"}, "weight": v2}]}]}}


def bookinfo_reviews(server):
    for obj in (service("reviews"), pod("reviews-v1", "10.0.0.11", "v1"), pod("reviews-v2", "10.0.0.12", "v2"),
                slice_(["10.0.0.11", "10.0.0.12"]), destination_rule(), virtual_service(80, 20)):
        server.add(obj)


def reviews_mesh(kube, pilot, ads_client):
    """The stand-in server with reviews (service, pods, slice, DestinationRule, VirtualService
    80/20), a pilot reading it and a sidecar's ADS client: (server, pilot, client)."""
    k = kube()
    bookinfo_reviews(k)
    p = pilot(source=["--kube-api-server", k.url])
    return k, p, ads_client(p, "sotw", CLIENT)


def reviews_vhost(rds):
    return next(v for v in rds["resources"]["9080"]["virtual_hosts"] if v["name"] == f"{FQDN}:9080")


def weights(rds):
    route = reviews_vhost(rds)["routes"][0]["route"]
    if "weighted_clusters" not in route:
        return route["cluster"]
    return [w["weight"]["value"] for w in route["weighted_clusters"]["clusters"]]


def eds_ips(eds, cluster=f"outbound|9080||{FQDN}"):
    groups = eds["resources"][cluster].get("endpoints", [])
    return sorted(e["endpoint"]["address"]["socket_address"]["address"] for g in groups for e in g["lb_endpoints"])


def outbound_hosts(cds):
    return sorted(name.split("|")[3] for name in cds["resources"] if name.startswith("outbound|"))


def test_list_then_watch_events_are_pushed_and_deletions_remove(kube, pilot, ads_client):
    k = kube()
    bookinfo_reviews(k)
    k.add({"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
           "metadata": {"name": "gw", "namespace": "default"}, "spec": {"servers": []}})
    k.add({"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
           "metadata": {"name": "deny", "namespace": "default"}, "spec": {}})
    p = pilot(source=["--kube-api-server", k.url])
    # Every kind was listed in pages of 500, Istio's in the preferred version of their group.
    lists = [r for r in k.requests if r["plural"] and r["query"].get("watch") != "true"]
    assert {r["plural"] for r in lists} >= {"services", "endpoints", "pods", "serviceaccounts", "deployments",
                                            "statefulsets", "endpointslices", "virtualservices",
                                            "destinationrules", "serviceentries", "gateways", "sidecars",
                                            "authorizationpolicies", "peerauthentications"}
    assert all(r["query"]["limit"] == "500" for r in lists)
    assert k.list_requests("virtualservices")[0]["path"] == "/apis/networking.istio.io/v1/virtualservices"
    reg = p.json("/debug/registryz")
    assert {"Gateway/default/gw", "AuthorizationPolicy/default/deny"} <= set(reg["not_yet_supported"])

    c = ads_client(p, "sotw", CLIENT)
    assert weights(c.latest("rds")) == [80, 20]
    assert eds_ips(c.latest("eds")) == ["10.0.0.11", "10.0.0.12"]
    # The watches asked for bookmarks, from the lists' resourceVersion.
    w = wait_until(lambda: k.watch_requests("virtualservices"), 5, what="a watch")[0]["query"]
    assert w["allowWatchBookmarks"] == "true" and w["resourceVersion"] == str(k.rv)
    assert 300 <= int(w["timeoutSeconds"]) < 600  # jittered, as client-go's

    start = time.monotonic()
    k.modify(virtual_service(10, 90))
    rds = c.wait_for(lambda r: r["type"] == "rds", 3)
    assert time.monotonic() - start < 1.0
    assert weights(rds) == [10, 90]

    start = time.monotonic()
    k.modify(slice_(["10.0.0.11", "10.0.0.12", "10.0.0.13"]))
    eds = c.wait_for(lambda r: r["type"] == "eds", 3)
    assert time.monotonic() - start < 1.0
    assert eds_ips(eds) == ["10.0.0.11", "10.0.0.12", "10.0.0.13"]

    k.delete("VirtualService", "reviews")
    rds = c.wait_for(lambda r: r["type"] == "rds", 3)
    assert weights(rds) == f"outbound|9080||{FQDN}"
    k.delete("Service", "reviews")
    cds = c.wait_for(lambda r: r["type"] == "cds", 3)
    assert outbound_hosts(cds) == []
    assert FQDN not in {s["hostname"] for s in p.json("/debug/registryz")["services"]}


def test_bookmark_advances_the_resource_version_of_the_next_watch(kube, pilot):
    k = kube()
    k.add(service("reviews"))
    pilot(source=["--kube-api-server", k.url])
    first = wait_until(lambda: k.watch_requests("services"), 5, what="a services watch")[0]
    assert first["query"]["resourceVersion"] == "1001"
    k.add(pod("reviews-v1", "10.0.0.11", "v1"))  # the cluster's resourceVersion moves on
    k.add(pod("reviews-v2", "10.0.0.12", "v2"))
    bookmark_rv = k.bookmark("services")
    assert bookmark_rv == 1003
    k.end_watches()
    again = wait_until(lambda: k.watch_requests("services")[1:], 5, what="a second services watch")[0]
    assert again["query"]["resourceVersion"] == str(bookmark_rv)
    # An event advances it likewise: the pods watch restarts from the last pod's version.
    wait_until(lambda: k.watch_requests("pods")[-1]["query"]["resourceVersion"] == "1003", 5,
               what="the pods watch reopened from the last event's resourceVersion")


@pytest.mark.parametrize("gone_as", ["event", "status"])
def test_410_gone_relists_and_converges_without_lost_or_stale_objects(kube, pilot, ads_client, gone_as):
    k = kube(gone_as=gone_as)
    for name, ip in (("a", "10.96.0.1"), ("b", "10.96.0.2"), ("c", "10.96.0.3")):
        k.add(service(name, ip=ip))
    p = pilot(source=["--kube-api-server", k.url])
    c = ads_client(p, "sotw", CLIENT)
    wait_until(lambda: outbound_hosts(c.latest("cds")) == [f"{n}.default.svc.cluster.local" for n in "abc"], 5)
    wait_until(lambda: k.watch_requests("services"), 5, what="a services watch")
    # Changes whose events the watch never sees (compacted away), then the history expires.
    k.modify(service("b", port=9090, ip="10.96.0.2"), record=False)
    k.delete("Service", "c", record=False)
    k.add(service("d", ip="10.96.0.4"), record=False)
    k.compact()
    cds = c.wait_for(lambda r: r["type"] == "cds" and "outbound|9090||b.default.svc.cluster.local" in r["resources"], 5)
    assert sorted(n for n in cds["resources"] if n.startswith("outbound|")) == [
        "outbound|9080||a.default.svc.cluster.local", "outbound|9080||d.default.svc.cluster.local",
        "outbound|9090||b.default.svc.cluster.local"]
    assert len(k.list_requests("services")) == 2
    assert "410 Gone, relisting" in p.log()
    # The relist's resourceVersion is where the next watch starts.
    wait_until(lambda: k.watch_requests("services")[-1]["query"]["resourceVersion"] == str(k.rv), 5)


def test_error_event_other_than_410_rewatches_from_the_same_version(kube, pilot):
    k = kube()
    k.add(service("reviews"))
    p = pilot(source=["--kube-api-server", k.url])
    wait_until(lambda: k.watch_requests("services"), 5, what="a services watch")
    k.fail_watches["services"] = 2
    k.end_watches()
    # Two failed watches (backing off), then a good one; all from the list's version, no relist.
    watches = wait_until(lambda: k.watch_requests("services")[3:], 5, what="three more watches")
    assert [w["query"]["resourceVersion"] for w in k.watch_requests("services")] == ["1001"] * 4
    assert len(k.list_requests("services")) == 1
    assert "etcdserver: request timed out" in p.log()
    assert watches


def test_istio_groups_the_server_does_not_serve_are_skipped(kube, pilot):
    k = kube(istio=False)
    k.add(service("reviews"))
    p = pilot(source=["--kube-api-server", k.url])
    assert FQDN in {s["hostname"] for s in p.json("/debug/registryz")["services"]}
    assert not any(r["plural"] in ("virtualservices", "authorizationpolicies") for r in k.requests)
    assert "does not serve networking.istio.io" in p.log()


@pytest.mark.parametrize("expired_tokens", [0, 1])
def test_paged_list_follows_continue_tokens(kube, pilot, expired_tokens):
    k = kube()
    for i in range(1001):
        k.add(service(f"s{i:04}", ip=f"10.96.{i // 250}.{i % 250 + 1}"), record=False)
    # An expired continue token (410 Expired) restarts the list from its first page.
    k.expire_continues = expired_tokens
    p = pilot(source=["--kube-api-server", k.url])
    pages = [r["query"] for r in k.list_requests("services")]
    expected = [False, True, True] if not expired_tokens else [False, True, False, True, True]
    assert ["continue" in q for q in pages] == expected
    hosts = {s["hostname"] for s in p.json("/debug/registryz")["services"]}
    assert len(hosts) == 1001 and "s1000.default.svc.cluster.local" in hosts


def test_api_server_down_keeps_served_config_then_converges(kube, pilot, ads_client):
    k, p, c = reviews_mesh(kube, pilot, ads_client)
    assert weights(c.latest("rds")) == [80, 20]
    wait_until(lambda: k.watch_requests("virtualservices"), 5, what="a watch")
    k.down()
    # Once its virtualservices watch fails to reconnect, the old stream is over: the change made
    # now can only arrive through a new watch.
    wait_until(lambda: "watch virtualservices: connecting to 127.0.0.1" in p.log(), 5,
               what="a failed reconnect in the log")
    k.modify(virtual_service(30, 70))
    # Served meanwhile: the registry and the proxy's routes are unchanged.
    assert FQDN in {s["hostname"] for s in p.json("/debug/registryz")["services"]}
    c._drain()
    assert weights(c.latest("rds")) == [80, 20]
    watches_before = len(k.watch_requests("virtualservices"))
    k.up()
    rds = c.wait_for(lambda r: r["type"] == "rds", 10)
    assert weights(rds) == [30, 70]
    # It resumed the watch from where it was (the missed event replayed), without relisting.
    assert len(k.list_requests("virtualservices")) == 1
    assert len(k.watch_requests("virtualservices")) > watches_before


def test_malformed_object_is_reported_and_ignored(kube, pilot, ads_client):
    k, p, c = reviews_mesh(kube, pilot, ads_client)
    rds = c.latest("rds")
    k.modify(virtual_service(-1, 20))

    def errors():
        return [e for e in p.json("/debug/registryz")["errors"] if e["file"] == "VirtualService default/reviews"]

    found = wait_until(errors, 3, what="registryz error")
    assert found[0]["error"].startswith("spec.http[0].route[0].weight: expected an unsigned integer"), found
    assert "VirtualService default/reviews: spec.http[0].route[0].weight" in p.log()
    time.sleep(0.5)  # a push would have gone out within the debounce interval; assert none did
    c._drain()
    assert c.latest("rds")["nonce"] == rds["nonce"]
    k.modify(virtual_service(40, 60))
    assert weights(c.wait_for(lambda r: r["type"] == "rds", 3)) == [40, 60]
    assert not errors()


def kubeconfig(tmp_path, cluster, user):
    """A kubeconfig file whose current context uses `cluster` and `user` (flow-style fields)."""
    path = tmp_path / "kubeconfig"
    path.write_text(f"""
apiVersion: v1
kind: Config
current-context: test
contexts:
- {{name: test, context: {{cluster: local, user: pilot}}}}
clusters:
- {{name: local, cluster: {{{cluster}}}}}
users:
- {{name: pilot, user: {{{user}}}}}
""")
    return path


def test_kubeconfig_server_and_bearer_token(kube, pilot, tmp_path):
    k = kube(token="s3cret")
    k.add(service("reviews"))
    (tmp_path / "token").write_text("s3cret\n")
    config = kubeconfig(tmp_path, f'server: "{k.url}"', "tokenFile: token")
    p = pilot(source=["--kubeconfig", str(config)])
    assert FQDN in {s["hostname"] for s in p.json("/debug/registryz")["services"]}
    assert all(r["authorization"] == "Bearer s3cret" for r in k.requests)


def self_signed(tmp_path, name, san):
    """(cert, key) paths of a fresh self-signed certificate for `san` (e.g. IP:127.0.0.1)."""
    cert, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "1", "-subj", f"/CN={name}", "-addext", f"subjectAltName={san}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def test_https_with_kubeconfig_ca_and_client_certificate(kube, pilot, tmp_path):
    server_cert, server_key = self_signed(tmp_path, "apiserver", "IP:127.0.0.1")
    client_cert, client_key = self_signed(tmp_path, "pilot", "DNS:pilot")
    k = kube(tls=(server_cert, server_key, client_cert))
    k.add(service("reviews"))
    ca_data = base64.b64encode(server_cert.read_bytes()).decode()
    key_data = base64.b64encode(client_key.read_bytes()).decode()
    config = kubeconfig(tmp_path, f'server: "{k.url}", certificate-authority-data: {ca_data}',
                        f"client-certificate: pilot.crt, client-key-data: {key_data}")
    p = pilot(source=["--kubeconfig", str(config)])
    assert FQDN in {s["hostname"] for s in p.json("/debug/registryz")["services"]}
    assert k.requests and all(r["client_cert"] for r in k.requests)
    # A server certificate that is not the configured CA's is refused (and logged as such).
    other_cert, _ = self_signed(tmp_path, "other", "IP:127.0.0.1")
    config.write_text(config.read_text().replace(ca_data, base64.b64encode(other_cert.read_bytes()).decode()))
    proc = subprocess.Popen([str(PILOT_BIN), "--kubeconfig", str(config), "--grpcAddr", "127.0.0.1:0",
                             "--monitoringAddr", "127.0.0.1:0"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        while line and "TLS handshake" not in line:
            line = proc.stderr.readline()
        assert "certificate verify failed" in line, line
    finally:
        proc.kill()
        proc.wait(5)
        proc.stderr.close()


def run_pilot(*args):
    return subprocess.run([str(PILOT_BIN), *args], capture_output=True, text=True, timeout=10)


def test_source_flags_are_validated(tmp_path):
    config = tmp_path / "kubeconfig"
    config.write_text("""
current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://10.0.0.1:6443"}}]
users: [{name: u, user: {exec: {command: aws}}}]
""")
    r = run_pilot("--kubeconfig", str(config))
    assert r.returncode == 2
    assert "users[0].user.exec: not supported by remora-pilot" in r.stderr, r.stderr
    r = run_pilot("--kube-api-server", "unix:///run/k8s.sock")
    assert r.returncode == 2 and "expected an http:// or https:// URL" in r.stderr, r.stderr
    r = run_pilot("--config-dir", str(tmp_path), "--kube-api-server", "http://127.0.0.1:1")
    assert r.returncode == 2 and "exactly one of --config-dir, --kubeconfig and --kube-api-server" in r.stderr
