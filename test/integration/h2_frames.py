"""Raw HTTP/2 frames over a plain socket, for tests that must send what no well-behaved client
sends (bad frames, malformed header blocks, resets at chosen moments) and look at exactly which
frames come back. Header blocks are encoded as HPACK literals without indexing or Huffman coding,
so any header, valid or not, can be written; received header blocks are not decoded (frame types,
flags, stream ids and error codes are what these tests assert)."""

import hashlib
import socket
import struct
import threading
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
    def settings(self):
        """A SETTINGS frame's entries as {identifier: value}."""
        return {struct.unpack(">H", self.payload[i:i + 2])[0]:
                struct.unpack(">I", self.payload[i + 2:i + 6])[0]
                for i in range(0, len(self.payload) - 5, 6)}

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


class H2Server:
    """A raw-frame HTTP/2 server for upstream tests: accepts on a loopback port, speaks through an
    H2Conn per connection (SETTINGS exchange, PING answers unless answer_pings is False) and hands
    each request stream, once its HEADERS arrive, to `handler(conn, stream_id)`, which answers
    with raw frames (or not at all; handler None answers nothing). `conns` keeps every
    connection for the test to inspect."""

    def __init__(self, handler=None, answer_pings=True):
        self.handler = handler
        self.answer_pings = answer_pings
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                s, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            conn = H2Conn(sock=s, answer_pings=self.answer_pings)
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        answered = set()
        try:
            while not self._stop and not conn.closed:
                f = conn.wait_for(lambda f: f.type == HEADERS and f.stream_id not in answered, 30)
                if f is None:
                    return
                answered.add(f.stream_id)
                if self.handler is not None:
                    self.handler(conn, f.stream_id)
        except OSError:
            return  # close() closed the socket under us

    def close(self):
        self._stop = True
        self._thread.join(timeout=5)
        self.sock.close()
        for c in self.conns:
            c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
MAX_WINDOW = 0x7FFFFFFF
MAX_FRAME = 16384  # the default SETTINGS_MAX_FRAME_SIZE, which every peer accepts


def window_update(stream_id, increment):
    return frame(WINDOW_UPDATE, 0, stream_id, struct.pack(">I", increment))


