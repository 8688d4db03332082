"""gRPC through remora over HTTP/1.1 (chunked trailers carry grpc-status): unary and streaming
message framing kept, grpc-timeout against max_grpc_timeout, retries on grpc-status, trailers-only
local replies, and the grpc_stats and grpc_web filters. The backend is http_harness's, answering
gRPC framing with trailers. The same router and filters serve HTTP/2 once its codec is in; the
@grpc/grpc-js end-to-end tests come with it."""

import base64
import json
import time

from conftest import bootstrap, curl, free_ports, run_remora, static_cluster
from http_harness import (RawHttp, grpc_call, grpc_frame, grpc_parse_frames, grpc_status_of,
                          http_listener, request_bytes, route, vhost)

PATH = "/helloworld.Greeter/SayHello"
TRAILERS_OPTIONS = {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
    "explicit_http_config": {"http_protocol_options": {"enable_trailers": True}}}}
GRPC_STATS_TYPE = "type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig"
GRPC_WEB_TYPE = "type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb"


def grpc_stats_filter(**config):
    return {"name": "envoy.filters.http.grpc_stats",
            "typed_config": {"@type": GRPC_STATS_TYPE, **config}}


def grpc_web_filter():
    return {"name": "envoy.filters.http.grpc_web", "typed_config": {"@type": GRPC_WEB_TYPE}}


def grpc_proxy(remora, backend, routes=None, http_filters=None, clusters=None):
    """remora with trailers enabled on both sides; returns (proc, port)."""
    port, admin = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=routes or [route(cluster=backend.name)])]}
    listener = http_listener("http", port, rc, http_filters=http_filters,
                             hcm_extra={"http_protocol_options": {"enable_trailers": True}})
    cluster_list = clusters or [static_cluster(backend.name, [backend.port],
                                               typed_extension_protocol_options=TRAILERS_OPTIONS)]
    return remora(bootstrap([listener], cluster_list, admin)), port


def test_unary_and_streaming_calls_keep_messages_and_trailers(remora, http_backends):
    backend = http_backends("greeter")
    proc, port = grpc_proxy(remora, backend)
    resp = grpc_call(port, PATH, [b"hello"])
    assert resp.status == 200, resp
    assert resp.header("content-type") == "application/grpc"
    assert grpc_parse_frames(resp.body) == [(0, b"hello")]
    assert dict(resp.trailers)["grpc-status"] == "0"
    seen = backend.requests[-1]
    assert seen["path"] == PATH and seen["headers"]["te"] == "trailers"
    assert seen["grpc_messages"] == [b"hello".hex()]

    # Client streaming in, server streaming out, with a grpc-message in the trailers.
    messages = [b"m%d" % i * (i + 1) for i in range(50)]
    resp = grpc_call(port, PATH, messages, headers=[("x-backend-grpc-messages", "200"),
                                                     ("x-backend-grpc-status", "5"),
                                                     ("x-backend-grpc-message", "not found")])
    assert resp.status == 200
    assert grpc_parse_frames(resp.body) == [(0, b"reply-%d" % i) for i in range(200)]
    assert dict(resp.trailers) == {"grpc-status": "5", "grpc-message": "not found"}
    assert backend.requests[-1]["grpc_messages"] == [m.hex() for m in messages]
    # A content-length request body is framed the same.
    resp = grpc_call(port, PATH, [b"a", b"b"], chunked=False)
    assert grpc_parse_frames(resp.body) == [(0, b"a"), (0, b"b")]
    assert proc.stat("cluster.greeter.upstream_rq_200") == 3


