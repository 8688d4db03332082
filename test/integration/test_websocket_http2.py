"""WebSocket over HTTP/2 (RFC 8441 extended CONNECT, Envoy's "Websocket over HTTP/2 hops"):
with allow_connect, remora advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and turns a :protocol
websocket CONNECT stream into the HTTP/1.1 Upgrade its WebSocket backend expects (the 101 going
back as a 200); toward an HTTP/2 cluster an HTTP/1.1 upgrade becomes an extended CONNECT (the
deployment in Envoy's docs: client -h1-> remora -h2-> remora -h1-> app). A real RFC 6455 echo
server answers every hop; the HTTP/2 side is driven with raw frames."""

import base64
import os
import socket
import struct

import pytest

from conftest import bootstrap, free_ports, static_cluster
from h2_frames import (DATA, END_STREAM, HEADERS, PROTOCOL_ERROR, RST_STREAM, SETTINGS, H2Conn,
                       frame, headers_frame)
from http_harness import (WS_BINARY, WS_CLOSE, WS_TEXT, WsEchoServer, http_listener, route,
                          vhost, ws_accept, ws_connect, ws_frame, ws_read_frame)

SETTINGS_ENABLE_CONNECT_PROTOCOL = 0x8
HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
WEBSOCKET = [{"upgrade_type": "websocket"}]


@pytest.fixture
def ws_server():
    server = WsEchoServer()
    yield server
    server.close()


def h2_cluster(name, port):
    return static_cluster(name, [port], typed_extension_protocol_options={HTTP_OPTIONS: {
        "@type": "type.googleapis.com/" + HTTP_OPTIONS,
        "explicit_http_config": {"http2_protocol_options": {}}}})


def start(remora, cluster, hcm_extra, stat_prefix="ws"):
    listener_port, admin_port = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster=cluster["name"])])]}
    proc = remora(bootstrap(
        [http_listener("ws", listener_port, rc,
                       hcm_extra={"stat_prefix": stat_prefix, "upgrade_configs": WEBSOCKET,
                                  **hcm_extra})],
        [cluster], admin_port))
    return proc, listener_port


H2_ALLOW_CONNECT = {"codec_type": "HTTP2", "http2_protocol_options": {"allow_connect": True}}


def settings_of(conn):
    f = conn.wait_for(lambda f: f.type == SETTINGS and not f.flags & 0x1)
    assert f is not None
    return {struct.unpack(">H", f.payload[i:i + 2])[0]: struct.unpack(">I", f.payload[i + 2:i + 6])[0]
            for i in range(0, len(f.payload), 6)}


