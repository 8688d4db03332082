"""The route table end to end: virtual host selection by domains and every route match kind,
through remora to a real HTTP/1.1 backend. Each virtual host and route tags the request with a
header (request_headers_to_add), and the backend's echo shows which one carried it."""

import json

import pytest

from conftest import bootstrap, curl, free_ports, static_cluster
from http_harness import http_listener, route, run_hey, vhost


def tag(key, value):
    return {"header": {"key": key, "value": value}}


def tagged_vhost(name, domains, routes=None):
    return vhost(name, domains, routes or [route(cluster="b1")],
                 request_headers_to_add=[tag("x-vhost", name)])


def tagged_route(name, match, cluster="b1"):
    return route(match, cluster=cluster, request_headers_to_add=[tag("x-route", name)])


def start(remora, backends, route_config, **hcm_extra):
    port, admin = free_ports(2)
    clusters = [static_cluster(b.name, [b.port]) for b in backends]
    proc = remora(bootstrap([http_listener("http", port, route_config, hcm_extra=hcm_extra)],
                            clusters, admin))
    return proc, port


def get(port, path="/", host=None, headers=()):
    hdrs = list(headers)
    if host is not None:
        hdrs.append(("Host", host))
    resp = curl(f"http://127.0.0.1:{port}{path}", headers=[f"{k}: {v}" for k, v in hdrs])
    assert resp is not None, f"GET {path} (Host {host}): connection failed"
    return resp


def seen_header(resp, name):
    """The value of request header `name` as the backend saw it, or None (404s carry no echo)."""
    if resp.status != 200:
        return None
    return json.loads(resp.body)["headers"].get(name)


# --------------------------------------------------------------------------------------------
# Virtual hosts


DOMAINS_CONFIG = {"virtual_hosts": [
    tagged_vhost("exact", ["www.example.com", "api.example.com"]),
    tagged_vhost("suffix", ["*.example.com"]),
    tagged_vhost("longer-suffix", ["*-bar.example.com"]),
    tagged_vhost("prefix", ["api.*"]),
    tagged_vhost("longer-prefix", ["api.internal.*"]),
    tagged_vhost("with-port", ["ported.example.org:8080"]),
    tagged_vhost("default", ["*"]),
]}


DOMAIN_CASES = [
    ("www.example.com", "exact"),
    ("WWW.Example.COM", "exact"),                 # domains match case-insensitively
    ("api.example.com", "exact"),                 # exact beats *.example.com and api.*
    ("foo.example.com", "suffix"),
    ("baz-bar.example.com", "longer-suffix"),     # the longest suffix wins
    ("a.b.example.com", "suffix"),
    (".example.com", "default"),                  # a wildcard never matches the empty string
    ("example.com", "default"),
    ("api.foo.org", "prefix"),
    ("api.internal.corp", "longer-prefix"),       # the longest prefix wins
    ("api.example.org", "prefix"),
    ("nothing.org", "default"),
    # The port is part of the host: www.example.com:8080 is not www.example.com, and a
    # suffix wildcard ends at the port, so only "*" takes it; a prefix wildcard takes it whole.
    ("www.example.com:8080", "default"),
    ("foo.example.com:8080", "default"),
    ("api.foo:9000", "prefix"),
    ("ported.example.org:8080", "with-port"),
    ("ported.example.org", "default"),
]


def check_table(port, cases, request, observe):
    """Runs every case through one proxy; reports all mismatches at once."""
    wrong = []
    for case in cases:
        *args, expected = case
        got = observe(request(port, *args))
        if got != expected:
            wrong.append((args, expected, got))
    assert not wrong, "(request, expected, got): " + repr(wrong)


def test_virtual_host_by_domain(remora, http_backends):
    b1 = http_backends("b1")
    _, port = start(remora, [b1], DOMAINS_CONFIG)
    check_table(port, DOMAIN_CASES, lambda p, host: get(p, "/", host=host),
                lambda r: seen_header(r, "x-vhost"))


