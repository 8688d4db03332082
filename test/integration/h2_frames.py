"""Raw HTTP/2 frames over a plain socket, for tests that must send what no well-behaved client
sends (bad frames, malformed header blocks, resets at chosen moments) and look at exactly which
frames come back. Header blocks are encoded as HPACK literals without indexing or Huffman coding,
so any header, valid or not, can be written; received header blocks are not decoded (frame types,
flags, stream ids and error codes are what these tests assert)."""

import socket
import struct
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4

NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED, \
    FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR = range(10)


def frame(ftype, flags, stream_id, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream_id & 0x7FFFFFFF) + payload


def _hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def header_block(pairs):
    """HPACK: every field a literal without indexing, new name, no Huffman (RFC 7541 §6.2.2)."""
    out = bytearray()
    for name, value in pairs:
        name, value = name.encode(), value.encode()
        out += b"\x00" + _hpack_int(len(name), 7) + name + _hpack_int(len(value), 7) + value
    return bytes(out)


def request_headers(port, path="/", method="GET", extra=()):
    return [(":method", method), (":scheme", "http"), (":authority", f"127.0.0.1:{port}"),
            (":path", path)] + list(extra)


def headers_frame(stream_id, pairs, end_stream=True):
    return frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), stream_id,
                 header_block(pairs))


def settings_frame(settings=()):
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in settings))


class Frame:
    def __init__(self, ftype, flags, stream_id, payload):
        self.type, self.flags, self.stream_id, self.payload = ftype, flags, stream_id, payload

    @property
    def error_code(self):
        """RST_STREAM's or GOAWAY's error code."""
        if self.type == RST_STREAM:
            return struct.unpack(">I", self.payload[:4])[0]
        if self.type == GOAWAY:
            return struct.unpack(">I", self.payload[4:8])[0]
        return None

    @property
    def last_stream_id(self):
        return struct.unpack(">I", self.payload[:4])[0] & 0x7FFFFFFF

    def __repr__(self):
        return f"Frame(type={self.type}, flags={self.flags:#x}, stream={self.stream_id}, " \
               f"error={self.error_code}, len={len(self.payload)})"


class H2Conn:
    """A client connection: sends the preface and an empty SETTINGS, ACKs the server's SETTINGS
    (and PINGs, unless answer_pings is False: a peer that has gone silent), and collects every
    frame that arrives. `sock`: an accepted socket to speak over instead (the server side of a
    connection, which sends no preface)."""

    def __init__(self, port=None, settings=(), host="127.0.0.1", timeout=5.0, answer_pings=True,
                 sock=None):
        if sock is None:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        else:
            self.sock = sock
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.frames = []
        self.closed = False
        self.answer_pings = answer_pings
        self._awaiting_preface = sock is not None  # the server side reads the client's first
        self._buf = b""
        self.send((PREFACE if sock is None else b"") + settings_frame(settings))

    def send(self, data):
        self.sock.sendall(data)

    def _read_some(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.closed:
            return False
        self.sock.settimeout(min(remaining, 0.2))
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return True
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.closed = True
            return False
        self._buf += chunk
        if self._awaiting_preface:
            if len(self._buf) < len(PREFACE):
                return True
            assert self._buf.startswith(PREFACE), self._buf[:len(PREFACE)]
            self._buf = self._buf[len(PREFACE):]
            self._awaiting_preface = False
        while len(self._buf) >= 9:
            length = int.from_bytes(self._buf[:3], "big")
            if len(self._buf) < 9 + length:
                break
            ftype, flags = self._buf[3], self._buf[4]
            stream_id = int.from_bytes(self._buf[5:9], "big") & 0x7FFFFFFF
            f = Frame(ftype, flags, stream_id, self._buf[9:9 + length])
            self._buf = self._buf[9 + length:]
            self.frames.append(f)
            if ftype == SETTINGS and not flags & ACK:
                self.send(frame(SETTINGS, ACK, 0))
            if ftype == PING and not flags & ACK and self.answer_pings:
                self.send(frame(PING, ACK, 0, f.payload))
        return True

    def wait_for(self, predicate, timeout=5.0):
        """Reads until some received frame satisfies predicate (returns it), or the connection
        closes or the time is up (returns None)."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for f in self.frames[seen:]:
                if predicate(f):
                    return f
            seen = len(self.frames)
            if not self._read_some(deadline):
                for f in self.frames[seen:]:
                    if predicate(f):
                        return f
                return None

    def wait_closed(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while self._read_some(deadline):
            pass
        return self.closed

    def stream_ended(self, stream_id, timeout=5.0):
        """Waits for the stream's END_STREAM (or its reset); returns that frame."""
        return self.wait_for(lambda f: f.stream_id == stream_id and (
            (f.type in (HEADERS, DATA) and f.flags & END_STREAM) or f.type == RST_STREAM),
            timeout)

    def of_stream(self, stream_id):
        return [f for f in self.frames if f.stream_id == stream_id]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
