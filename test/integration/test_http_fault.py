"""envoy.filters.http.fault end to end: aborts and delays (fixed, by percentage, steered by request
headers), the selectors (headers, upstream cluster, downstream node), per-route overrides,
max_active_faults, the response rate limit, stats and the FI/DI response flags in access logs —
with curl and hey against a real HTTP/1.1 backend."""

import json
import socket
import threading
import time

from conftest import bootstrap, curl, free_ports, static_cluster
from http_harness import file_access_log, hey, http_listener, read_log_lines, route, vhost

FAULT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
LOG_FORMAT = "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %REQ(:PATH)%\n"


def fault_filter(**config):
    return {"name": "envoy.filters.http.fault", "typed_config": {"@type": FAULT_TYPE, **config}}


def per_route_fault(**config):
    return {"envoy.filters.http.fault": {"@type": FAULT_TYPE, **config}}


def percent(n, denominator="HUNDRED"):
    return {"numerator": n, "denominator": denominator}


class Setup:
    """remora with one HTTP listener (the fault filter, then the router) in front of backend b1,
    a file access log, and admin."""

    def __init__(self, remora, http_backends, tmp_path, fault, routes=None, clusters=("b1",)):
        self.backends = {name: http_backends(name) for name in clusters}
        self.port, admin_port = free_ports(2)
        self.log_path = tmp_path / "access.log"
        rc = {"virtual_hosts": [vhost(routes=routes or [route(cluster=clusters[0])])]}
        listener = http_listener("http", self.port, rc, [fault_filter(**fault)],
                                 hcm_extra={"access_log": [file_access_log(self.log_path, LOG_FORMAT)]})
        self.proc = remora(bootstrap([listener],
                                     [static_cluster(n, [b.port]) for n, b in self.backends.items()],
                                     admin_port))

    @property
    def backend(self):
        return self.backends["b1"]

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path="/", headers=None, timeout=5.0):
        lines = [f"{name}: {value}" for name, value in (headers or {}).items()]
        resp = curl(self.url(path), headers=lines, timeout=timeout)
        assert resp is not None, "no response\n" + self.proc.log()
        return resp

    def log_lines(self, n):
        return read_log_lines(self.log_path, n)


def test_abort_answers_locally_with_fi(remora, http_backends, tmp_path):
    s = Setup(remora, http_backends, tmp_path, {"abort": {"http_status": 503, "percentage": percent(100)}})
    for i in range(3):
        resp = s.get(f"/a/{i}")
        assert resp.status == 503
        assert resp.body == "fault filter abort"
        assert resp.headers["content-type"] == "text/plain"
    lines = s.log_lines(3)
    assert lines == [f"503 FI fault_filter_abort /a/{i}" for i in range(3)]
    stats = s.proc.stats()
    assert stats["http.ingress_http.fault.aborts_injected"] == 3
    assert stats["http.ingress_http.fault.delays_injected"] == 0
    assert stats["http.ingress_http.downstream_rq_5xx"] == 3
    assert stats["http.ingress_http.fault.active_faults"] == 0
    assert s.backend.requests == []


def test_delay_holds_the_request_then_forwards_it(remora, http_backends, tmp_path):
    s = Setup(remora, http_backends, tmp_path, {"delay": {"fixed_delay": "0.4s", "percentage": percent(100)}})
    started = time.monotonic()
    resp = s.get("/slow")
    elapsed = time.monotonic() - started
    assert resp.status == 200
    assert elapsed >= 0.4, elapsed
    assert json.loads(resp.body)["path"] == "/slow"
    assert s.log_lines(1) == ["200 DI via_upstream /slow"]
    stats = s.proc.stats()
    assert stats["http.ingress_http.fault.delays_injected"] == 1
    assert stats["http.ingress_http.fault.active_faults"] == 0


def test_delay_then_abort(remora, http_backends, tmp_path):
    s = Setup(remora, http_backends, tmp_path, {
        "delay": {"fixed_delay": "0.3s", "percentage": percent(100)},
        "abort": {"http_status": 502, "percentage": percent(100)},
    })
    started = time.monotonic()
    resp = s.get()
    assert resp.status == 502
    assert time.monotonic() - started >= 0.3
    assert s.log_lines(1) == ["502 DI,FI fault_filter_abort /"]
    assert s.backend.requests == []