def extended_connect(conn, port, stream_id=1, key=None, path="/ws"):
    key = key or base64.b64encode(os.urandom(16)).decode()
    conn.send(headers_frame(stream_id, [
        (":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
        (":path", path), (":authority", f"chat.example.com:{port}"),
        ("sec-websocket-version", "13"),
        # RFC 8441 clients send no key; a hop that downgrades to HTTP/1.1 (an Envoy in front)
        # carries the original client's, which an HTTP/1.1 server insists on.
        ("sec-websocket-key", key)], end_stream=False))
    return key


class WsOverH2:
    """The WebSocket frames carried in one stream's DATA frames."""

    def __init__(self, conn, stream_id):
        self.conn, self.stream_id, self._buf, self._seen = conn, stream_id, b"", 0

    def send(self, opcode, payload, end_stream=False):
        data = ws_frame(opcode, payload, mask=True)
        chunks = [data[i:i + 16384] for i in range(0, len(data), 16384)]  # SETTINGS_MAX_FRAME_SIZE
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            self.conn.send(frame(DATA, END_STREAM if end_stream and last else 0, self.stream_id,
                                 chunk))

    def _parse(self):
        b = self._buf
        if len(b) < 2:
            return None
        n, off = b[1] & 0x7F, 2
        if n == 126:
            if len(b) < 4:
                return None
            n, off = struct.unpack("!H", b[2:4])[0], 4
        elif n == 127:
            if len(b) < 10:
                return None
            n, off = struct.unpack("!Q", b[2:10])[0], 10
        if len(b) < off + n:
            return None
        self._buf = b[off + n:]
        return b[0] & 0x0F, b[off:off + n]

    def read(self, timeout=10.0):
        def ready(f):
            return f.stream_id == self.stream_id and f.type in (DATA, RST_STREAM)

        while True:
            parsed = self._parse()
            if parsed:
                return parsed
            frames = self.conn.of_stream(self.stream_id)
            new = [f for f in frames[self._seen:] if f.type == DATA]
            self._seen = len(frames)
            for f in new:
                self._buf += f.payload
            if new:
                continue
            got = self.conn.wait_for(lambda f: ready(f) and f not in frames, timeout)
            assert got is not None and got.type == DATA, self.conn.frames


def test_extended_connect_reaches_an_http1_websocket_server(remora, ws_server):
    proc, port = start(remora, static_cluster("ws", [ws_server.port]), H2_ALLOW_CONNECT)
    with H2Conn(port) as conn:
        assert settings_of(conn).get(SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1
        key = extended_connect(conn, port)
        resp = conn.wait_for(lambda f: f.stream_id == 1 and f.type in (HEADERS, RST_STREAM))
        assert resp is not None and resp.type == HEADERS, conn.frames
        assert resp.payload[:1] == b"\x88"  # HPACK static index 8: ":status: 200", not 101
        assert not resp.flags & END_STREAM
        # The backend got an HTTP/1.1 WebSocket upgrade: GET, Upgrade, Connection, the key.
        line, seen = ws_server.handshakes[0]
        assert line == "GET /ws HTTP/1.1"
        assert seen["upgrade"] == "websocket" and "upgrade" in seen["connection"].lower()
        assert seen["host"] == f"chat.example.com:{port}"
        assert seen["sec-websocket-key"] == key and seen["sec-websocket-version"] == "13"
        assert proc.stat("http.ws.downstream_cx_upgrades_active") == 1

        ws = WsOverH2(conn, 1)
        ws.send(WS_TEXT, "héllo over h2".encode())
        assert ws.read() == (WS_TEXT, "héllo over h2".encode())
        blob = os.urandom(40000)  # within the default 64 KiB windows of a raw client
        ws.send(WS_BINARY, blob)
        assert ws.read() == (WS_BINARY, blob)
        # END_STREAM is the client's FIN: the server says "bye" and closes, which comes back as
        # END_STREAM, with no reset (the tunnel half-closes).
        ws.send(WS_TEXT, b"last", end_stream=True)
        assert ws.read() == (WS_TEXT, b"last")
        assert ws.read() == (WS_TEXT, b"bye")
        assert conn.stream_ended(1) is not None
        assert not [f for f in conn.of_stream(1) if f.type == RST_STREAM], conn.frames
    assert not ws_server.errors, ws_server.errors
    proc.wait_stat("http.ws.downstream_cx_upgrades_active", lambda v: v == 0)
    stats = proc.stats()
    assert stats["http.ws.downstream_cx_upgrades_total"] == 1
    assert stats["http.ws.downstream_rq_http2_total"] == 1
    assert stats["cluster.ws.upstream_rq_101"] == 1


def test_without_allow_connect_extended_connect_is_malformed(remora, ws_server):
    proc, port = start(remora, static_cluster("ws", [ws_server.port]), {"codec_type": "HTTP2"})
    with H2Conn(port) as conn:
        assert SETTINGS_ENABLE_CONNECT_PROTOCOL not in settings_of(conn)
        extended_connect(conn, port)
        rst = conn.wait_for(lambda f: f.stream_id == 1 and f.type in (HEADERS, RST_STREAM))
        assert rst is not None and rst.type == RST_STREAM, conn.frames
        assert rst.error_code == PROTOCOL_ERROR
        assert not conn.closed  # a stream error only
    assert ws_server.handshakes == []


def test_websocket_refused_by_the_route_is_a_403_on_the_stream(remora, ws_server):
    proc, port = start(remora, static_cluster("ws", [ws_server.port]),
                       {**H2_ALLOW_CONNECT, "upgrade_configs": []})
    with H2Conn(port) as conn:
        extended_connect(conn, port)
        resp = conn.wait_for(lambda f: f.stream_id == 1 and f.type == HEADERS)
        assert resp is not None and resp.payload[:1] != b"\x88"  # not a 200
        assert conn.stream_ended(1) is not None
        assert not conn.closed
    assert ws_server.handshakes == []
    assert proc.stat("http.ws.downstream_rq_ws_on_non_ws_route") == 1
    assert proc.stat("http.ws.downstream_rq_4xx") == 1


def two_hops(remora, ws_server):
    """client → front (HTTP/2 cluster) → sidecar (HTTP/2 listener with allow_connect, HTTP/1.1
    cluster) → the WebSocket server."""
    sidecar, sidecar_port = start(remora, static_cluster("app", [ws_server.port]),
                                  H2_ALLOW_CONNECT, stat_prefix="sidecar")
    front, front_port = start(remora, h2_cluster("sidecar", sidecar_port), {}, stat_prefix="front")
    return front, front_port, sidecar


def test_http1_websocket_crosses_an_http2_hop(remora, ws_server):
    front, front_port, sidecar = two_hops(remora, ws_server)
    sock, status, headers = ws_connect(front_port, host="chat.example.com")
    with sock:
        assert status == 101, headers  # the sidecar's 200 became the client's 101 again
        assert headers["upgrade"].lower() == "websocket"
        line, seen = ws_server.handshakes[0]
        assert line == "GET /ws HTTP/1.1"
        assert seen["host"] == "chat.example.com"
        sock.sendall(ws_frame(WS_TEXT, b"across h2", mask=True))
        assert ws_read_frame(sock) == (WS_TEXT, b"across h2")
        big = os.urandom(1 << 20)  # flow control on the HTTP/2 hop, both ways
        sock.sendall(ws_frame(WS_BINARY, big, mask=True))
        assert ws_read_frame(sock) == (WS_BINARY, big)
        sock.sendall(ws_frame(WS_TEXT, b"last words", mask=True))
        sock.shutdown(socket.SHUT_WR)
        assert ws_read_frame(sock) == (WS_TEXT, b"last words")
        assert ws_read_frame(sock) == (WS_TEXT, b"bye")
        sock.settimeout(10)
        assert sock.recv(1) == b""
    assert not ws_server.errors, ws_server.errors
    front.wait_stat("http.front.downstream_cx_upgrades_active", lambda v: v == 0)
    sidecar.wait_stat("http.sidecar.downstream_cx_upgrades_active", lambda v: v == 0)
    assert front.stat("cluster.sidecar.upstream_rq_101") == 1
    assert front.stat("cluster.sidecar.upstream_cx_http2_total") == 1
    assert sidecar.stat("http.sidecar.downstream_rq_http2_total") == 1
    assert sidecar.stat("cluster.app.upstream_rq_101") == 1


def test_upstream_refusing_the_upgrade_is_an_ordinary_response(remora, ws_server):
    # The sidecar does not allow WebSocket: its 403 reaches the HTTP/1.1 client as a 403, and
    # the front's HTTP/2 connection carries on.
    sidecar, sidecar_port = start(remora, static_cluster("app", [ws_server.port]),
                                  {**H2_ALLOW_CONNECT, "upgrade_configs": []},
                                  stat_prefix="sidecar")
    front, front_port = start(remora, h2_cluster("sidecar", sidecar_port), {}, stat_prefix="front")
    sock, status, headers = ws_connect(front_port)
    sock.close()
    assert status == 403, headers
    assert ws_server.handshakes == []
    assert front.stat("cluster.sidecar.upstream_rq_403") == 1
    assert front.stat("cluster.sidecar.upstream_cx_destroy") == 0
