"""Route actions end to end against real backends: cluster choice (weighted_clusters within
statistical bounds, cluster_header), path and host rewrites, redirects (every RedirectAction
field), direct responses, and request/response header mutations at the three levels."""

import json

import pytest

from conftest import bootstrap, curl, free_ports, static_cluster
from http_harness import (cluster_with_hostnames, file_access_log, http_listener, route, run_hey,
                          vhost, wait_log_lines)


def start(remora, clusters, route_config, access_log=None, **hcm_extra):
    """clusters: HttpBackends (a one-endpoint cluster named after each) or cluster dicts."""
    port, admin = free_ports(2)
    made = [c if isinstance(c, dict) else static_cluster(c.name, [c.port]) for c in clusters]
    if access_log is not None:
        hcm_extra["access_log"] = [file_access_log(access_log)]
    proc = remora(bootstrap([http_listener("http", port, route_config, hcm_extra=hcm_extra)],
                            made, admin))
    return proc, port


def get(port, path="/", host=None, headers=(), method="GET"):
    hdrs = list(headers)
    if host is not None:
        hdrs.append(("Host", host))
    resp = curl(f"http://127.0.0.1:{port}{path}", method=method,
                headers=[f"{k}: {v}" for k, v in hdrs])
    assert resp is not None, f"{method} {path}: connection failed"
    return resp


def echo(resp):
    assert resp.status == 200, resp
    return json.loads(resp.body)


def one_route(**action):
    return {"virtual_hosts": [vhost(routes=[route(**action)])]}


# --------------------------------------------------------------------------------------------
# Which cluster


def test_weighted_clusters_split_70_30(remora, http_backends):
    a, b = http_backends("a"), http_backends("b")
    rc = one_route(weighted_clusters={"clusters": [{"name": "a", "weight": 70},
                                                   {"name": "b", "weight": 30}]})
    proc, port = start(remora, [a, b], rc)
    n = 2000
    assert run_hey(f"http://127.0.0.1:{port}/split", n, concurrency=8) == {200: n}
    stats = proc.stats()
    to_a, to_b = stats.get("cluster.a.upstream_rq_200", 0), stats.get("cluster.b.upstream_rq_200", 0)
    assert to_a + to_b == n
    # Binomial, n = 2000, p = 0.7: sigma is about 1 point; ±5 points is far outside chance.
    assert abs(to_a / n - 0.70) <= 0.05, (to_a, to_b)
    assert len(a.requests) == to_a and len(b.requests) == to_b


def test_weighted_clusters_zero_weight_never_chosen(remora, http_backends):
    a, b = http_backends("a"), http_backends("b")
    rc = one_route(weighted_clusters={"clusters": [{"name": "a", "weight": 0},
                                                   {"name": "b", "weight": 5}]})
    _, port = start(remora, [a, b], rc)
    for _ in range(20):
        assert echo(get(port))["backend"] == "b"
    assert a.requests == []


def test_cluster_header(remora, http_backends, tmp_path):
    a, b = http_backends("a"), http_backends("b")
    log = tmp_path / "access.log"
    _, port = start(remora, [a, b], one_route(cluster_header="X-Target-Cluster"), access_log=log)
    assert echo(get(port, headers=[("x-target-cluster", "a")]))["backend"] == "a"
    assert echo(get(port, headers=[("X-Target-Cluster", "b")]))["backend"] == "b"
    # Missing header, or a cluster that does not exist: Envoy's cluster_not_found_response_code
    # (503 by default), empty body, flag NC.
    missing = get(port)
    assert missing.status == 503 and missing.body == "", missing
    unknown = get(port, headers=[("x-target-cluster", "nope")])
    assert unknown.status == 503 and unknown.body == "", unknown
    assert len(a.requests) == 1 and len(b.requests) == 1
    lines = wait_log_lines(log, 4)
    assert lines[2:] == ["503 NC 0 cluster_not_found"] * 2


# --------------------------------------------------------------------------------------------
# Rewrites


REWRITE_CONFIG = {"virtual_hosts": [vhost(routes=[
    route({"prefix": "/api/v1/"}, cluster="b1", prefix_rewrite="/v2/"),
    route({"prefix": "/strip/"}, cluster="b1", prefix_rewrite="/"),
    route({"prefix": "/cut"}, cluster="b1", prefix_rewrite="/"),
    route({"path": "/old"}, cluster="b1", prefix_rewrite="/new"),
    route({"path_separated_prefix": "/sep"}, cluster="b1", prefix_rewrite="/separated"),
    route({"prefix": "/service/"}, cluster="b1", regex_rewrite={
        "pattern": {"regex": "^/service/([^/]+)(/.*)$"}, "substitution": "\\2/instance/\\1"}),
    route({"prefix": "/aaa"}, cluster="b1", regex_rewrite={
        "pattern": {"regex": "a"}, "substitution": "b"}),
    route({"prefix": "/host"}, cluster="b1", host_rewrite_literal="rewritten.example:8443"),
    route({"prefix": "/"}, cluster="b1"),
])]}


