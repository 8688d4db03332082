"""envoy.filters.http.cors end to end: preflights answered by remora (allowed and denied),
credentials and expose headers on actual requests, a route that disables the policy, shadow mode
(counted, not enforced) and forwarding of preflights from origins the policy does not allow."""

import json

import pytest

from conftest import bootstrap, curl, free_ports, run_remora, static_cluster
from http_harness import http_listener, route, vhost

CORS_TYPE = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"
POLICY_TYPE = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy"
OK = "https://ok.example"
EVIL = "https://evil.example"


def policy(**fields):
    return {"envoy.filters.http.cors": dict({"@type": POLICY_TYPE}, **fields)}


@pytest.fixture
def cors_proxy(remora, http_backends):
    backend = http_backends("app")
    port, admin = free_ports(2)
    vh_policy = policy(allow_origin_string_match=[{"exact": OK}], allow_methods="GET, POST",
                       allow_headers="x-custom", max_age="600", expose_headers="x-exposed",
                       allow_credentials=True, forward_not_matching_preflights=False)
    off = {"default_value": {"numerator": 0}}
    routes = [
        route({"prefix": "/disabled"}, "app", typed_per_filter_config=policy(filter_enabled=off)),
        route({"prefix": "/shadow"}, "app", typed_per_filter_config=policy(
            filter_enabled=off, shadow_enabled={"default_value": {"numerator": 100}})),
        route({"prefix": "/forward"}, "app",
              typed_per_filter_config=policy(forward_not_matching_preflights=True)),
        route({"prefix": "/"}, "app"),
    ]
    rc = {"virtual_hosts": [vhost(routes=routes, typed_per_filter_config=vh_policy)]}
    filters = [{"name": "envoy.filters.http.cors", "typed_config": {"@type": CORS_TYPE}}]
    proc = remora(bootstrap([http_listener("http", port, rc, filters)], [static_cluster("app", [backend.port])],
                            admin))
    return proc, port, backend


def preflight(port, path, origin, method="POST", headers=()):
    resp = curl(f"http://127.0.0.1:{port}{path}", method="OPTIONS",
                headers=[f"Origin: {origin}", f"Access-Control-Request-Method: {method}", *headers])
    assert resp is not None
    return resp


def test_allowed_preflight_is_answered_by_remora(cors_proxy):
    proc, port, backend = cors_proxy
    resp = preflight(port, "/api", OK, headers=["Access-Control-Request-Headers: x-custom"])
    assert resp.status == 200, resp
    assert resp.headers["access-control-allow-origin"] == OK
    assert resp.headers["access-control-allow-methods"] == "GET, POST"
    assert resp.headers["access-control-allow-headers"] == "x-custom"
    assert resp.headers["access-control-max-age"] == "600"
    assert resp.headers["access-control-allow-credentials"] == "true"
    assert resp.headers["content-length"] == "0"
    assert backend.requests == []
    stats = proc.stats()
    assert stats["http.ingress_http.cors.origin_valid"] == 1
    assert stats["http.ingress_http.cors.origin_invalid"] == 0
    assert stats["http.ingress_http.downstream_rq_2xx"] == 1


def test_denied_preflight_gets_no_allow_origin_and_stays_local(cors_proxy):
    proc, port, backend = cors_proxy
    resp = preflight(port, "/api", EVIL)
    assert resp.status == 200, resp
    assert "access-control-allow-origin" not in resp.headers
    assert backend.requests == []
    assert proc.stats()["http.ingress_http.cors.origin_invalid"] == 1


def test_actual_request_gets_origin_credentials_and_expose_headers(cors_proxy):
    proc, port, backend = cors_proxy
    resp = curl(f"http://127.0.0.1:{port}/api/items", headers=[f"Origin: {OK}"])
    assert resp.status == 200, resp
    assert json.loads(resp.body)["headers"]["origin"] == OK  # the request went upstream
    assert resp.headers["access-control-allow-origin"] == OK
    assert resp.headers["access-control-allow-credentials"] == "true"
    assert resp.headers["access-control-expose-headers"] == "x-exposed"
    assert "access-control-allow-methods" not in resp.headers

    resp = curl(f"http://127.0.0.1:{port}/api/items", headers=[f"Origin: {EVIL}"])
    assert resp.status == 200, resp
    assert "access-control-allow-origin" not in resp.headers
    assert "access-control-expose-headers" not in resp.headers
    # Without an Origin there is nothing to count.
    resp = curl(f"http://127.0.0.1:{port}/api/items")
    assert resp.status == 200 and "access-control-allow-origin" not in resp.headers
    stats = proc.stats()
    assert stats["http.ingress_http.cors.origin_valid"] == 1
    assert stats["http.ingress_http.cors.origin_invalid"] == 1
    assert len(backend.requests) == 3


def test_route_disables_the_policy(cors_proxy):
    proc, port, backend = cors_proxy
    resp = preflight(port, "/disabled", OK)
    assert resp.status == 200, resp
    assert "access-control-allow-origin" not in resp.headers
    assert [r["method"] for r in backend.requests] == ["OPTIONS"]
    stats = proc.stats()
    assert stats["http.ingress_http.cors.origin_valid"] == 0


def test_shadow_mode_counts_but_does_not_enforce(cors_proxy):
    proc, port, backend = cors_proxy
    assert preflight(port, "/shadow", OK).status == 200
    resp = curl(f"http://127.0.0.1:{port}/shadow", headers=[f"Origin: {EVIL}"])
    assert resp.status == 200
    assert "access-control-allow-origin" not in resp.headers
    assert [r["method"] for r in backend.requests] == ["OPTIONS", "GET"]
    stats = proc.stats()
    assert stats["http.ingress_http.cors.origin_valid"] == 1
    assert stats["http.ingress_http.cors.origin_invalid"] == 1


def test_preflight_from_other_origin_is_forwarded_when_configured(cors_proxy):
    proc, port, backend = cors_proxy
    resp = preflight(port, "/forward", EVIL)
    assert resp.status == 200
    assert resp.headers["x-backend"] == "app"
    assert "access-control-allow-origin" not in resp.headers
    assert [r["method"] for r in backend.requests] == ["OPTIONS"]
    # An allowed origin on the same route is still answered by remora.
    resp = preflight(port, "/forward", OK)
    assert resp.headers["access-control-allow-origin"] == OK
    assert "x-backend" not in resp.headers
    assert len(backend.requests) == 1


def test_deprecated_route_cors_is_rejected(tmp_path):
    port, = free_ports(1)
    rc = {"virtual_hosts": [vhost(routes=[route({"prefix": "/"}, "app", cors={})])]}
    path = tmp_path / "cors.yaml"
    path.write_text(json.dumps(bootstrap([http_listener("http", port, rc)], [static_cluster("app", [port])])))
    result = run_remora(["--mode", "validate", "-c", str(path)])
    assert result.returncode != 0
    assert "not supported by remora: " in result.stderr + result.stdout
    assert "virtual_hosts[0].routes[0].route.cors" in result.stderr + result.stdout