def test_no_virtual_host_is_404_nr(remora, http_backends, tmp_path):
    from http_harness import file_access_log, wait_log_lines
    b1 = http_backends("b1")
    log = tmp_path / "access.log"
    port, admin = free_ports(2)
    rc = {"virtual_hosts": [tagged_vhost("only", ["only.example.com"])]}
    listener = http_listener("http", port, rc, hcm_extra={"access_log": [file_access_log(log)]})
    remora(bootstrap([listener], [static_cluster("b1", [b1.port])], admin))
    resp = get(port, "/", host="other.example.com")
    assert resp.status == 404 and resp.body == "", resp
    assert resp.headers["content-length"] == "0"
    assert get(port, "/", host="only.example.com").status == 200
    assert len(b1.requests) == 1
    assert wait_log_lines(log, 2)[0] == "404 NR 0 route_not_found"


IGNORE_PORT_CASES = [
    ("www.example.com:8080", "exact"),
    ("WWW.EXAMPLE.COM:1", "exact"),
    ("foo.example.com:8080", "suffix"),
    ("[::1]:8080", "ipv6"),
    ("www.example.com", "exact"),
]


def test_ignore_port_in_host_matching(remora, http_backends):
    b1 = http_backends("b1")
    rc = {"ignore_port_in_host_matching": True, "virtual_hosts": [
        tagged_vhost("exact", ["www.example.com"]),
        tagged_vhost("suffix", ["*.example.com"]),
        tagged_vhost("ipv6", ["[::1]"]),
        tagged_vhost("default", ["*"]),
    ]}
    _, port = start(remora, [b1], rc)
    check_table(port, IGNORE_PORT_CASES, lambda p, host: get(p, "/", host=host),
                lambda r: seen_header(r, "x-vhost"))


# --------------------------------------------------------------------------------------------
# Path matching


PATHS_CONFIG = {"virtual_hosts": [vhost(routes=[
    tagged_route("path", {"path": "/exact"}),
    tagged_route("separated", {"path_separated_prefix": "/sep"}),
    tagged_route("regex", {"safe_regex": {"regex": "/re/[0-9]+"}}),
    tagged_route("nocase", {"prefix": "/CaseLess/", "case_sensitive": False}),
    tagged_route("nocase-path", {"path": "/Exact-NoCase", "case_sensitive": False}),
    tagged_route("upper", {"prefix": "/Upper"}),
    tagged_route("prefix", {"prefix": "/pre"}),
    tagged_route("default", {"prefix": "/"}),
])]}


PATH_CASES = [
    ("/exact", "path"),
    ("/exact?q=1", "path"),              # the query is not part of the matched path
    ("/exact/", "default"),
    ("/exactly", "default"),
    ("/EXACT", "default"),               # case_sensitive defaults to true
    ("/sep", "separated"),
    ("/sep/", "separated"),
    ("/sep/a/b", "separated"),
    ("/sep?x=1", "separated"),
    ("/sepx", "default"),                # path_separated_prefix needs a '/' (or the end) next
    ("/re/123", "regex"),
    ("/re/123?x=y", "regex"),
    ("/re/12a", "default"),              # safe_regex must match the whole path
    ("/re/123/x", "default"),
    ("/caseless/x", "nocase"),
    ("/CASELESS/Y", "nocase"),
    ("/exact-nocase", "nocase-path"),
    ("/Upper/a", "upper"),
    ("/upper/a", "default"),
    ("/prefix", "prefix"),
    ("/pre", "prefix"),
    ("/", "default"),
]


def test_path_match_kinds(remora, http_backends):
    b1 = http_backends("b1")
    _, port = start(remora, [b1], PATHS_CONFIG)
    # Matching never rewrites: the backend sees the path as sent.
    cases = [(path, (expected, path)) for path, expected in PATH_CASES]
    check_table(port, cases, get, lambda r: (seen_header(r, "x-route"), json.loads(r.body)["path"]))


def test_first_matching_route_wins(remora, http_backends):
    b1 = http_backends("b1")
    rc = {"virtual_hosts": [vhost(routes=[
        tagged_route("broad", {"prefix": "/"}),
        tagged_route("narrow", {"path": "/narrow"}),
    ])]}
    _, port = start(remora, [b1], rc)
    assert seen_header(get(port, "/narrow"), "x-route") == "broad"


def test_no_route_in_virtual_host_is_404(remora, http_backends):
    b1 = http_backends("b1")
    rc = {"virtual_hosts": [vhost(routes=[tagged_route("only", {"prefix": "/only"})])]}
    _, port = start(remora, [b1], rc)
    assert get(port, "/elsewhere").status == 404
    assert get(port, "/only/x").status == 200
    assert len(b1.requests) == 1


