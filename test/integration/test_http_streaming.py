"""HTTP bodies stream through remora with bounded memory: 1 GiB uploads (Content-Length and
chunked) and a 1 GiB download, byte-identical by sha256 at both ends, with peak RSS (VmHWM,
release build) under 64 MiB; and a client reading a download at a trickle makes remora stop
reading the upstream instead of buffering (watermarks), after which the transfer completes."""

import hashlib
import json
import time
from pathlib import Path

import pytest

from conftest import BIG, MiB, SANITIZED, pattern, pattern_digest, send_pattern, wait_until
from http_harness import RawHttp, RawRequestReader, raw_response, single_route_proxy

RSS_LIMIT_KIB = 64 * 1024


def assert_rss_bounded(proc):
    if SANITIZED:
        return  # ASan's shadow memory and quarantine make RSS meaningless
    hwm = proc.vm_hwm_kib()
    print(f"remora VmHWM {hwm} KiB")
    assert hwm < RSS_LIMIT_KIB, f"remora peak RSS {hwm} KiB >= {RSS_LIMIT_KIB} KiB"


def vm_rss_kib(proc):
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def send_chunked_pattern(sock, nbytes, seed, chunk=MiB):
    """Sends nbytes of pattern(seed) as chunked coding, one chunk per piece; returns the sha256
    of the payload (framing excluded)."""
    data = pattern(seed)
    h = hashlib.sha256()
    offset = 0
    remaining = nbytes
    while remaining:
        n = min(chunk, remaining)
        view = data[offset:offset + n]
        sock.sendall(b"%x\r\n" % n)
        sock.sendall(view)
        sock.sendall(b"\r\n")
        h.update(view)
        offset = (offset + n) % (len(data) // 2)
        remaining -= n
    sock.sendall(b"0\r\n\r\n")
    return h.hexdigest()


@pytest.mark.parametrize("framing", ["content_length", "chunked"])
def test_upload_1gib(remora, http_backends, framing):
    backend = http_backends("sink")
    proc, port = single_route_proxy(remora, backend)
    with RawHttp(port, timeout=120) as c:
        if framing == "chunked":
            c.send(b"POST /up HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n")
            sent = send_chunked_pattern(c.sock, BIG, seed=21, chunk=MiB + 3)
        else:
            c.send(b"POST /up HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n" % BIG)
            sent = send_pattern(c.sock, BIG, seed=21)
        resp = c.read_response()
    assert resp.status == 200, resp
    seen = json.loads(resp.body)
    assert seen["body_bytes"] == BIG
    assert seen["body_sha"] == sent
    assert_rss_bounded(proc)


def test_download_1gib(remora, http_backends):
    backend = http_backends("source")
    proc, port = single_route_proxy(remora, backend)
    with RawHttp(port, timeout=120) as c:
        c.send(b"GET /down HTTP/1.1\r\nHost: test\r\nx-backend-body-bytes: %d\r\n\r\n" % BIG)
        head = c.read_head()
        assert head.status == 200 and int(head.header("content-length")) == BIG, head
        digest, count = c.stream_body(BIG)
    assert count == BIG
    assert digest == pattern_digest(BIG, seed=2)
    assert_rss_bounded(proc)


def test_slow_client_does_not_make_remora_buffer(remora, http_backends):
    """The client reads 4 KiB every 10 ms for three seconds. Remora must stop reading the
    upstream (its write buffer to the client is above the watermark) rather than take in the
    whole response: what it has received upstream stays within a few MiB of what the client has
    read (socket buffers plus its 1 MiB per-connection buffers), and its RSS does not grow."""
    size = 256 * MiB
    backend = http_backends("trickle")
    proc, port = single_route_proxy(remora, backend)
    with RawHttp(port, timeout=120) as c:
        c.send(b"GET /slow HTTP/1.1\r\nHost: test\r\nx-backend-body-bytes: %d\r\n\r\n" % size)
        head = c.read_head()
        assert head.status == 200, head
        rss_before = vm_rss_kib(proc)
        box = {"gap": 0, "rss": rss_before}
        deadline = time.monotonic() + 3.0

        def trickle(count):
            if time.monotonic() < deadline:
                time.sleep(0.01)  # the slow client's pace
                if count % (64 * 1024) < 4096:
                    received = proc.stat("cluster.trickle.upstream_cx_rx_bytes_total") or 0
                    box["gap"] = max(box["gap"], received - count)
                    box["rss"] = max(box["rss"], vm_rss_kib(proc))

        # Read the whole body: slow for three seconds, then at full speed; verify it all.
        digest, total = c.stream_body(size, chunk=4096, pace=trickle)
    assert total == size and digest == pattern_digest(size, seed=2)
    # The gap between what remora took from the upstream and what the client has read is bounded
    # by buffers, not by the response size.
    print(f"max read-ahead {box['gap']} bytes, RSS {rss_before} -> {box['rss']} KiB")
    assert box["gap"] < 16 * MiB, f"remora read {box['gap']} bytes ahead of the slow client"
    if not SANITIZED:
        assert box["rss"] - rss_before < 16 * 1024, (rss_before, box["rss"])
        assert_rss_bounded(proc)


def test_slow_upstream_does_not_make_remora_buffer_the_upload(remora, backends):
    """The upstream reads the request body at a trickle for three seconds: remora stops reading
    the client (the upstream connection's write buffer is above its watermark) instead of taking
    in the upload, and the body still arrives intact."""
    size = 128 * MiB
    box = {"gap": 0}

    def handler(conn):
        reader = RawRequestReader(conn)
        method, path, headers = reader.read_head()
        remaining = int(dict(headers)["content-length"])
        h = hashlib.sha256(bytes(reader.buf))
        remaining -= len(reader.buf)
        deadline = time.monotonic() + 3.0
        while remaining:
            slow = time.monotonic() < deadline
            data = conn.recv(min(4096 if slow else MiB, remaining))
            if not data:
                break
            h.update(data)
            remaining -= len(data)
            if slow:
                time.sleep(0.01)  # the slow upstream's pace
                stats = box["proc"].stats()
                gap = (stats["http.ingress_http.downstream_cx_rx_bytes_total"]
                       - stats["cluster.backend.upstream_cx_tx_bytes_total"])
                box["gap"] = max(box["gap"], gap)
        body = json.dumps({"sha": h.hexdigest(), "missing": remaining}).encode()
        conn.sendall(raw_response(body=body))
    backend = backends(handler)
    proc, port = single_route_proxy(remora, backend)
    box["proc"] = proc
    with RawHttp(port, timeout=120) as c:
        c.send(b"POST /up HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n" % size)
        sent = send_pattern(c.sock, size, seed=23)
        resp = c.read_response()
    assert resp.status == 200, resp
    assert json.loads(resp.body) == {"sha": sent, "missing": 0}
    print(f"max upload bytes held in remora {box['gap']}")
    assert box["gap"] < 4 * MiB, f"remora held {box['gap']} bytes of the upload"
    assert_rss_bounded(proc)


def test_client_gone_mid_download_resets_the_upstream(remora, http_backends, tmp_path):
    """A client that reads the first MiB of a large download and disconnects: the upstream
    request is reset (its connection closed with the request active), logged 200 DC."""
    backend = http_backends("abandoned")
    log = tmp_path / "access.log"
    proc, port = single_route_proxy(remora, backend, hcm_extra={"access_log": [{
        "name": "envoy.access_loggers.file", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": str(log),
            "log_format": {"text_format_source": {"inline_string": "%RESPONSE_CODE% %RESPONSE_FLAGS%\n"}}}}]})
    with RawHttp(port, timeout=60) as c:
        c.send(b"GET /big HTTP/1.1\r\nHost: test\r\nx-backend-body-bytes: %d\r\n\r\n" % (256 * MiB))
        assert c.read_head().status == 200
        _, count = c.stream_body(MiB)
        assert count == MiB
    proc.wait_stat("cluster.abandoned.upstream_cx_destroy_with_active_rq", lambda v: v == 1)
    wait_until(lambda: log.exists() and log.read_text() == "200 DC\n", 5, what="the DC log line")
    stats = proc.stats()
    assert stats["http.ingress_http.downstream_rq_active"] == 0
    assert stats["cluster.abandoned.upstream_rq_active"] == 0
    # Far less than the whole response went through remora.
    assert stats["cluster.abandoned.upstream_cx_rx_bytes_total"] < 64 * MiB
    assert_rss_bounded(proc)
