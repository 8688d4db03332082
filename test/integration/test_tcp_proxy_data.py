"""tcp_proxy data path: byte-identical payloads both ways, full duplex, half-close, and bounded
memory (VmHWM) under bulk transfer and a slow reader (backpressure)."""

import hashlib
import socket
import threading
import time

import pytest

from conftest import (BIG, MiB, SANITIZED, connect, duplex_handler, free_ports, recv_all,
                      recv_exactly, send_pattern, simple_proxy_config, sink_handler,
                      slow_reader_handler, source_handler, echo_handler)

RSS_LIMIT_KIB = 64 * 1024


def start_proxy(remora, backend, **kw):
    listener_port, admin_port = free_ports(2)
    proc = remora(simple_proxy_config(backend.port, listener_port, admin_port, **kw))
    return proc, listener_port


def assert_rss_bounded(proc):
    if SANITIZED:
        return  # ASan's shadow memory and quarantine make RSS meaningless
    hwm = proc.vm_hwm_kib()
    print(f"remora VmHWM {hwm} KiB")
    assert hwm < RSS_LIMIT_KIB, f"remora peak RSS {hwm} KiB >= {RSS_LIMIT_KIB} KiB"


@pytest.mark.parametrize("size", [MiB, BIG], ids=["1MiB", "1GiB"])
def test_upload_byte_identical(remora, backends, size):
    backend = backends(sink_handler())
    proc, port = start_proxy(remora, backend)
    with connect(port) as s:
        sent = send_pattern(s, size, seed=11)
        s.shutdown(socket.SHUT_WR)
        reply = s.makefile("rb").readline().decode().split()
    assert reply == [sent, str(size)]
    [result] = backend.wait_results(1)
    assert result == {"sha": sent, "bytes": size}
    if size == BIG:
        assert_rss_bounded(proc)


@pytest.mark.parametrize("size", [MiB, BIG], ids=["1MiB", "1GiB"])
def test_download_byte_identical(remora, backends, size):
    backend = backends(source_handler(size, seed=12))
    proc, port = start_proxy(remora, backend)
    with connect(port) as s:
        digest, count = recv_all(s)
        s.shutdown(socket.SHUT_WR)
    [result] = backend.wait_results(1)
    assert count == size
    assert digest == result["sent_sha"]
    if size == BIG:
        assert_rss_bounded(proc)


def test_full_duplex_byte_identical(remora, backends):
    size = BIG
    backend = backends(duplex_handler(size, seed=13))
    proc, port = start_proxy(remora, backend)
    with connect(port) as s:
        box = {}

        def sender():
            box["sent"] = send_pattern(s, size, seed=14)
            s.shutdown(socket.SHUT_WR)

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        digest, count = recv_all(s)
        t.join(120)
        assert not t.is_alive(), "upload did not finish"
    [result] = backend.wait_results(1)
    assert count == size and digest == result["sent_sha"], "download corrupted"
    assert result["rx_bytes"] == size and result["rx_sha"] == box["sent"], "upload corrupted"
    assert_rss_bounded(proc)


def test_slow_reader_backpressure_bounds_memory(remora, backends):
    """The backend reads 4 KiB every 10 ms for 3 s while the client pushes a big payload: remora
    must stop reading from the client instead of buffering, so its peak RSS stays small."""
    size = BIG
    backend = backends(slow_reader_handler(slow_seconds=3.0))
    proc, port = start_proxy(remora, backend)
    with connect(port) as s:
        sent = send_pattern(s, size, seed=15)
        s.shutdown(socket.SHUT_WR)
        reply = s.makefile("rb").readline().decode().split()
    assert reply == [sent, str(size)]
    assert_rss_bounded(proc)
    # remora paused reading from the client at least once (Envoy's flow-control counter).
    assert proc.stat("tcp.ingress_tcp.downstream_flow_control_paused_reading_total") >= 1


def test_slow_client_reader_bounds_memory(remora, backends):
    """The mirror case: the backend pushes a big payload, the client reads slowly at first."""
    size = BIG
    backend = backends(source_handler(size, seed=16))
    proc, port = start_proxy(remora, backend)
    with connect(port) as s:
        # Slow phase: a bounded number of small reads.
        h = hashlib.sha256()
        got = 0
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            data = s.recv(4096)
            assert data, "early EOF"
            h.update(data)
            got += len(data)
            time.sleep(0.01)
        buf = bytearray(MiB)
        mv = memoryview(buf)
        while True:
            n = s.recv_into(buf)
            if n == 0:
                break
            h.update(mv[:n])
            got += n
        s.shutdown(socket.SHUT_WR)
    [result] = backend.wait_results(1)
    assert got == size and h.hexdigest() == result["sent_sha"]
    assert_rss_bounded(proc)
    assert proc.stat("cluster.backend.upstream_flow_control_paused_reading_total") >= 1


def test_client_half_close_still_gets_reply(remora, backends):
    """Client shuts down its write side; the server sees EOF and its full reply still arrives."""
    backend = backends(sink_handler())
    proc, port = start_proxy(remora, backend)
    with connect(port) as s:
        sent = send_pattern(s, 100_000, seed=17)
        s.shutdown(socket.SHUT_WR)
        line = s.makefile("rb").readline().decode().split()
        assert line == [sent, "100000"]
        assert s.recv(1) == b"", "expected EOF after the reply"


def test_server_half_close_client_sees_eof_after_data_and_can_still_send(remora, backends):
    """Server sends then shuts down its write side first: the client reads all data then EOF, and
    what it sends afterwards still reaches the server."""
    size = 3 * MiB + 123
    backend = backends(source_handler(size, seed=18))
    proc, port = start_proxy(remora, backend)
    with connect(port) as s:
        digest, count = recv_all(s)  # returns on EOF
        assert count == size
        s.sendall(b"after-eof-payload")
        s.shutdown(socket.SHUT_WR)
    [result] = backend.wait_results(1)
    assert digest == result["sent_sha"]
    assert result["rx_bytes"] == len(b"after-eof-payload")


def test_echo_many_small_round_trips(remora, backends):
    backend = backends(echo_handler)
    proc, port = start_proxy(remora, backend)
    with connect(port) as s:
        for i in range(200):
            msg = f"ping {i}\n".encode()
            s.sendall(msg)
            assert recv_exactly(s, len(msg)) == msg
        s.shutdown(socket.SHUT_WR)
        assert s.recv(1) == b""