def test_abort_percentage_within_bounds(remora, http_backends, tmp_path):
    # 50% of 400: the binomial standard deviation is 10, the bounds are 6 of them.
    s = Setup(remora, http_backends, tmp_path, {"abort": {"http_status": 503, "percentage": percent(50)}})
    counts = hey(s.url(), 400, concurrency=4)
    assert set(counts) <= {200, 503}, counts
    assert 140 <= counts.get(503, 0) <= 260, counts
    stats = s.proc.stats()
    assert stats["http.ingress_http.fault.aborts_injected"] == counts[503]
    assert len(s.backend.requests) == counts[200]


def test_delay_percentage_per_million(remora, http_backends, tmp_path):
    # A MILLION denominator: 0.25 expressed as 250000/1000000.
    s = Setup(remora, http_backends, tmp_path,
              {"delay": {"fixed_delay": "0.001s", "percentage": percent(250000, "MILLION")}})
    counts = hey(s.url(), 400, concurrency=4)
    assert counts == {200: 400}, counts
    delayed = s.proc.stat("http.ingress_http.fault.delays_injected")
    assert 55 <= delayed <= 145, delayed


def test_header_controlled_faults(remora, http_backends, tmp_path):
    s = Setup(remora, http_backends, tmp_path, {
        "abort": {"header_abort": {}, "percentage": percent(100)},
        "delay": {"header_delay": {}, "percentage": percent(100)},
    })
    # No fault headers: no fault.
    assert s.get().status == 200
    assert s.get(headers={"x-envoy-fault-abort-request": "429"}).status == 429
    # Out of range, or a percentage of 0: no abort.
    assert s.get(headers={"x-envoy-fault-abort-request": "99"}).status == 200
    assert s.get(headers={"x-envoy-fault-abort-request": "500",
                          "x-envoy-fault-abort-request-percentage": "0"}).status == 200
    started = time.monotonic()
    resp = s.get(headers={"x-envoy-fault-delay-request": "300"})
    assert resp.status == 200 and time.monotonic() - started >= 0.3
    # A gRPC abort answers 200; to a gRPC request, as a trailers-only gRPC response.
    plain = s.get(headers={"x-envoy-fault-abort-grpc-request": "14"})
    assert plain.status == 200 and plain.body == "fault filter abort"
    grpc = s.get(headers={"x-envoy-fault-abort-grpc-request": "14", "content-type": "application/grpc"})
    assert grpc.status == 200
    assert grpc.headers["grpc-status"] == "14"
    assert grpc.headers["grpc-message"] == "fault filter abort"
    assert grpc.headers["content-type"] == "application/grpc"
    assert grpc.body == ""
    lines = s.log_lines(7)
    assert [line.split()[:2] for line in lines] == [
        ["200", "-"], ["429", "FI"], ["200", "-"], ["200", "-"], ["200", "DI"], ["200", "FI"],
        ["200", "FI"]]
    stats = s.proc.stats()
    assert stats["http.ingress_http.fault.aborts_injected"] == 3
    assert stats["http.ingress_http.fault.delays_injected"] == 1
    assert len(s.backend.requests) == 4


def test_fault_headers_are_ignored_unless_enabled(remora, http_backends, tmp_path):
    s = Setup(remora, http_backends, tmp_path, {"abort": {"http_status": 503, "percentage": percent(0)}})
    resp = s.get(headers={"x-envoy-fault-abort-request": "429", "x-envoy-fault-delay-request": "2000",
                          "x-envoy-fault-abort-request-percentage": "100"})
    assert resp.status == 200
    assert s.proc.stat("http.ingress_http.fault.aborts_injected") == 0


def test_per_route_override(remora, http_backends, tmp_path):
    routes = [
        route({"prefix": "/nofault"}, "b1", typed_per_filter_config=per_route_fault()),
        route({"prefix": "/teapot"}, "b1", typed_per_filter_config=per_route_fault(
            abort={"http_status": 418, "percentage": percent(100)})),
        route({"prefix": "/"}, "b1"),
    ]
    s = Setup(remora, http_backends, tmp_path, {"abort": {"http_status": 503, "percentage": percent(100)}},
              routes=routes)
    assert s.get("/nofault").status == 200
    assert s.get("/teapot").status == 418
    assert s.get("/other").status == 503
    # Stats stay the filter's whichever settings applied.
    assert s.proc.stat("http.ingress_http.fault.aborts_injected") == 2
    assert [r["path"] for r in s.backend.requests] == ["/nofault"]