def test_local_replies_to_grpc_requests_are_trailers_only(remora, http_backends):
    backend = http_backends("greeter")
    down_port, = free_ports(1)
    routes = [route({"prefix": "/helloworld.Greeter/"}, "greeter"),
              route({"prefix": "/dead.Service/"}, "dead"),
              route({"prefix": "/missing.Service/"}, cluster_header="x-cluster")]
    clusters = [static_cluster("greeter", [backend.port],
                               typed_extension_protocol_options=TRAILERS_OPTIONS),
                static_cluster("dead", [down_port], connect_timeout="0.25s")]
    proc, port = grpc_proxy(remora, backend, routes=routes, clusters=clusters)

    def check(path, grpc_status, message):
        resp = grpc_call(port, path, [b"x"], headers=[("x-cluster", "nonexistent")])
        assert resp.status == 200, resp
        assert resp.header("content-type") == "application/grpc"
        assert resp.header("grpc-status") == str(grpc_status), resp
        assert resp.header("grpc-message") == message
        assert resp.header("content-length") == "0" and resp.body == b"" and not resp.trailers

    # 503 → UNAVAILABLE, with Envoy's text percent-encoded where needed.
    check("/dead.Service/Call", 14, "upstream connect error or disconnect/reset before headers. "
          "reset reason: remote connection failure, transport failure reason: "
          "delayed connect error: Connection refused")
    check("/missing.Service/Call", 14, None)      # cluster not found: 503, no body
    check("/other.Service/Call", 12, None)        # no route: 404 → UNIMPLEMENTED
    # The same failures to a plain HTTP request keep their HTTP form.
    resp = curl(f"http://127.0.0.1:{port}/other.Service/Call")
    assert resp.status == 404
    resp = curl(f"http://127.0.0.1:{port}/missing.Service/Call", headers=["x-cluster: none"])
    assert resp.status == 503


def test_grpc_timeout_capped_by_max_grpc_timeout(remora, http_backends):
    backend = http_backends("greeter")
    routes = [route({"prefix": "/capped/"}, "greeter", max_grpc_timeout="0.3s"),
              route({"prefix": "/offset/"}, "greeter", max_grpc_timeout="10s",
                    grpc_timeout_offset="0.05s"),
              route({"prefix": "/infinite/"}, "greeter", max_grpc_timeout="0s", timeout="0.2s"),
              route({"prefix": "/per-try/"}, "greeter", max_grpc_timeout="10s",
                    retry_policy={"retry_on": "unavailable", "per_try_timeout": "0.15s"}),
              route({"prefix": "/plain/"}, "greeter", timeout="0.4s")]
    proc, port = grpc_proxy(remora, backend, routes=routes)

    def upstream_saw(path, grpc_timeout=None):
        headers = [("grpc-timeout", grpc_timeout)] if grpc_timeout else []
        resp = grpc_call(port, path, [b"x"], headers=headers)
        assert grpc_status_of(resp) == 0, resp
        return backend.requests[-1]["headers"]

    # The client's deadline, capped at max_grpc_timeout, is what the upstream is told.
    seen = upstream_saw("/capped/A", "60S")
    assert (seen["grpc-timeout"], seen["x-envoy-expected-rq-timeout-ms"]) == ("300m", "300")
    seen = upstream_saw("/capped/A", "120m")
    assert (seen["grpc-timeout"], seen["x-envoy-expected-rq-timeout-ms"]) == ("120m", "120")
    seen = upstream_saw("/capped/A")            # no grpc-timeout: infinite, then capped
    assert seen["grpc-timeout"] == "300m"
    seen = upstream_saw("/offset/A", "500m")    # offset taken off: 450 ms
    assert (seen["grpc-timeout"], seen["x-envoy-expected-rq-timeout-ms"]) == ("450m", "450")
    # max_grpc_timeout 0 and no grpc-timeout: no timeout at all, the route's is not used.
    seen = upstream_saw("/infinite/A")
    assert "x-envoy-expected-rq-timeout-ms" not in seen and "grpc-timeout" not in seen
    # A shorter per-try timeout is the deadline each attempt really has.
    seen = upstream_saw("/per-try/A", "5S")
    assert (seen["grpc-timeout"], seen["x-envoy-expected-rq-timeout-ms"]) == ("150m", "150")
    # Without max_grpc_timeout the route's timeout applies and grpc-timeout passes untouched.
    seen = upstream_saw("/plain/A", "60S")
    assert (seen["grpc-timeout"], seen["x-envoy-expected-rq-timeout-ms"]) == ("60S", "400")

    # The deadline passes before the upstream answers: a trailers-only gRPC error, on time.
    start = time.monotonic()
    resp = grpc_call(port, "/capped/A", [b"x"], headers=[("grpc-timeout", "200m"),
                                                          ("x-backend-delay-ms", "3000")])
    elapsed = time.monotonic() - start
    assert resp.status == 200, resp
    assert resp.header("content-type") == "application/grpc"
    assert resp.header("grpc-status") == "14"          # 504 → UNAVAILABLE, as Envoy maps it
    assert resp.header("grpc-message") == "upstream request timeout"
    assert 0.15 < elapsed < 2.0, elapsed
    proc.wait_stat("cluster.greeter.upstream_rq_timeout", lambda v: v == 1)


