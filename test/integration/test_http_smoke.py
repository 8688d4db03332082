"""The HTTP connection manager and router end to end: a request through remora reaches a real
HTTP/1.1 backend, keep-alive reuses the upstream connection, and the stats count it."""

import json

from conftest import bootstrap, curl, free_ports, static_cluster
from http_harness import http_listener, route, vhost


def test_request_reaches_backend_and_is_counted(remora, http_backends):
    backend = http_backends("b1")
    listener_port, admin_port = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="b1")])]}
    proc = remora(bootstrap([http_listener("http", listener_port, rc)],
                            [static_cluster("b1", [backend.port])], admin_port))
    for i in range(3):
        resp = curl(f"http://127.0.0.1:{listener_port}/hello/{i}")
        assert resp is not None and resp.status == 200, resp
        seen = json.loads(resp.body)
        assert seen["path"] == f"/hello/{i}"
        assert seen["headers"]["x-forwarded-proto"] == "http"
        assert len(seen["headers"]["x-request-id"]) == 36
        assert resp.headers["server"] == "envoy"
        assert "x-envoy-upstream-service-time" in resp.headers
    stats = proc.stats()
    assert stats["http.ingress_http.downstream_rq_2xx"] == 3
    assert stats["cluster.b1.upstream_rq_200"] == 3
    # curl opens a new downstream connection each time; the upstream one is pooled and reused.
    assert stats["cluster.b1.upstream_cx_total"] == 1
