"""WebSocket through the connection manager's upgrade_configs: a real RFC 6455 client and echo
server talk through remora (text and a 1 MiB binary message, half-close both ways); a 101 turns
the connection into bytes both ways, anything else is an ordinary response; upgrades the HCM or
the route does not allow get Envoy's 403; the upgrade stats count it all."""

import hashlib
import os
import socket
import time

import pytest

from conftest import (MiB, SANITIZED, bootstrap, free_ports, pattern_digest, recv_all,
                      static_cluster, wait_until)
from http_harness import (WS_BINARY, WS_CLOSE, WS_TEXT, WsEchoServer, http_listener, route,
                          vhost, ws_connect, ws_frame, ws_frame_header, ws_read_frame)

PREFIX = "http.ws."


@pytest.fixture
def ws_server():
    server = WsEchoServer()
    yield server
    server.close()


def start(remora, ws_port, hcm_extra=None, routes=None):
    listener_port, admin_port = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=routes or [route(cluster="ws")])]}
    proc = remora(bootstrap(
        [http_listener("ws", listener_port, rc, hcm_extra={"stat_prefix": "ws", **(hcm_extra or {})})],
        [static_cluster("ws", [ws_port])], admin_port))
    return proc, listener_port


WEBSOCKET = {"upgrade_configs": [{"upgrade_type": "websocket"}]}


def test_text_and_binary_messages_round_trip(remora, ws_server):
    proc, port = start(remora, ws_server.port, WEBSOCKET)
    sock, status, headers = ws_connect(port, host="chat.example.com")
    with sock:
        assert status == 101, headers
        assert headers["upgrade"].lower() == "websocket"
        assert headers["connection"].lower() == "upgrade"
        assert proc.stat(PREFIX + "downstream_cx_upgrades_active") == 1
        # The upstream saw the upgrade with its headers (Host, key, version) intact.
        line, seen = ws_server.handshakes[0]
        assert line == "GET /ws HTTP/1.1"
        assert seen["host"] == "chat.example.com"
        assert seen["upgrade"].lower() == "websocket" and "upgrade" in seen["connection"].lower()
        assert seen["sec-websocket-version"] == "13"

        sock.sendall(ws_frame(WS_TEXT, "héllo, remora".encode(), mask=True))
        assert ws_read_frame(sock) == (WS_TEXT, "héllo, remora".encode())

        big = os.urandom(1 << 20)
        sock.sendall(ws_frame(WS_BINARY, big, mask=True))
        opcode, echoed = ws_read_frame(sock)
        assert opcode == WS_BINARY
        assert hashlib.sha256(echoed).hexdigest() == hashlib.sha256(big).hexdigest()

        sock.sendall(ws_frame(WS_CLOSE, b"\x03\xe8", mask=True))
        assert ws_read_frame(sock) == (WS_CLOSE, b"\x03\xe8")
        sock.settimeout(10)
        assert sock.recv(1) == b""  # the server closed; remora passes the close on
    assert not ws_server.errors, ws_server.errors
    proc.wait_stat(PREFIX + "downstream_cx_upgrades_active", lambda v: v == 0)
    stats = proc.stats()
    assert stats[PREFIX + "downstream_cx_upgrades_total"] == 1
    assert stats[PREFIX + "downstream_rq_1xx"] == 1
    assert stats["cluster.ws.upstream_rq_101"] == 1
    # Never returned to the pool: the upgraded connection closed with the tunnel.
    proc.wait_stat("cluster.ws.upstream_cx_active", lambda v: v == 0)


def test_half_close_passes_both_ways(remora, ws_server):
    proc, port = start(remora, ws_server.port, WEBSOCKET)
    sock, status, _ = ws_connect(port)
    with sock:
        assert status == 101
        sock.sendall(ws_frame(WS_TEXT, b"last words", mask=True))
        sock.shutdown(socket.SHUT_WR)
        # Our FIN reached the server (it answers EOF with "bye"), and its direction stayed open
        # until it had said everything.
        assert ws_read_frame(sock) == (WS_TEXT, b"last words")
        assert ws_read_frame(sock) == (WS_TEXT, b"bye")
        sock.settimeout(10)
        assert sock.recv(1) == b""
    assert not ws_server.errors, ws_server.errors
    proc.wait_stat(PREFIX + "downstream_cx_upgrades_active", lambda v: v == 0)
    assert proc.stat(PREFIX + "downstream_rq_completed") == 1


def test_without_upgrade_config_the_upgrade_is_refused(remora, ws_server):
    proc, port = start(remora, ws_server.port)
    sock, status, headers = ws_connect(port)
    with sock:
        assert status == 403, headers
        assert headers["connection"] == "close"
        sock.settimeout(10)
        while sock.recv(65536):
            pass
    assert ws_server.handshakes == []  # never reached the upstream
    stats = proc.stats()
    assert stats[PREFIX + "downstream_rq_ws_on_non_ws_route"] == 1
    assert stats[PREFIX + "downstream_cx_upgrades_total"] == 0