def retry_route(**policy):
    return route(cluster="greeter", retry_policy={"retry_back_off": {"base_interval": "0.001s"},
                                                  **policy})


def test_retries_on_grpc_status_unavailable(remora, http_backends):
    backend = http_backends("greeter")
    proc, port = grpc_proxy(remora, backend,
                            routes=[retry_route(retry_on="unavailable", num_retries=3)])
    # Two trailers-only UNAVAILABLE answers, then success: the client sees only the success.
    steer = [("x-backend-fail-times", "2"), ("x-backend-fail-key", "a"),
             ("x-backend-grpc-trailers-only", "1"), ("x-backend-grpc-status", "14")]
    resp = grpc_call(port, PATH, [b"ping"], headers=steer)
    assert grpc_status_of(resp) == 0, resp
    assert grpc_parse_frames(resp.body) == [(0, b"ping")], backend.requests
    assert len(backend.requests) == 3
    assert all(r["grpc_messages"] == [b"ping".hex()] for r in backend.requests)
    stats = proc.stats()
    assert stats["cluster.greeter.upstream_rq_retry"] == 2
    assert stats["cluster.greeter.upstream_rq_retry_success"] == 1

    # A status the policy does not name is answered at once.
    resp = grpc_call(port, PATH, [b"x"], headers=[("x-backend-grpc-trailers-only", "1"),
                                                  ("x-backend-grpc-status", "8")])
    assert grpc_status_of(resp) == 8 and len(backend.requests) == 4
    # UNAVAILABLE in trailers, after the response started, is not retried (Envoy documents this).
    resp = grpc_call(port, PATH, [b"x"], headers=[("x-backend-grpc-status", "14")])
    assert grpc_status_of(resp) == 14 and len(backend.requests) == 5
    # Retries run out: the last answer goes to the client, counted as URX's limit.
    resp = grpc_call(port, PATH, [b"x"], headers=[("x-backend-grpc-trailers-only", "1"),
                                                  ("x-backend-grpc-status", "14")])
    assert grpc_status_of(resp) == 14 and len(backend.requests) == 9
    assert proc.stat("cluster.greeter.upstream_rq_retry_limit_exceeded") == 1


def test_x_envoy_retry_grpc_on_header(remora, http_backends):
    backend = http_backends("greeter")
    proc, port = grpc_proxy(remora, backend)
    # Envoy honours its control headers only from internal requests (an internal XFF here).
    steer = [("x-backend-fail-times", "1"), ("x-backend-grpc-trailers-only", "1"),
             ("x-backend-grpc-status", "4"), ("x-forwarded-for", "10.0.0.7")]
    resp = grpc_call(port, PATH, [b"x"], headers=steer + [("x-backend-fail-key", "h"),
                                                          ("x-envoy-retry-grpc-on",
                                                           "deadline-exceeded")])
    assert grpc_status_of(resp) == 0 and len(backend.requests) == 2
    # Consumed by remora, never sent upstream.
    assert "x-envoy-retry-grpc-on" not in backend.requests[-1]["headers"]
    # The same name in x-envoy-retry-on is not a gRPC condition there.
    resp = grpc_call(port, PATH, [b"x"], headers=steer + [("x-backend-fail-key", "o"),
                                                          ("x-envoy-retry-on",
                                                           "deadline-exceeded")])
    assert grpc_status_of(resp) == 4 and len(backend.requests) == 3