# --------------------------------------------------------------------------------------------
# Header matching


def header_route(name, matcher):
    return tagged_route(name, {"prefix": f"/{name}", "headers": [matcher]})


HEADERS_CONFIG = {"virtual_hosts": [vhost(routes=[
    header_route("exact", {"name": "x-v", "string_match": {"exact": "Abc"}}),
    header_route("prefix", {"name": "x-v", "string_match": {"prefix": "ab"}}),
    header_route("suffix", {"name": "x-v", "string_match": {"suffix": "yz"}}),
    header_route("contains", {"name": "x-v", "string_match": {"contains": "mid"}}),
    header_route("regex", {"name": "x-v", "string_match": {"safe_regex": {"regex": "v[0-9]+\\.[0-9]+"}}}),
    header_route("ignorecase", {"name": "x-v", "string_match": {"exact": "MiXeD", "ignore_case": True}}),
    header_route("present", {"name": "x-v", "present_match": True}),
    header_route("absent", {"name": "x-v", "present_match": False}),
    header_route("range", {"name": "x-v", "range_match": {"start": 10, "end": 20}}),
    header_route("invert", {"name": "x-v", "string_match": {"exact": "no"}, "invert_match": True}),
    header_route("deprecated", {"name": "x-v", "exact_match": "old"}),
    header_route("name-case", {"name": "X-Mixed-Name", "string_match": {"exact": "1"}}),
    tagged_route("default", {"prefix": "/"}),
])]}


HEADER_CASES = [
    ("/exact", "Abc", "exact"),
    ("/exact", "abc", "default"),        # exact is case-sensitive without ignore_case
    ("/exact", None, "default"),
    ("/prefix", "abcdef", "prefix"),
    ("/prefix", "xab", "default"),
    ("/suffix", "xyz", "suffix"),
    ("/suffix", "yzx", "default"),
    ("/contains", "a-mid-b", "contains"),
    ("/contains", "mi-d", "default"),
    ("/regex", "v1.22", "regex"),
    ("/regex", "v1.22-rc", "default"),   # safe_regex matches the whole value
    ("/ignorecase", "mixed", "ignorecase"),
    ("/ignorecase", "MIXED", "ignorecase"),
    ("/ignorecase", "mixe", "default"),
    ("/present", "", "present"),
    ("/present", "anything", "present"),
    ("/present", None, "default"),
    ("/absent", None, "absent"),
    ("/absent", "x", "default"),
    ("/range", "10", "range"),
    ("/range", "19", "range"),
    ("/range", "20", "default"),         # the end is exclusive
    ("/range", "-5", "default"),
    ("/range", "15x", "default"),
    ("/invert", "yes", "invert"),
    ("/invert", "no", "default"),
    ("/invert", None, "default"),        # an absent header never matches, inverted or not
    ("/deprecated", "old", "deprecated"),
]


def header_request(port, path, value):
    if value is None:
        return get(port, path)
    if value == "":
        # curl sends a header with an empty value for "name;".
        return curl(f"http://127.0.0.1:{port}{path}", extra=["-H", "x-v;"])
    return get(port, path, headers=[("x-v", value)])


def test_header_match_kinds(remora, http_backends):
    b1 = http_backends("b1")
    _, port = start(remora, [b1], HEADERS_CONFIG)
    check_table(port, HEADER_CASES, header_request, lambda r: seen_header(r, "x-route"))


def test_header_match_name_is_case_insensitive(remora, http_backends):
    b1 = http_backends("b1")
    _, port = start(remora, [b1], HEADERS_CONFIG)
    assert seen_header(get(port, "/name-case", headers=[("x-mixed-name", "1")]), "x-route") == "name-case"
    assert seen_header(get(port, "/name-case", headers=[("X-MIXED-NAME", "1")]), "x-route") == "name-case"


def test_repeated_header_matched_joined(remora, http_backends):
    """Envoy matches a repeated header as its values joined with ','."""
    b1 = http_backends("b1")
    rc = {"virtual_hosts": [vhost(routes=[
        tagged_route("joined", {"prefix": "/", "headers": [
            {"name": "x-multi", "string_match": {"exact": "a,b"}}]}),
        tagged_route("default", {"prefix": "/"}),
    ])]}
    _, port = start(remora, [b1], rc)
    assert seen_header(get(port, headers=[("x-multi", "a"), ("x-multi", "b")]), "x-route") == "joined"
    assert seen_header(get(port, headers=[("x-multi", "a")]), "x-route") == "default"