@pytest.mark.parametrize("sent,expected_path", [
    ("/api/v1/users", "/v2/users"),
    ("/api/v1/users?id=7&x=y", "/v2/users?id=7&x=y"),   # the query survives
    ("/api/v1/", "/v2/"),
    ("/strip/me", "/me"),
    ("/cutting", "/ting"),                               # Envoy swaps the prefix literally
    ("/old", "/new"),
    ("/old?k=v", "/new?k=v"),
    ("/sep/x", "/separated/x"),
    ("/service/foo/bar/baz", "/bar/baz/instance/foo"),
    ("/service/foo/bar?q=1", "/bar/instance/foo?q=1"),   # regex_rewrite sees the path only
    ("/aaa/a?a=a", "/bbb/b?a=a"),                        # every match is replaced
])
def test_path_rewrites(remora, http_backends, sent, expected_path):
    b1 = http_backends("b1")
    _, port = start(remora, [b1], REWRITE_CONFIG)
    seen = echo(get(port, sent))
    assert seen["path"] == expected_path
    # Envoy tells the upstream what the path was (unless suppress_envoy_headers).
    assert seen["headers"]["x-envoy-original-path"] == sent


def test_unrewritten_request_has_no_original_path(remora, http_backends):
    b1 = http_backends("b1")
    _, port = start(remora, [b1], REWRITE_CONFIG)
    seen = echo(get(port, "/plain?x=1"))
    assert seen["path"] == "/plain?x=1"
    assert "x-envoy-original-path" not in seen["headers"]


def test_host_rewrite_literal(remora, http_backends):
    b1 = http_backends("b1")
    _, port = start(remora, [b1], REWRITE_CONFIG)
    assert echo(get(port, "/host", host="client.example"))["headers"]["host"] == "rewritten.example:8443"
    assert echo(get(port, "/other", host="client.example"))["headers"]["host"] == "client.example"


def test_auto_host_rewrite_uses_endpoint_hostname(remora, http_backends):
    b1, b2 = http_backends("b1"), http_backends("b2")
    cluster = cluster_with_hostnames("pool", [(b1.port, "one.internal"), (b2.port, "two.internal")])
    plain = cluster_with_hostnames("plain", [(b1.port, "")])
    rc = {"virtual_hosts": [vhost(routes=[
        route({"prefix": "/auto"}, cluster="pool", auto_host_rewrite=True),
        route({"prefix": "/noname"}, cluster="plain", auto_host_rewrite=True),
        route({"prefix": "/"}, cluster="pool"),
    ])]}
    _, port = start(remora, [cluster, plain], rc)
    expected = {"b1": "one.internal", "b2": "two.internal"}
    served = set()
    for _ in range(6):  # round robin: both endpoints, each with its own name
        seen = echo(get(port, "/auto", host="client.example"))
        assert seen["headers"]["host"] == expected[seen["backend"]]
        served.add(seen["backend"])
    assert served == {"b1", "b2"}
    # Without the option, or with an endpoint that has no hostname, the Host passes unchanged.
    assert echo(get(port, "/keep", host="client.example"))["headers"]["host"] == "client.example"
    assert echo(get(port, "/noname", host="client.example"))["headers"]["host"] == "client.example"


# --------------------------------------------------------------------------------------------
# Redirects


def redirect_route(prefix, **redirect):
    return route({"prefix": prefix}, redirect=redirect)


REDIRECT_CONFIG = {"virtual_hosts": [vhost(routes=[
    redirect_route("/https", https_redirect=True),
    redirect_route("/scheme", scheme_redirect="https"),
    redirect_route("/host", host_redirect="new.example"),
    redirect_route("/port", port_redirect=8443),
    redirect_route("/both", host_redirect="new.example", port_redirect=8443),
    redirect_route("/secure-port", https_redirect=True, port_redirect=8443),
    redirect_route("/pathq", path_redirect="/target?fixed=1"),
    redirect_route("/path", path_redirect="/new/path"),
    redirect_route("/prefix/", prefix_rewrite="/moved/"),
    route({"path": "/exact-prefix"}, redirect={"prefix_rewrite": "/whole"}),
    route({"prefix": "/regex/"}, redirect={"regex_rewrite": {
        "pattern": {"regex": "^/regex/(\\w+)$"}, "substitution": "/r/\\1"}}),
    redirect_route("/strip-path", path_redirect="/s", strip_query=True),
    redirect_route("/strip", strip_query=True),
    redirect_route("/c302", response_code="FOUND"),
    redirect_route("/c303", response_code="SEE_OTHER"),
    redirect_route("/c307", response_code="TEMPORARY_REDIRECT"),
    redirect_route("/c308", response_code="PERMANENT_REDIRECT"),
    redirect_route("/c301", response_code="MOVED_PERMANENTLY"),
    route({"prefix": "/"}, cluster="b1"),
])]}