def test_grpc_stats_per_method(remora, http_backends):
    backend = http_backends("greeter")
    proc, port = grpc_proxy(remora, backend, http_filters=[
        grpc_stats_filter(stats_for_all_methods=True, enable_upstream_stats=True)])
    for _ in range(2):
        resp = grpc_call(port, PATH, [b"a", b"b", b"c"], headers=[("x-backend-grpc-messages", "4")])
        assert grpc_status_of(resp) == 0
    resp = grpc_call(port, PATH, [b"a"], headers=[("x-backend-grpc-status", "5")])
    assert grpc_status_of(resp) == 5
    resp = grpc_call(port, PATH, [], headers=[("x-backend-grpc-trailers-only", "1"),
                                              ("x-backend-grpc-status", "14")])
    assert grpc_status_of(resp) == 14
    # A local reply counts too (trailers-only, its grpc-status in the headers).
    resp = grpc_call(port, "/helloworld.Greeter/Other", [b"x"],
                     headers=[("x-envoy-upstream-rq-timeout-ms", "100"),
                              ("x-forwarded-for", "10.0.0.7"),
                              ("x-backend-delay-ms", "2000")])
    assert grpc_status_of(resp) == 14

    prefix = "cluster.greeter.grpc.helloworld.Greeter.SayHello."
    proc.wait_stat(prefix + "total", lambda v: v == 4)
    stats = proc.stats()
    assert stats[prefix + "success"] == 2
    assert stats[prefix + "failure"] == 2
    assert (stats[prefix + "0"], stats[prefix + "5"], stats[prefix + "14"]) == (2, 1, 1)
    assert stats[prefix + "request_message_count"] == 3 + 3 + 1
    assert stats[prefix + "response_message_count"] == 4 + 4 + 1
    assert prefix + "upstream_rq_time" in stats
    other = "cluster.greeter.grpc.helloworld.Greeter.Other."
    assert (stats[other + "failure"], stats[other + "14"], stats[other + "total"]) == (1, 1, 1)
    # Plain HTTP is not counted.
    assert curl(f"http://127.0.0.1:{port}/x").status == 200
    assert not any(k.startswith("cluster.greeter.grpc.success") for k in proc.stats())


def test_grpc_stats_allowlist_and_generic_stats(remora, http_backends):
    backend = http_backends("greeter")
    allow = {"services": [{"name": "helloworld.Greeter", "method_names": ["SayHello"]}]}
    proc, port = grpc_proxy(remora, backend, http_filters=[
        grpc_stats_filter(individual_method_stats_allowlist=allow,
                          replace_dots_in_grpc_service_name=True)])
    grpc_call(port, PATH, [b"a"])
    grpc_call(port, "/helloworld.Greeter/SayBye", [b"a", b"b"])
    proc.wait_stat("cluster.greeter.grpc.total", lambda v: v == 1)
    stats = proc.stats()
    assert stats["cluster.greeter.grpc.helloworld_Greeter.SayHello.success"] == 1
    assert stats["cluster.greeter.grpc.helloworld_Greeter.SayHello.request_message_count"] == 1
    assert stats["cluster.greeter.grpc.success"] == 1
    assert stats["cluster.greeter.grpc.request_message_count"] == 2
    assert not any("SayBye" in k for k in stats)


def test_grpc_stats_emit_filter_state_is_rejected(tmp_path):
    port, = free_ports(1)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="b")])]}
    listener = http_listener("http", port, rc,
                             http_filters=[grpc_stats_filter(emit_filter_state=True)])
    path = tmp_path / "grpc_stats.json"
    path.write_text(json.dumps(bootstrap([listener], [static_cluster("b", [port])])))
    result = run_remora(["--mode", "validate", "-c", str(path)])
    assert result.returncode != 0
    assert "not supported by remora: " in result.stderr + result.stdout
    assert "emit_filter_state" in result.stderr + result.stdout


def grpc_web_call(port, body, content_type, accept=None, pieces=None):
    """A gRPC-web POST over HTTP/1.1; `pieces` splits the body into chunks at those offsets."""
    headers = [("Content-Type", content_type), ("X-Grpc-Web", "1")]
    if accept:
        headers.append(("Accept", accept))
    with RawHttp(port) as c:
        if pieces is None:
            c.send(request_bytes("POST", PATH, headers, body))
        else:
            data, last = b"", 0
            for cut in list(pieces) + [len(body)]:
                part = body[last:cut]
                last = cut
                if part:
                    data += b"%x\r\n%s\r\n" % (len(part), part)
            c.send(request_bytes("POST", PATH, headers + [("Transfer-Encoding", "chunked")]) +
                   data + b"0\r\n\r\n")
        return c.read_response("POST")