def test_all_header_matchers_must_match(remora, http_backends):
    b1 = http_backends("b1")
    rc = {"virtual_hosts": [vhost(routes=[
        tagged_route("both", {"prefix": "/", "headers": [
            {"name": "x-a", "string_match": {"exact": "1"}},
            {"name": "x-b", "present_match": True}]}),
        tagged_route("default", {"prefix": "/"}),
    ])]}
    _, port = start(remora, [b1], rc)
    assert seen_header(get(port, headers=[("x-a", "1"), ("x-b", "z")]), "x-route") == "both"
    assert seen_header(get(port, headers=[("x-a", "1")]), "x-route") == "default"
    assert seen_header(get(port, headers=[("x-b", "z")]), "x-route") == "default"


# --------------------------------------------------------------------------------------------
# Query parameters


QUERY_CONFIG = {"virtual_hosts": [vhost(routes=[
    tagged_route("exact", {"prefix": "/q", "query_parameters": [
        {"name": "debug", "string_match": {"exact": "true"}}]}),
    tagged_route("regex", {"prefix": "/q", "query_parameters": [
        {"name": "id", "string_match": {"safe_regex": {"regex": "[0-9]{3}"}}}]}),
    tagged_route("present", {"prefix": "/q", "query_parameters": [
        {"name": "flag", "present_match": True}]}),
    tagged_route("default", {"prefix": "/"}),
])]}


QUERY_CASES = [
    ("/q?debug=true", "exact"),
    ("/q?a=1&debug=true&b=2", "exact"),
    ("/q?debug=false", "default"),
    ("/q?debug=TRUE", "default"),
    ("/q?id=123", "regex"),
    ("/q?id=1234", "default"),
    ("/q?flag", "present"),
    ("/q?flag=", "present"),
    ("/q?flag=1", "present"),
    ("/q?flags=1", "default"),
    ("/q", "default"),
    ("/q?debug=%74rue", "exact"),        # values are percent-decoded before matching
]


def test_query_parameter_match(remora, http_backends):
    b1 = http_backends("b1")
    _, port = start(remora, [b1], QUERY_CONFIG)
    check_table(port, QUERY_CASES, get, lambda r: seen_header(r, "x-route"))


# --------------------------------------------------------------------------------------------
# runtime_fraction: default_value decides (remora has no runtime layer), per request at random.


def fraction(numerator, denominator="HUNDRED"):
    return {"default_value": {"numerator": numerator, "denominator": denominator},
            "runtime_key": "routing.test"}


@pytest.mark.parametrize("numerator,denominator,expected_share", [
    (30, "HUNDRED", 0.30),
    (2500, "TEN_THOUSAND", 0.25),
])
def test_runtime_fraction_share(remora, http_backends, numerator, denominator, expected_share):
    a, b = http_backends("a"), http_backends("b")
    rc = {"virtual_hosts": [vhost(routes=[
        route({"prefix": "/", "runtime_fraction": fraction(numerator, denominator)}, cluster="a"),
        route({"prefix": "/"}, cluster="b"),
    ])]}
    proc, port = start(remora, [a, b], rc)
    n = 1000
    counts = run_hey(f"http://127.0.0.1:{port}/f", n, concurrency=4)
    assert counts == {200: n}, counts
    stats = proc.stats()
    to_a = stats.get("cluster.a.upstream_rq_200", 0)
    to_b = stats.get("cluster.b.upstream_rq_200", 0)
    assert to_a + to_b == n
    # Binomial, n = 1000: one standard deviation is under 1.5 points; ±5 points is > 3 sigma.
    assert abs(to_a / n - expected_share) <= 0.05, (to_a, to_b)


@pytest.mark.parametrize("numerator,expected", [(0, "b"), (100, "a")])
def test_runtime_fraction_bounds(remora, http_backends, numerator, expected):
    a, b = http_backends("a"), http_backends("b")
    rc = {"virtual_hosts": [vhost(routes=[
        route({"prefix": "/", "runtime_fraction": fraction(numerator)}, cluster="a"),
        route({"prefix": "/"}, cluster="b"),
    ])]}
    _, port = start(remora, [a, b], rc)
    for _ in range(20):
        resp = get(port)
        assert json.loads(resp.body)["backend"] == expected