def test_virtual_host_override(remora, http_backends, tmp_path):
    listener_port, admin_port = free_ports(2)
    backend = http_backends("b1")
    rc = {"virtual_hosts": [
        vhost("calm", ["calm.test"], [route(cluster="b1")], typed_per_filter_config=per_route_fault()),
        vhost("all", ["*"], [route(cluster="b1")]),
    ]}
    listener = http_listener("http", listener_port, rc,
                             [fault_filter(abort={"http_status": 500, "percentage": percent(100)})])
    proc = remora(bootstrap([listener], [static_cluster("b1", [backend.port])], admin_port))
    url = f"http://127.0.0.1:{listener_port}/"
    assert curl(url, headers=["host: calm.test"]).status == 200
    assert curl(url, headers=["host: other.test"]).status == 500
    assert proc.stat("http.ingress_http.fault.aborts_injected") == 1


def test_selectors(remora, http_backends, tmp_path):
    abort = {"http_status": 503, "percentage": percent(100)}
    routes = [route({"prefix": "/two"}, "b2"), route({"prefix": "/"}, "b1")]
    s = Setup(remora, http_backends, tmp_path, {
        "abort": abort, "upstream_cluster": "b2", "downstream_nodes": ["n1"],
        "headers": [{"name": "x-chaos", "string_match": {"exact": "yes"}}]}, routes=routes,
        clusters=("b1", "b2"))
    selected = {"x-chaos": "yes", "x-envoy-downstream-service-node": "n1"}
    assert s.get("/two", headers=selected).status == 503
    assert s.get("/one", headers=selected).status == 200  # another cluster
    assert s.get("/two", headers={**selected, "x-chaos": "no"}).status == 200
    assert s.get("/two", headers={"x-chaos": "yes"}).status == 200  # no node
    assert s.get("/two", headers={**selected, "x-envoy-downstream-service-node": "n2"}).status == 200
    assert s.proc.stat("http.ingress_http.fault.aborts_injected") == 1


def test_downstream_cluster_stats(remora, http_backends, tmp_path):
    s = Setup(remora, http_backends, tmp_path, {
        "abort": {"http_status": 503, "percentage": percent(100)},
        "delay": {"fixed_delay": "0.001s", "percentage": percent(100)}})
    s.get(headers={"x-envoy-downstream-service-cluster": "frontend"})
    s.get(headers={"x-envoy-downstream-service-cluster": "frontend"})
    s.get()
    stats = s.proc.stats()
    assert stats["http.ingress_http.fault.frontend.aborts_injected"] == 2
    assert stats["http.ingress_http.fault.frontend.delays_injected"] == 2
    assert stats["http.ingress_http.fault.aborts_injected"] == 3


def test_downstream_cluster_stats_can_be_disabled(remora, http_backends, tmp_path):
    s = Setup(remora, http_backends, tmp_path, {
        "abort": {"http_status": 503, "percentage": percent(100)}, "disable_downstream_cluster_stats": True})
    s.get(headers={"x-envoy-downstream-service-cluster": "frontend"})
    stats = s.proc.stats()
    assert "http.ingress_http.fault.frontend.aborts_injected" not in stats
    assert stats["http.ingress_http.fault.aborts_injected"] == 1


def test_max_active_faults_overflow(remora, http_backends, tmp_path):
    s = Setup(remora, http_backends, tmp_path, {
        "delay": {"fixed_delay": "2.5s", "percentage": percent(100)}, "max_active_faults": 1})
    first = {}

    def slow():
        started = time.monotonic()
        first["resp"] = curl(s.url("/first"))
        first["elapsed"] = time.monotonic() - started

    t = threading.Thread(target=slow)
    t.start()
    try:
        s.proc.wait_stat("http.ingress_http.fault.active_faults", lambda v: v == 1)
        started = time.monotonic()
        resp = s.get("/second")
        assert resp.status == 200
        assert time.monotonic() - started < 2.0  # not delayed: the one active fault is the limit
        assert s.proc.stat("http.ingress_http.fault.faults_overflow") == 1
    finally:
        t.join(10)
    assert first["resp"].status == 200 and first["elapsed"] >= 2.5
    lines = s.log_lines(2)
    assert lines == ["200 - via_upstream /second", "200 DI via_upstream /first"]
    s.proc.wait_stat("http.ingress_http.fault.active_faults", lambda v: v == 0)


