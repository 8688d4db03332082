"""gRPC end to end with real peers: a @grpc/grpc-js client and server (test/integration/grpc/,
npm packages installed by scripts/deps.sh into test/node) talk through remora over HTTP/2 on both
sides. Unary and all three streaming shapes keep every message intact, flow control holds a
client that writes faster than the server reads, trailers (grpc-status, grpc-message, custom and
binary metadata) pass end to end, a client's cancel mid-stream reaches the server and leaves the
connection serving, 200 concurrent calls share one channel, max_grpc_timeout caps the client's
deadline, retry_on unavailable hides one failure, and grpc_stats counts the calls."""

import json
import select
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import bootstrap, free_ports, static_cluster
from http_harness import http_listener, route, vhost
from test_http2_upstream import protocol_options

GRPC_DIR = Path(__file__).parent / "grpc"
NODE_MODULES = Path(__file__).parent.parent / "node" / "node_modules" / "@grpc" / "grpc-js"
GRPC_STATS_TYPE = "type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig"
SERVICE = "remora.test.Echo"

class GrpcServer:
    """server.js on a free port; ready once it prints the port it bound."""

    def __init__(self):
        assert NODE_MODULES.is_dir(), "@grpc/grpc-js is not installed: run scripts/deps.sh"
        self.proc = subprocess.Popen(["node", str(GRPC_DIR / "server.js"), "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline() if ready else ""
        assert line.startswith("{"), f"grpc server did not start: {line!r}"
        self.port = json.loads(line)["port"]

    def wait_event(self, key, timeout=10):
        """The next JSON line the server prints that has `key` (e.g. "cancelled"), or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], deadline - time.monotonic())
            if not ready:
                break
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("{") and key in json.loads(line):
                return json.loads(line)
        return None

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc.stdout.close()


@pytest.fixture
def grpc_server():
    servers = []

    def make():
        servers.append(GrpcServer())
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def grpc_client(port, mode, timeout=60, **opts):
    """One call by client.js through 127.0.0.1:port; returns its JSON result."""
    out = subprocess.run(["node", str(GRPC_DIR / "client.js"), f"127.0.0.1:{port}", mode,
                          json.dumps(opts)], capture_output=True, text=True, timeout=timeout)
    lines = out.stdout.strip().splitlines()
    assert out.returncode == 0 and lines, (out.stdout, out.stderr)
    return json.loads(lines[-1])


def grpc_proxy(remora, server, route_extra=None, http_filters=None, h2=None):
    """remora between client and server, HTTP/2 both sides (downstream by prior knowledge), with
    Http2ProtocolOptions `h2` on both; returns (proc, port)."""
    port, admin = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="up", **(route_extra or {}))])]}
    listener = http_listener("grpc", port, rc, http_filters=http_filters,
                             hcm_extra={"http2_protocol_options": h2 or {}})
    cluster = static_cluster("up", [server.port], **protocol_options("h2", h2=h2))
    return remora(bootstrap([listener], [cluster], admin)), port


CUSTOM_TRAILERS = {"x-echo-trailer": "trailer-value", "x-echo-trailer-bin": "000102feff"}


def test_unary_calls_keep_headers_and_trailers(remora, grpc_server):
    proc, port = grpc_proxy(remora, grpc_server())
    ok = grpc_client(port, "unary", seq=7, payload="hello through remora")
    assert ok["code"] == 0, ok
    assert ok["reply"] == {"seq": 7, "payload": "hello through remora"}
    assert ok["headers"]["x-echo-header"] == "header-value"
    assert ok["trailers"] == CUSTOM_TRAILERS

    # An error status: grpc-message (percent-encoded on the wire) and custom trailers intact.
    failed = grpc_client(port, "unary", metadata={"x-status": 5,
                                                       "x-message": quote("no such key: ü 100%")})
    assert failed["code"] == 5, failed
    assert failed["details"] == "no such key: ü 100%"
    assert {k: failed["trailers"][k] for k in CUSTOM_TRAILERS} == CUSTOM_TRAILERS

    stats = proc.stats()
    assert stats["http.ingress_http.downstream_cx_http2_total"] == 2
    assert stats["cluster.up.upstream_cx_http2_total"] == 1     # both calls on one connection
    assert stats["cluster.up.upstream_rq_200"] == 2


def test_server_streams_10000_messages(remora, grpc_server):
    proc, port = grpc_proxy(remora, grpc_server())
    result = grpc_client(port, "server-stream", count=10000, size=100)
    assert result["code"] == 0, result
    assert result["received"]["count"] == 10000 and result["inOrder"], result
    assert result["received"]["bytes"] == 10000 * 100
    assert result["trailers"] == CUSTOM_TRAILERS

    # A stream that ends in an error after its messages still delivers them and the status.
    failed = grpc_client(port, "server-stream", count=50, size=10,
                         metadata={"x-status": 9, "x-message": "stopped"})
    assert (failed["code"], failed["details"]) == (9, "stopped"), failed
    assert failed["trailers"]["x-echo-trailer"] == "trailer-value"


def test_client_streaming(remora, grpc_server):
    proc, port = grpc_proxy(remora, grpc_server())
    result = grpc_client(port, "client-stream", count=2000, size=1000)
    assert result["code"] == 0, result
    assert result["summary"] == result["sent"]
    assert result["summary"]["count"] == 2000
    assert result["trailers"] == CUSTOM_TRAILERS


def test_bidi_streaming_with_flow_control(remora, grpc_server):
    # Envoy's default windows are 256 MiB, which is how much a stream may pin in the proxy; with
    # 64 KiB stream windows a slow reader must hold the writer back through remora.
    windows = {"initial_stream_window_size": 65536, "initial_connection_window_size": 1048576}
    proc, port = grpc_proxy(remora, grpc_server(), h2=windows)
    grpc_client(port, "unary")          # the connections and their buffers exist
    hwm_before = proc.vm_hwm_kib()
    # 600 messages of 64 KiB, the server pausing after each: the client is held back by HTTP/2
    # flow control through remora, and every message comes back in order.
    result = grpc_client(port, "bidi", count=600, size=65536, metadata={"x-read-pause-ms": 2})
    assert result["code"] == 0, result
    assert result["received"] == result["sent"] and result["inOrder"], result
    assert result["received"]["bytes"] == 600 * 65536
    assert result["writeBlocked"] > 0, result
    assert result["trailers"] == CUSTOM_TRAILERS
    # Remora did not take in the 37.5 MiB each way faster than the peers read it.
    hwm_growth = proc.vm_hwm_kib() - hwm_before
    assert hwm_growth < 8 * 1024, hwm_growth

    # Large messages (3 MiB, under grpc-js's 4 MiB default limit) both ways.
    big = grpc_client(port, "bidi", count=12, size=3 * 1024 * 1024)
    assert big["code"] == 0, big
    assert big["received"] == big["sent"] and big["inOrder"], big
    stats = proc.stats()
    assert stats["cluster.up.upstream_cx_http2_total"] == 1
    assert stats.get("cluster.up.http2.rx_reset", 0) == 0
    assert stats.get("http2.rx_reset", 0) == 0


def test_client_cancel_mid_stream_resets_both_hops_and_the_connection_serves_on(remora,
                                                                               grpc_server):
    """The client cancels a server stream mid-way: RST_STREAM(CANCEL) reaches remora, which
    resets the upstream stream, so the server sees the cancel; the downstream and upstream
    connections stay and serve the next call."""
    server = grpc_server()
    proc, port = grpc_proxy(remora, server)
    # Far more than flow control lets through before the cancel: the stream is mid-way.
    result = grpc_client(port, "cancel-stream", count=1000000, size=100, cancelAfter=200)
    assert result["code"] == 1, result  # CANCELLED
    assert 200 <= result["received"] < 1000000, result
    assert result["after"] == {"code": 0, "seq": 1}, result
    assert server.wait_event("cancelled") == {"cancelled": "ServerStream"}
    proc.wait_stat("http.ingress_http.downstream_rq_rx_reset", lambda v: v == 1)
    stats = proc.stats()
    assert stats["http2.rx_reset"] == 1                   # the client's RST_STREAM
    assert stats["cluster.up.upstream_rq_tx_reset"] == 1  # remora's reset of the upstream stream
    assert stats["cluster.up.http2.tx_reset"] >= 1
    # Both calls on one downstream and one upstream connection.
    assert stats["http.ingress_http.downstream_cx_http2_total"] == 1
    assert stats["cluster.up.upstream_cx_http2_total"] == 1
    assert stats["http.ingress_http.downstream_rq_total"] == 2


def test_200_concurrent_unary_calls_on_one_channel(remora, grpc_server):
    proc, port = grpc_proxy(remora, grpc_server())
    result = grpc_client(port, "concurrent-unary", calls=200, size=512)
    assert result["failed"] == [] and result["ok"] == 200, result
    stats = proc.stats()
    assert stats["http.ingress_http.downstream_cx_http2_total"] == 1
    assert stats["http.ingress_http.downstream_rq_2xx"] == 200
    assert stats["cluster.up.upstream_rq_200"] == 200
    assert stats.get("http2.rx_reset", 0) == 0 and stats.get("http2.tx_reset", 0) == 0


def timed_out(result):
    """The call ended by a deadline: remora's timeout or the server's deadline."""
    if result["code"] == 14:
        return result["details"] == "upstream request timeout"
    return result["code"] == 4 and result["details"].startswith("Deadline exceeded")


def test_deadline_capped_by_max_grpc_timeout(remora, grpc_server):
    server = grpc_server()
    proc, port = grpc_proxy(remora, server, route_extra={"max_grpc_timeout": "0.3s"})
    # The server is told the capped deadline, not the client's 10 s.
    quick = grpc_client(port, "unary", deadlineMs=10000)
    assert quick["code"] == 0, quick
    assert 0 < int(quick["headers"]["x-deadline-ms"]) <= 300, quick

    # A server slower than the cap: the call ends at the cap, not at the client's 10 s, as in
    # Envoy a race between two timers on the same deadline: remora's (a 504, sent as a
    # trailers-only UNAVAILABLE) and grpc-js's server's, enforcing the grpc-timeout remora
    # rewrote (DEADLINE_EXCEEDED, passed through).
    slow = grpc_client(port, "unary", deadlineMs=10000, metadata={"x-delay-ms": 3000})
    assert timed_out(slow), slow
    assert 250 <= slow["elapsedMs"] < 2500, slow

    # A client deadline under the cap is what the server sees; the client gives up on its own
    # deadline (DEADLINE_EXCEEDED) or remora, timing the same deadline, answers UNAVAILABLE.
    short = grpc_client(port, "unary", deadlineMs=150)
    assert short["code"] == 0 and int(short["headers"]["x-deadline-ms"]) <= 150, short
    late = grpc_client(port, "unary", deadlineMs=150, metadata={"x-delay-ms": 3000})
    assert timed_out(late) and late["elapsedMs"] < 2500, late
    # Each UNAVAILABLE was remora's own timeout (the client may also give up just after one).
    remora_timeouts = [slow["code"], late["code"]].count(14)
    assert proc.stats().get("cluster.up.upstream_rq_timeout", 0) >= remora_timeouts


def test_retry_on_unavailable_hides_one_failure(remora, grpc_server):
    retry = {"retry_policy": {"retry_on": "unavailable", "num_retries": 2}}
    proc, port = grpc_proxy(remora, grpc_server(), route_extra=retry)
    result = grpc_client(port, "unary", payload="x",
                         metadata={"x-fail-key": "once", "x-fail-times": 1})
    assert result["code"] == 0, result
    assert result["reply"]["seq"] == 2            # the server's second attempt answered
    stats = proc.stats()
    assert stats["cluster.up.upstream_rq_retry"] == 1
    assert stats["cluster.up.upstream_rq_retry_success"] == 1

    # More failures than retries: the last UNAVAILABLE reaches the client with its message.
    result = grpc_client(port, "unary", metadata={"x-fail-key": "always", "x-fail-times": 5})
    assert (result["code"], result["details"]) == (14, "attempt 3 fails"), result
    assert proc.stat("cluster.up.upstream_rq_retry") == 3


def test_grpc_stats_count_calls_and_messages(remora, grpc_server):
    stats_filter = {"name": "envoy.filters.http.grpc_stats",
                    "typed_config": {"@type": GRPC_STATS_TYPE, "stats_for_all_methods": True,
                                     "enable_upstream_stats": True}}
    proc, port = grpc_proxy(remora, grpc_server(), http_filters=[stats_filter])
    for _ in range(2):
        assert grpc_client(port, "unary", payload="a")["code"] == 0
    assert grpc_client(port, "unary", metadata={"x-status": 5})["code"] == 5
    assert grpc_client(port, "server-stream", count=25, size=8)["code"] == 0
    assert grpc_client(port, "client-stream", count=7, size=8)["code"] == 0
    assert grpc_client(port, "bidi", count=4, size=8)["code"] == 0

    prefix = f"cluster.up.grpc.{SERVICE}."
    proc.wait_stat(prefix + "Bidi.total", lambda v: v == 1)
    stats = proc.stats()
    unary = prefix + "Unary."
    assert (stats[unary + "total"], stats[unary + "success"], stats[unary + "failure"]) == (3, 2, 1)
    assert (stats[unary + "0"], stats[unary + "5"]) == (2, 1)
    assert stats[unary + "request_message_count"] == 3
    assert stats[unary + "response_message_count"] == 2
    assert stats[prefix + "ServerStream.response_message_count"] == 25
    assert stats[prefix + "ServerStream.request_message_count"] == 1
    assert stats[prefix + "ClientStream.request_message_count"] == 7
    assert stats[prefix + "ClientStream.response_message_count"] == 1
    assert stats[prefix + "Bidi.request_message_count"] == 4
    assert stats[prefix + "Bidi.response_message_count"] == 4
    assert stats[prefix + "Bidi.success"] == 1
    assert unary + "upstream_rq_time" in stats