@pytest.mark.parametrize("path,host,status,location", [
    ("/https/x?y=1", "h.example", 301, "https://h.example/https/x?y=1"),
    ("/https", "h.example:80", 301, "https://h.example/https"),        # http's default port dropped
    ("/https", "h.example:8080", 301, "https://h.example:8080/https"),  # any other port kept
    ("/scheme/a", "h.example", 301, "https://h.example/scheme/a"),
    ("/host/a?b=c", "h.example:8080", 301, "http://new.example/host/a?b=c"),
    ("/port/a", "h.example:8080", 301, "http://h.example:8443/port/a"),
    ("/port/a", "h.example", 301, "http://h.example:8443/port/a"),
    ("/both", "h.example:1", 301, "http://new.example:8443/both"),
    ("/secure-port", "h.example", 301, "https://h.example:8443/secure-port"),
    ("/path/x?q=1", "h.example", 301, "http://h.example/new/path?q=1"),  # the query is kept
    ("/pathq?q=1", "h.example", 301, "http://h.example/target?fixed=1"),  # ... unless replaced
    ("/prefix/x/y?z=1", "h.example", 301, "http://h.example/moved/x/y?z=1"),
    ("/exact-prefix?k=v", "h.example", 301, "http://h.example/whole?k=v"),
    ("/regex/abc?k=v", "h.example", 301, "http://h.example/r/abc?k=v"),
    ("/strip-path?a=1", "h.example", 301, "http://h.example/s"),
    ("/strip/x?a=1&b=2", "h.example", 301, "http://h.example/strip/x"),
    ("/c302", "h.example", 302, "http://h.example/c302"),
    ("/c303", "h.example", 303, "http://h.example/c303"),
    ("/c307", "h.example", 307, "http://h.example/c307"),
    ("/c308", "h.example", 308, "http://h.example/c308"),
    ("/c301", "h.example", 301, "http://h.example/c301"),
])
def test_redirect(remora, http_backends, path, host, status, location):
    b1 = http_backends("b1")
    _, port = start(remora, [b1], REDIRECT_CONFIG)
    resp = get(port, path, host=host)
    assert resp.status == status, resp
    assert resp.headers["location"] == location
    assert resp.body == "" and resp.headers["content-length"] == "0"
    assert b1.requests == []


def test_redirect_uses_forwarded_proto(remora, http_backends):
    """The request's scheme is x-forwarded-proto (kept from the client when remora does not use
    the remote address, as Envoy), not the plain-text connection's."""
    b1 = http_backends("b1")
    _, port = start(remora, [b1], REDIRECT_CONFIG)
    resp = get(port, "/host/a", host="h.example", headers=[("x-forwarded-proto", "https")])
    assert resp.headers["location"] == "https://new.example/host/a"
    # https → https: port 443 is kept because the scheme did not change.
    resp = get(port, "/https", host="h.example:443", headers=[("x-forwarded-proto", "https")])
    assert resp.headers["location"] == "https://h.example:443/https"


# --------------------------------------------------------------------------------------------
# Direct responses


def test_direct_response(remora, http_backends, tmp_path):
    b1 = http_backends("b1")
    log = tmp_path / "access.log"
    rc = {"virtual_hosts": [vhost(routes=[
        route({"path": "/hello"}, direct_response={"status": 200, "body": {"inline_string": "hello\n"}},
              response_headers_to_add=[{"header": {"key": "x-direct", "value": "yes"}}]),
        route({"path": "/gone"}, direct_response={"status": 410}),
        route({"path": "/teapot"}, direct_response={"status": 418, "body": {"inline_bytes": "dGVh"}}),
        route({"prefix": "/"}, cluster="b1"),
    ])]}
    _, port = start(remora, [b1], rc, access_log=log)
    hello = get(port, "/hello")
    assert (hello.status, hello.body) == (200, "hello\n")
    assert hello.headers["content-type"] == "text/plain"
    assert hello.headers["content-length"] == "6"
    assert hello.headers["x-direct"] == "yes"
    gone = get(port, "/gone", method="POST")
    assert (gone.status, gone.body, gone.headers["content-length"]) == (410, "", "0")
    teapot = get(port, "/teapot")
    assert (teapot.status, teapot.body) == (418, "tea")
    assert b1.requests == []
    assert wait_log_lines(log, 3) == ["200 - 0 direct_response", "410 - 0 direct_response",
                                      "418 - 0 direct_response"]