def test_route_upgrade_configs_override_the_hcm(remora, ws_server):
    disabled_hcm = {"upgrade_configs": [{"upgrade_type": "websocket", "enabled": False}]}
    routes = [
        route({"prefix": "/on"}, cluster="ws", upgrade_configs=[{"upgrade_type": "WebSocket"}]),
        route({"prefix": "/"}, cluster="ws"),
    ]
    proc, port = start(remora, ws_server.port, disabled_hcm, routes)
    sock, status, _ = ws_connect(port, path="/off")
    sock.close()
    assert status == 403
    sock, status, _ = ws_connect(port, path="/on")
    with sock:
        assert status == 101
        sock.sendall(ws_frame(WS_TEXT, b"ping", mask=True))
        assert ws_read_frame(sock) == (WS_TEXT, b"ping")

    routes = [
        route({"prefix": "/off"}, cluster="ws",
              upgrade_configs=[{"upgrade_type": "websocket", "enabled": False}]),
        route({"prefix": "/"}, cluster="ws"),
    ]
    proc, port = start(remora, ws_server.port, WEBSOCKET, routes)
    sock, status, _ = ws_connect(port, path="/off")
    sock.close()
    assert status == 403
    sock, status, _ = ws_connect(port, path="/x")
    sock.close()
    assert status == 101
    assert proc.stat(PREFIX + "downstream_rq_ws_on_non_ws_route") == 1


def test_upstream_refusing_the_upgrade_is_an_ordinary_response(remora, http_backends):
    backend = http_backends("plain")  # an HTTP server that knows nothing of WebSocket
    proc, port = start(remora, backend.port, WEBSOCKET)
    sock, status, headers = ws_connect(port, path="/not-a-socket")
    with sock:
        assert status == 200, headers
        assert headers["connection"] == "close"
        assert "upgrade" not in headers
        sock.settimeout(10)
        while sock.recv(65536):  # the body, then the close the refused upgrade implies
            pass
    assert backend.requests[0]["path"] == "/not-a-socket"
    seen = backend.requests[0]["headers"]
    assert seen["upgrade"] == "websocket"
    stats = proc.stats()
    assert stats[PREFIX + "downstream_cx_upgrades_total"] == 1
    assert stats[PREFIX + "downstream_rq_2xx"] == 1
    wait_until(lambda: proc.stat(PREFIX + "downstream_cx_upgrades_active") == 0, 5,
               what="upgrade no longer active")


def test_plain_requests_still_work_on_a_websocket_listener(remora, http_backends):
    backend = http_backends("plain")
    proc, port = start(remora, backend.port, WEBSOCKET)
    # An Upgrade header without "Connection: upgrade" is no upgrade: it is stripped.
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    with sock:
        sock.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n"
                     b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: len(backend.requests) == 2, 10, what="both requests")
    assert "upgrade" not in backend.requests[0]["headers"]
    assert proc.stat(PREFIX + "downstream_cx_upgrades_total") == 0


def test_slow_client_backpressures_the_upstream(remora, ws_server):
    """A client that stops reading stalls the server's sending (remora pauses reading the
    upstream at its buffer limit instead of buffering the message); once it reads again all of
    it arrives intact, and remora's memory stays bounded."""
    proc, port = start(remora, ws_server.port, WEBSOCKET)
    total = 128 * MiB
    sock, status, _ = ws_connect(port)
    with sock:
        assert status == 101
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(ws_frame(WS_TEXT, f"flood {total}".encode(), mask=True))

        # Poll until the server's progress stops moving: it is blocked on a full path.
        last = {"sent": -1, "since": time.monotonic()}

        def stalled():
            sent = ws_server.flood_sent
            now = time.monotonic()
            if sent != last["sent"]:
                last.update(sent=sent, since=now)
                return False
            return sent > 0 and now - last["since"] > 0.5
        wait_until(stalled, 20, interval=0.05, what="the flood to stall")
        assert ws_server.flood_sent < total // 2, ws_server.flood_sent

        header = ws_frame_header(WS_BINARY, total, mask=False)
        assert sock.recv(len(header), socket.MSG_WAITALL) == header
        digest, count = recv_all(sock, limit=total)
        assert count == total
        assert digest == pattern_digest(total, seed=9)
        sock.sendall(ws_frame(WS_CLOSE, b"", mask=True))
        assert ws_read_frame(sock) == (WS_CLOSE, b"")
    if not SANITIZED:
        hwm = proc.vm_hwm_kib()
        assert hwm < 64 * 1024, f"remora peak RSS {hwm} KiB"


def test_client_vanishing_tears_the_tunnel_down(remora, ws_server):
    proc, port = start(remora, ws_server.port, WEBSOCKET)
    sock, status, _ = ws_connect(port)
    assert status == 101
    sock.sendall(ws_frame(WS_TEXT, b"hi", mask=True))
    assert ws_read_frame(sock) == (WS_TEXT, b"hi")
    # An abortive close (RST), not a goodbye.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()
    proc.wait_stat(PREFIX + "downstream_cx_upgrades_active", lambda v: v == 0)
    proc.wait_stat("cluster.ws.upstream_cx_active", lambda v: v == 0)
    # remora is fine: the next tunnel works.
    sock, status, _ = ws_connect(port)
    with sock:
        assert status == 101
        sock.sendall(ws_frame(WS_TEXT, b"again", mask=True))
        assert ws_read_frame(sock) == (WS_TEXT, b"again")
    assert proc.stat(PREFIX + "downstream_cx_upgrades_total") == 2
