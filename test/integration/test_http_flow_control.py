"""Request flow control on the way upstream, as Envoy's: a body that arrives while the upstream
connection is still being established waits in a buffer bounded by the stream's limit (the
listener's per_connection_buffer_limit_bytes); above it remora stops reading the client
(http.<prefix>.downstream_flow_control_paused_reading_total,
cluster.<name>.upstream_flow_control_backed_up_total), resumes once the connection is up, and
undoes the pause when the attempt fails. The same limit bounds the body copy kept for retries.

The slow connect is real: a loopback backend whose accept queue is full, so its SYNs are dropped
until the test lets it accept (conftest.StalledBackend)."""

import hashlib
import select
import socket

from conftest import BLOCK, MiB, bootstrap, free_ports, pattern, pattern_digest, static_cluster
from http_harness import RawHttp, RawRequestReader, http_listener, raw_response, route, vhost

KiB = 1 << 10
LIMIT = 64 * KiB  # the listener's per_connection_buffer_limit_bytes in these tests
UPLOAD = 64 * MiB
SEED = 31
PAUSED = "http.ingress_http.downstream_flow_control_paused_reading_total"
RESUMED = "http.ingress_http.downstream_flow_control_resumed_reading_total"
RX_BYTES = "http.ingress_http.downstream_cx_rx_bytes_total"


def start(remora, port, connect_timeout="30s", listener_limit=LIMIT, route_extra=None):
    listener_port, admin_port = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="slow", **(route_extra or {}))])]}
    listener = http_listener("http", listener_port, rc)
    if listener_limit is not None:
        listener["per_connection_buffer_limit_bytes"] = listener_limit
    cluster = static_cluster("slow", [port], connect_timeout=connect_timeout)
    return remora(bootstrap([listener], [cluster], admin_port)), listener_port


def upload_sink(conn):
    """Reads one request, streaming its Content-Length body into a digest; answers
    '<bytes> <sha256>'."""
    reader = RawRequestReader(conn)
    _, _, headers = reader.read_head()
    want = int(dict(headers)["content-length"])
    h = hashlib.sha256()
    got = bytes(reader.buf[:want])
    h.update(got)
    count = len(got)
    buf = bytearray(MiB)
    while count < want:
        n = conn.recv_into(buf, min(MiB, want - count))
        if n == 0:
            break
        h.update(memoryview(buf)[:n])
        count += n
    conn.sendall(raw_response(200, f"{count} {h.hexdigest()}".encode()))
    return {"bytes": count}


def send_range(sock, start, end, quiet=None):
    """Sends bytes [start, end) of pattern(SEED). With `quiet`, stops early once the socket has
    accepted nothing for that many seconds (its reader stopped reading). Returns where it
    stopped."""
    data = pattern(SEED)
    sock.setblocking(quiet is None)
    pos = start
    try:
        while pos < end:
            if quiet is not None and not select.select([], [sock], [], quiet)[1]:
                break
            offset = pos % BLOCK
            view = data[offset:offset + min(end - pos, BLOCK, 256 * KiB)]
            pos += sock.send(view)
    finally:
        sock.setblocking(True)
    return pos


def test_upload_to_a_connecting_upstream_pauses_the_client_then_completes(remora,
                                                                          stalled_backends):
    backend = stalled_backends(upload_sink)
    proc, port = start(remora, backend.port)
    with RawHttp(port, timeout=60) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * KiB)
        c.send(b"POST /up HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n" % UPLOAD)
        sent = send_range(c.sock, 0, UPLOAD, quiet=2.0)
        # Remora stopped reading once it held more than the listener's limit: what it took is
        # that limit and a read or two, not the upload (the rest waits in the kernels' buffers).
        assert sent < UPLOAD
        stats = proc.stats()
        assert stats[PAUSED] == 1 and stats.get(RESUMED, 0) == 0, stats
        assert stats["cluster.slow.upstream_flow_control_backed_up_total"] == 1
        assert stats[RX_BYTES] < 8 * LIMIT, stats[RX_BYTES]
        # The upstream accepts: what waited goes out, the client is read again, and the whole
        # upload arrives intact.
        backend.release()
        send_range(c.sock, sent, UPLOAD)
        resp = c.read_response()
    assert resp.status == 200, resp
    assert resp.body.decode() == f"{UPLOAD} {pattern_digest(UPLOAD, seed=SEED)}"
    stats = proc.stats()
    assert stats[RESUMED] == stats[PAUSED] >= 1
    assert (stats["cluster.slow.upstream_flow_control_drained_total"] ==
            stats["cluster.slow.upstream_flow_control_backed_up_total"])


def test_paused_upload_is_released_when_the_connect_fails(remora, stalled_backends):
    """The attempt ends (connect timeout, 503 UF) while the client is paused on its behalf: the
    pause is undone with it."""
    backend = stalled_backends(upload_sink)
    proc, port = start(remora, backend.port, connect_timeout="1s")
    with RawHttp(port, timeout=20) as c:
        c.send(b"POST /up HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n" % UPLOAD)
        send_range(c.sock, 0, 4 * MiB, quiet=0.0)  # what the kernel takes without waiting
        proc.wait_stat(PAUSED, lambda v: v == 1)
        resp = c.read_response()
    assert resp.status == 503, resp
    assert b"reset reason: connection timeout" in resp.body
    stats = proc.stats()
    assert stats["cluster.slow.upstream_cx_connect_timeout"] == 1
    assert stats["cluster.slow.upstream_flow_control_backed_up_total"] == 1
    assert stats["cluster.slow.upstream_flow_control_drained_total"] == 1
    assert stats[RESUMED] == 1


def test_listener_buffer_limit_bounds_the_retry_copy(remora, http_backends):
    """The stream's buffer limit is the listener's per_connection_buffer_limit_bytes: a body
    above it cannot be kept for a retry (Envoy then does not retry), one below it is replayed."""
    b1 = http_backends("b1")
    listener_port, admin_port = free_ports(2)
    policy = {"retry_on": "5xx", "num_retries": 1,
              "retry_back_off": {"base_interval": "0.001s", "max_interval": "0.002s"}}
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="b1", retry_policy=policy)])]}
    listener = http_listener("http", listener_port, rc)
    listener["per_connection_buffer_limit_bytes"] = LIMIT
    proc = remora(bootstrap([listener], [static_cluster("b1", [b1.port])], admin_port))

    def post(size, key):
        body = bytes(pattern(SEED)[:size])
        with RawHttp(listener_port) as c:
            c.send(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\nx-backend-status: 503"
                   b"\r\nx-backend-fail-times: 1\r\nx-backend-fail-key: %s\r\n\r\n" % (size, key)
                   + body)
            return c.read_response()

    assert post(LIMIT // 2, b"small").status == 200
    assert proc.stats()["cluster.b1.upstream_rq_retry"] == 1
    assert post(2 * LIMIT, b"big").status == 503
    assert proc.stats()["cluster.b1.upstream_rq_retry"] == 1
    assert b1.fail_counts == {"small": 2, "big": 1}