# --------------------------------------------------------------------------------------------
# Header mutations: route → virtual host → route configuration, each removing then adding;
# the later level wins an overwrite unless most_specific_header_mutations_wins.


def level_headers(level):
    return [
        {"header": {"key": "x-level", "value": level}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"},
        {"header": {"key": "x-append", "value": level}, "append_action": "APPEND_IF_EXISTS_OR_ADD"},
        {"header": {"key": "x-absent", "value": level}, "append_action": "ADD_IF_ABSENT"},
        {"header": {"key": "x-if-exists", "value": level}, "append_action": "OVERWRITE_IF_EXISTS"},
        {"header": {"key": f"x-from-{level}", "value": level}},
    ]


def mutation_config(most_specific_wins):
    return {
        "most_specific_header_mutations_wins": most_specific_wins,
        "request_headers_to_add": level_headers("config"),
        "request_headers_to_remove": ["x-remove-config"],
        "response_headers_to_add": level_headers("config"),
        "response_headers_to_remove": ["x-backend"],
        "virtual_hosts": [vhost(
            request_headers_to_add=level_headers("vhost"),
            request_headers_to_remove=["x-remove-vhost"],
            response_headers_to_add=level_headers("vhost"),
            response_headers_to_remove=["content-type"],
            routes=[route(
                cluster="b1",
                request_headers_to_add=level_headers("route") + [
                    {"header": {"key": "x-client-ip", "value": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"}},
                    {"header": {"key": "x-legacy-append", "value": "route"}, "append": False}],
                request_headers_to_remove=["x-remove-route"],
                response_headers_to_add=level_headers("route"),
                response_headers_to_remove=["x-remove-response"],
            )])],
    }


def all_values(pairs, name):
    return [v for k, v in pairs if k == name]


@pytest.mark.parametrize("most_specific_wins,order", [(False, ["route", "vhost", "config"]),
                                                      (True, ["config", "vhost", "route"])])
def test_request_header_mutations(remora, http_backends, most_specific_wins, order):
    b1 = http_backends("b1")
    _, port = start(remora, [b1], mutation_config(most_specific_wins))
    client = [("x-remove-route", "1"), ("x-remove-vhost", "1"), ("x-remove-config", "1"),
              ("x-legacy-append", "client"), ("x-keep", "1")]
    seen = echo(get(port, headers=client))
    pairs = [tuple(p) for p in seen["header_list"]]
    assert all_values(pairs, "x-level") == [order[-1]]          # the last level applied wins
    assert all_values(pairs, "x-append") == order                # every level appends, in order
    assert all_values(pairs, "x-absent") == [order[0]]           # the first level applied adds it
    assert all_values(pairs, "x-if-exists") == []                 # nothing to overwrite
    for level in ("route", "vhost", "config"):
        assert all_values(pairs, f"x-from-{level}") == [level]
        assert all_values(pairs, f"x-remove-{level}") == []
    assert all_values(pairs, "x-client-ip") == ["127.0.0.1"]
    assert all_values(pairs, "x-legacy-append") == ["route"]     # append: false overwrites
    assert all_values(pairs, "x-keep") == ["1"]

    # What the client sent itself: kept by ADD_IF_ABSENT, overwritten by OVERWRITE_IF_EXISTS,
    # appended to by APPEND_IF_EXISTS_OR_ADD.
    seen = echo(get(port, headers=[("x-absent", "client"), ("x-if-exists", "client"),
                                   ("x-append", "client")]))
    pairs = [tuple(p) for p in seen["header_list"]]
    assert all_values(pairs, "x-absent") == ["client"]
    assert all_values(pairs, "x-if-exists") == [order[-1]]
    assert all_values(pairs, "x-append") == ["client"] + order


@pytest.mark.parametrize("most_specific_wins,order", [(False, ["route", "vhost", "config"]),
                                                      (True, ["config", "vhost", "route"])])
def test_response_header_mutations(remora, http_backends, most_specific_wins, order):
    b1 = http_backends("b1")
    _, port = start(remora, [b1], mutation_config(most_specific_wins))
    resp = get(port)
    assert resp.status == 200
    pairs = resp.header_list
    assert all_values(pairs, "x-level") == [order[-1]]
    assert all_values(pairs, "x-append") == order
    assert all_values(pairs, "x-absent") == [order[0]]
    assert all_values(pairs, "x-if-exists") == []
    for level in ("route", "vhost", "config"):
        assert all_values(pairs, f"x-from-{level}") == [level]
    # Removed at the config level (x-backend) and the virtual host level (content-type).
    assert all_values(pairs, "x-backend") == []
    assert all_values(pairs, "content-type") == []
    assert json.loads(resp.body)["backend"] == "b1"
