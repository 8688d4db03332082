"""SIGTERM: stop accepting at once, let open connections finish within --drain-time-s, exit 0."""

import signal
import socket
import threading
import time

from conftest import (MiB, closed_by_peer, connect, echo_handler, is_listening, send_pattern,
                      simple_proxy_config, sink_handler, wait_until)


def refused(port):
    """True when a new connection is not accepted: refused, or reset because it was still in the
    accept queue of a listening socket being closed."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except (ConnectionRefusedError, ConnectionResetError):
        return True


def test_sigterm_drains_open_transfer_then_exits(remora, backends, ports):
    backend = backends(sink_handler())
    listener_port, admin_port = ports(2)
    proc = remora(simple_proxy_config(backend.port, listener_port, admin_port), "--drain-time-s", "5",
                  concurrency=2)
    total = 48 * MiB
    box = {}
    with connect(listener_port, timeout=30) as s:
        # A paced upload of ~1.5 s: the SIGTERM lands mid-transfer.
        def upload():
            box["sent"] = send_pattern(s, total, seed=31, pace=lambda: time.sleep(0.03))
            s.shutdown(socket.SHUT_WR)
            box["reply"] = s.makefile("rb").readline().decode().split()

        t = threading.Thread(target=upload, daemon=True)
        t.start()
        proc.wait_stat("cluster.backend.upstream_cx_active", lambda v: v == 1)
        wait_until(lambda: proc.stat("cluster.backend.upstream_cx_tx_bytes_total") >= MiB, 5,
                   what="transfer under way")

        term_at = time.monotonic()
        proc.signal(signal.SIGTERM)
        wait_until(lambda: refused(listener_port), 1.0, what="listener closed after SIGTERM")
        assert time.monotonic() - term_at < 1.0
        assert t.is_alive(), "transfer finished before SIGTERM; make it longer"
        assert proc.proc.poll() is None, "remora exited while a connection was open"
        ready = proc.get("/ready")  # admin stays up while draining, and says so
        assert (ready.status, ready.body.strip()) == (503, "DRAINING")

        t.join(30)
        assert not t.is_alive()
        done_at = time.monotonic()
    assert box["reply"] == [box["sent"], str(total)], "the draining connection lost data"
    rc = proc.wait_exit(3)
    assert rc == 0
    exit_after = time.monotonic() - done_at
    assert exit_after < 2.0, f"remora took {exit_after:.2f}s to exit after the last connection ended"
    assert time.monotonic() - term_at < 5.5


def test_sigterm_idle_connection_cut_after_drain_time(remora, backends, ports):
    backend = backends(echo_handler)
    listener_port, admin_port = ports(2)
    proc = remora(simple_proxy_config(backend.port, listener_port, admin_port), "--drain-time-s", "1")
    with connect(listener_port, timeout=10) as s:
        s.sendall(b"hi")
        assert s.recv(2) == b"hi"
        start = time.monotonic()
        proc.signal(signal.SIGTERM)
        rc = proc.wait_exit(5)
        elapsed = time.monotonic() - start
        assert rc == 0
        assert 0.8 <= elapsed <= 2.5, f"exit {elapsed:.2f}s after SIGTERM with --drain-time-s 1"
        assert closed_by_peer(s, timeout=2), "idle connection left open after remora exited"
    assert not is_listening(admin_port)


def test_sigterm_without_connections_exits_promptly(remora, backends, ports):
    backend = backends(echo_handler)
    listener_port, admin_port = ports(2)
    proc = remora(simple_proxy_config(backend.port, listener_port, admin_port), "--drain-time-s", "30")
    start = time.monotonic()
    proc.signal(signal.SIGTERM)
    assert proc.wait_exit(5) == 0
    assert time.monotonic() - start < 1.5
    assert not is_listening(listener_port)


def test_sigint_behaves_like_sigterm(remora, backends, ports):
    backend = backends(echo_handler)
    listener_port, admin_port = ports(2)
    proc = remora(simple_proxy_config(backend.port, listener_port, admin_port), "--drain-time-s", "1")
    proc.signal(signal.SIGINT)
    assert proc.wait_exit(5) == 0