class WindowedH2Conn(H2Conn):
    """A client that does HTTP/2 flow control, for large transfers in both directions.

    Receiving: each stream gets `stream_window` (SETTINGS_INITIAL_WINDOW_SIZE), the connection the
    largest window, and window is returned as DATA arrives (one WINDOW_UPDATE per read batch),
    except on the streams in `stalled`: their bytes are counted but their stream window is never
    returned (until release()), so it fills and the server must stop sending on them. The
    connection window is always returned, so a stalled stream blocks no other. DATA payloads are
    counted and hashed per stream (kept too with keep_bodies); DATA frames stay in `frames` with an
    empty payload so wait_for/stream_ended work as for H2Conn.

    Sending: upload() opens a request stream whose body goes out as the server's windows allow
    (its SETTINGS_INITIAL_WINDOW_SIZE and WINDOW_UPDATEs), interleaved with other uploads, while
    the caller waits (wait_for and friends); `sent` counts each stream's body bytes so far."""

    def __init__(self, port, stream_window, stalled=(), hash_data=True, keep_bodies=False, **kw):
        super().__init__(port, settings=[(SETTINGS_INITIAL_WINDOW_SIZE, stream_window)], **kw)
        self.send(window_update(0, MAX_WINDOW - 65535))
        self.stalled = set(stalled)
        self.hash_data = hash_data
        self.keep_bodies = keep_bodies
        self.received = {}  # stream id → DATA payload bytes
        self.digests = {}  # stream id → sha256 of those bytes
        self.bodies = {}  # stream id → the bytes, with keep_bodies
        self.sent = {}  # stream id → request body bytes sent
        self.send_window = 65535  # the server's connection window for what we send
        self.stream_send_window = {}
        self._peer_initial_window = 65535
        self._uploads = {}  # stream id → [bytes left, offset in source, source, period]
        self._rx = bytearray(1 << 20)
        self._pending = bytearray()

    def release(self, stream_id, increment):
        """Returns `increment` of a stalled stream's window: the server may send that much more."""
        self.send(window_update(stream_id, increment))

    def upload(self, stream_id, headers, nbytes, source, period):
        """Sends request headers and then nbytes of body: byte i is source[i % period] (source
        must hold period + MAX_FRAME bytes, as conftest.pattern does with period BLOCK)."""
        self.send(headers_frame(stream_id, headers, end_stream=False))
        self.stream_send_window[stream_id] = self._peer_initial_window
        self.sent[stream_id] = 0
        self._uploads[stream_id] = [nbytes, 0, source, period]
        self._pump()

    def uploading(self, stream_id):
        return stream_id in self._uploads

    def _pump(self):
        """Sends what the windows allow, round-robin between uploads, one frame at a time."""
        out, size = [], 0
        progress = True
        while progress and size < 4 * MAX_FRAME * 16:
            progress = False
            for sid, up in list(self._uploads.items()):
                n = min(MAX_FRAME, up[0], self.send_window, self.stream_send_window[sid])
                if n <= 0:
                    continue
                end = n == up[0]
                out.append(frame(DATA, END_STREAM if end else 0, sid, up[2][up[1]:up[1] + n]))
                size += n
                up[0] -= n
                up[1] = (up[1] + n) % up[3]
                self.send_window -= n
                self.stream_send_window[sid] -= n
                self.sent[sid] += n
                if end:
                    del self._uploads[sid]
                progress = True
        if out:
            self.sock.settimeout(30)  # the windows bound what is in flight
            self.send(b"".join(out))

    def _can_send(self):
        return self.send_window > 0 and any(self.stream_send_window[sid] > 0
                                            for sid in self._uploads)

    def _read_some(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.closed:
            return False
        if self._uploads:
            self._pump()
        # With window left to send into, only look for what has already arrived.
        self.sock.settimeout(0 if self._can_send() else min(remaining, 0.2))
        try:
            n = self.sock.recv_into(self._rx)
        except (socket.timeout, BlockingIOError):
            return True
        except (ConnectionResetError, BrokenPipeError):
            n = 0
        if n == 0:
            self.closed = True
            return False
        self._pending += memoryview(self._rx)[:n]
        credit, replies = {}, []
        at = self._parse(credit, replies)
        del self._pending[:at]  # no view into it is left
        replies += [window_update(s, c) for s, c in credit.items() if c]
        if replies:
            self.sock.settimeout(30)
            self.send(b"".join(replies))
        return True

    def _parse(self, credit, replies):
        """Handles every whole frame in _pending; returns how many bytes they took."""
        buf = memoryview(self._pending)
        at = 0
        while len(buf) - at >= 9:
            length = int.from_bytes(buf[at:at + 3], "big")
            if len(buf) - at < 9 + length:
                break
            ftype, flags = buf[at + 3], buf[at + 4]
            stream_id = int.from_bytes(buf[at + 5:at + 9], "big") & 0x7FFFFFFF
            payload = buf[at + 9:at + 9 + length]
            at += 9 + length
            if ftype == DATA:
                if flags & 0x8:  # PADDED
                    payload = payload[1:len(payload) - payload[0]]
                self.received[stream_id] = self.received.get(stream_id, 0) + len(payload)
                if self.hash_data:
                    self.digests.setdefault(stream_id, hashlib.sha256()).update(payload)
                if self.keep_bodies:
                    self.bodies.setdefault(stream_id, bytearray()).extend(payload)
                credit[0] = credit.get(0, 0) + length
                if stream_id not in self.stalled and length:
                    credit[stream_id] = credit.get(stream_id, 0) + length
                self.frames.append(Frame(ftype, flags, stream_id, b""))
                continue
            f = Frame(ftype, flags, stream_id, bytes(payload))
            self.frames.append(f)
            if ftype == SETTINGS and not flags & ACK:
                replies.append(frame(SETTINGS, ACK, 0))
                for i in range(0, len(f.payload) - 5, 6):
                    key, value = struct.unpack(">HI", f.payload[i:i + 6])
                    if key == SETTINGS_INITIAL_WINDOW_SIZE:
                        for sid in self.stream_send_window:  # RFC 9113 §6.9.2
                            self.stream_send_window[sid] += value - self._peer_initial_window
                        self._peer_initial_window = value
            elif ftype == PING and not flags & ACK:
                replies.append(frame(PING, ACK, 0, f.payload))
            elif ftype == WINDOW_UPDATE:
                increment = struct.unpack(">I", f.payload)[0] & 0x7FFFFFFF
                if stream_id == 0:
                    self.send_window += increment
                elif stream_id in self.stream_send_window:
                    self.stream_send_window[stream_id] += increment
        return at  # the views into _pending end with this frame