def test_grpc_web_binary(remora, http_backends):
    backend = http_backends("greeter")
    proc, port = grpc_proxy(remora, backend, http_filters=[grpc_web_filter()])
    body = grpc_frame(b"hello") + grpc_frame(b"world")
    resp = grpc_web_call(port, body, "application/grpc-web+proto")
    assert resp.status == 200, resp
    assert resp.header("content-type") == "application/grpc-web+proto"
    assert not resp.trailers   # the trailers travel in the body
    frames = grpc_parse_frames(resp.body)
    assert frames[:2] == [(0, b"hello"), (0, b"world")]
    assert frames[2] == (0x80, b"grpc-status:0\r\n")
    seen = backend.requests[-1]
    assert seen["headers"]["content-type"] == "application/grpc"
    assert seen["headers"]["te"] == "trailers"
    assert seen["grpc_messages"] == [b"hello".hex(), b"world".hex()]

    # An error status and message come back in the trailer frame too.
    with RawHttp(port) as c:
        c.send(request_bytes("POST", PATH, [("Content-Type", "application/grpc-web"),
                                            ("x-backend-grpc-status", "7"),
                                            ("x-backend-grpc-message", "denied")], body))
        resp = c.read_response("POST")
    assert grpc_parse_frames(resp.body)[-1] == (0x80, b"grpc-status:7\r\ngrpc-message:denied\r\n")
    # Envoy's grpc-web call stats.
    prefix = "cluster.greeter.grpc-web.helloworld.Greeter.SayHello."
    proc.wait_stat(prefix + "total", lambda v: v == 2)
    stats = proc.stats()
    assert (stats[prefix + "success"], stats[prefix + "failure"]) == (1, 1)
    assert (stats[prefix + "0"], stats[prefix + "7"]) == (1, 1)


def test_grpc_web_text(remora, http_backends):
    backend = http_backends("greeter")
    proc, port = grpc_proxy(remora, backend, http_filters=[grpc_web_filter()])
    raw = grpc_frame(b"first message") + grpc_frame(b"x" * 1000)
    text = base64.b64encode(raw)
    # Chunks that cut base64 groups anywhere.
    resp = grpc_web_call(port, text, "application/grpc-web-text", accept="application/grpc-web-text",
                         pieces=[1, 2, 7, 301, 302])
    assert resp.status == 200, resp
    assert resp.header("content-type") == "application/grpc-web-text+proto"
    frames = grpc_parse_frames(base64.b64decode(resp.body, validate=True))
    assert frames == [(0, b"first message"), (0, b"x" * 1000), (0x80, b"grpc-status:0\r\n")]
    assert backend.requests[-1]["grpc_messages"] == [b"first message".hex(), (b"x" * 1000).hex()]

    # Separately padded pieces decode too; without the text Accept the answer is binary.
    text = base64.b64encode(grpc_frame(b"ab")) + base64.b64encode(grpc_frame(b"c"))
    assert text.count(b"=") == 2
    resp = grpc_web_call(port, text, "application/grpc-web-text+proto")
    assert resp.header("content-type") == "application/grpc-web+proto"
    assert grpc_parse_frames(resp.body)[:2] == [(0, b"ab"), (0, b"c")]


def test_grpc_web_bad_base64_is_a_grpc_error(remora, http_backends):
    backend = http_backends("greeter")
    proc, port = grpc_proxy(remora, backend, http_filters=[grpc_web_filter()])
    resp = grpc_web_call(port, b"AAAA!!!!", "application/grpc-web-text",
                         accept="application/grpc-web-text")
    assert resp.status == 200, resp
    assert resp.header("content-type") == "application/grpc-web-text+proto"
    assert resp.header("grpc-status") == "13"     # 400 → INTERNAL
    assert resp.header("grpc-message") == "Bad gRPC-web request, invalid base64 data."
    assert backend.requests == [] or backend.requests[-1]["grpc_messages"] == []
