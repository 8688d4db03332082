"""`remoractl proxy-config`: istioctl's tables (listeners, routes, clusters, endpoints) and raw
config-dump sections, read from a real remora's admin API."""
import json
import subprocess

from conftest import BUILD, bootstrap, free_ports, static_cluster, tcp_listener
from http_harness import http_listener, route, vhost

REMORACTL = BUILD / "bin" / "remoractl"
REVIEWS_V1 = "outbound|9080|v1|reviews.default.svc.cluster.local"


def proxy_config(*args):
    r = subprocess.run([str(REMORACTL), "proxy-config", *args], capture_output=True, text=True,
                       timeout=20)
    return r.returncode, r.stdout, r.stderr


def rows(table):
    lines = table.strip().splitlines()
    return [line.split() for line in lines[1:]], lines[0].split()


def istio_like(remora):
    admin, http_port, tcp_port, backend = free_ports(4)
    routes = {"name": "9080", "virtual_hosts": [vhost(
        "reviews.default.svc.cluster.local:9080",
        domains=["reviews.default.svc.cluster.local", "reviews", "reviews.default"],
        routes=[route({"prefix": "/"}, weighted_clusters={"clusters": [
            {"name": REVIEWS_V1, "weight": 80},
            {"name": "outbound|9080|v2|reviews.default.svc.cluster.local", "weight": 20}]})])]}
    listeners = [http_listener("0.0.0.0_9080", http_port, routes),
                 tcp_listener("0.0.0.0_3306", tcp_port, "outbound|3306||mysql.default.svc.cluster.local")]
    clusters = [static_cluster(REVIEWS_V1, [backend]),
                static_cluster("outbound|9080|v2|reviews.default.svc.cluster.local", [backend + 1]),
                static_cluster("outbound|3306||mysql.default.svc.cluster.local", [backend + 2]),
                static_cluster("PassthroughCluster", [backend])]
    return remora(bootstrap(listeners, clusters, admin)), admin, http_port


def test_tables_follow_istioctl(remora):
    _, admin, http_port = istio_like(remora)
    address = ["--admin-address", f"127.0.0.1:{admin}"]
    rc, out, err = proxy_config("listeners", *address)
    assert rc == 0, err
    listeners, header = rows(out)
    assert header == ["NAME", "ADDRESS", "PORT", "MATCH", "DESTINATION"]
    assert ["0.0.0.0_9080", "127.0.0.1", str(http_port), "ALL", "Inline", "Route:", "9080"] in listeners
    assert any(r[0] == "0.0.0.0_3306" and r[-1] == "outbound|3306||mysql.default.svc.cluster.local"
               for r in listeners)

    rc, out, _ = proxy_config("routes", *address)
    routes, _ = rows(out)
    assert routes == [["9080", "reviews.default.svc.cluster.local:9080",
                       "reviews.default.svc.cluster.local", "+", "2", "more...", "/*",
                       f"{REVIEWS_V1}=80,outbound|9080|v2|reviews.default.svc.cluster.local=20"]]

    rc, out, _ = proxy_config("clusters", *address)
    clusters, header = rows(out)
    assert header == ["SERVICE", "FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE"]
    assert ["reviews.default.svc.cluster.local", "9080", "v1", "outbound", "STATIC"] in clusters
    assert ["mysql.default.svc.cluster.local", "3306", "-", "outbound", "STATIC"] in clusters
    assert ["PassthroughCluster", "-", "-", "-", "STATIC"] in clusters

    rc, out, _ = proxy_config("endpoints", *address)
    endpoints, header = rows(out)
    assert header == ["ENDPOINT", "STATUS", "OUTLIER", "CHECK", "CLUSTER"]
    assert len(endpoints) == 4 and all(e[1:3] == ["HEALTHY", "OK"] for e in endpoints)


def test_json_is_the_config_dump_section(remora):
    _, admin, _ = istio_like(remora)
    rc, out, err = proxy_config("clusters", "--admin-address", f"127.0.0.1:{admin}", "-o", "json")
    assert rc == 0, err
    section = json.loads(out)
    assert section["@type"].endswith("ClustersConfigDump")
    assert {c["cluster"]["name"] for c in section["static_clusters"]} >= {REVIEWS_V1}
    rc, out, _ = proxy_config("bootstrap", "--admin-address", f"127.0.0.1:{admin}")
    assert json.loads(out)["admin"]["address"]["socket_address"]["port_value"] == admin


def test_usage_errors():
    assert proxy_config("listeners")[0] == 2
    assert proxy_config("secrets", "x")[0] == 2
    rc, _, err = proxy_config("listeners", "no-such-pod")
    assert rc == 1 and "no pod no-such-pod" in err