def test_client_leaving_mid_delay_cancels_it(remora, http_backends, tmp_path):
    s = Setup(remora, http_backends, tmp_path, {
        "delay": {"fixed_delay": "5s", "percentage": percent(100)},
        "headers": [{"name": "x-slow", "present_match": True}]})
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    try:
        sock.sendall(b"GET /gone HTTP/1.1\r\nhost: x\r\nx-slow: 1\r\n\r\n")
        s.proc.wait_stat("http.ingress_http.fault.active_faults", lambda v: v == 1)
    finally:
        sock.close()
    # The stream is torn down at once: the gauge drops well before the delay would have ended.
    started = time.monotonic()
    s.proc.wait_stat("http.ingress_http.fault.active_faults", lambda v: v == 0, timeout=3.5)
    assert time.monotonic() - started < 3.5
    line = s.log_lines(1)[0]
    assert line.split()[1] == "DI,DC", line
    # The timer never fires into the finished stream: the request never reaches the backend.
    assert s.get("/after").status == 200
    assert [r["path"] for r in s.backend.requests] == ["/after"]


def test_delayed_request_body_is_forwarded(remora, http_backends, tmp_path):
    s = Setup(remora, http_backends, tmp_path, {"delay": {"fixed_delay": "0.2s", "percentage": percent(100)}})
    body = b"x" * 200_000
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    try:
        sock.sendall(b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    finally:
        sock.close()
    assert data.startswith(b"HTTP/1.1 200")
    received = s.backend.wait_requests(1)[0]
    assert received["body_bytes"] == len(body)


def test_response_rate_limit_throttles_the_body(remora, http_backends, tmp_path):
    # 64 KiB/s: the first second's worth leaves at once (Envoy's bucket starts full), the rest at
    # the rate; 192 KiB therefore takes about two seconds.
    s = Setup(remora, http_backends, tmp_path, {
        "response_rate_limit": {"fixed_limit": {"limit_kbps": 64}, "percentage": percent(100)}})
    started = time.monotonic()
    resp = s.get(headers={"x-backend-body-bytes": str(192 * 1024)}, timeout=10)
    elapsed = time.monotonic() - started
    # curl fails on a short body, so a response means all of content-length arrived.
    assert resp.status == 200
    assert int(resp.headers["content-length"]) == 192 * 1024
    assert 1.7 <= elapsed <= 6.0, elapsed
    stats = s.proc.stats()
    assert stats["http.ingress_http.fault.response_rl_injected"] == 1
    assert stats["http.ingress_http.fault.active_faults"] == 0


def test_response_rate_limit_from_header(remora, http_backends, tmp_path):
    s = Setup(remora, http_backends, tmp_path, {
        "response_rate_limit": {"header_limit": {}, "percentage": percent(100)}})
    # Without the header there is nothing to limit.
    assert s.get(headers={"x-backend-body-bytes": str(64 * 1024)}).status == 200
    assert s.proc.stat("http.ingress_http.fault.response_rl_injected") == 0
    started = time.monotonic()
    slow = s.get(headers={"x-backend-body-bytes": str(48 * 1024), "x-envoy-fault-throughput-response": "16"})
    assert slow.status == 200
    assert time.monotonic() - started >= 1.5  # 16 KiB at once, then 32 KiB at 16 KiB/s
    assert s.proc.stat("http.ingress_http.fault.response_rl_injected") == 1


def test_unsupported_field_is_rejected(remora, tmp_path):
    from conftest import run_remora
    port, admin_port = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="b1")])]}
    listener = http_listener("http", port, rc, [fault_filter(filter_metadata={"k": "v"})])
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(bootstrap([listener], [static_cluster("b1", [1])], admin_port)))
    result = run_remora(["--mode", "validate", "-c", str(config)])
    assert result.returncode != 0
    assert "not supported by remora" in result.stdout + result.stderr
    assert "filter_metadata" in result.stdout + result.stderr
