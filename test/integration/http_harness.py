"""HTTP pieces of the integration harness: bootstrap builders for the HTTP connection manager, a
real HTTP/1.1 keep-alive backend whose behaviour each request can steer, and a minimal RFC 6455
WebSocket client and echo server (WsEchoServer, ws_connect, ws_frame, ws_read_frame).

The backend is Python's http.server (HTTP/1.1, one thread per connection). A request steers it with
headers, so a test needs no per-test server code:
  x-backend-status: 503         answer with this status
  x-backend-fail-times: N       answer x-backend-status only to the first N requests carrying the
                                same x-backend-fail-key (then 200); for retry tests. The delay and
                                the reset below also apply to those first N only.
  x-backend-delay-ms: 300       wait before answering
  x-backend-body-bytes: N       answer with N bytes of pattern (streamed in 64 KiB writes)
  x-backend-close: 1            answer, then close the connection
  x-backend-reset: 1            read the request, then close the connection without answering
  x-backend-truncate: N         (with x-backend-body-bytes) announce the full length, send only N
                                body bytes, then close: an upstream that dies mid-response
  x-backend-trailers: a=1,b=2   answer chunked, with these trailers after the body
A request with content-type application/grpc* gets a gRPC answer instead, over HTTP/1.1: 200,
application/grpc, a chunked body of length-prefixed messages (each request message echoed, or
x-backend-grpc-messages: N messages b"reply-<i>") and grpc-status / grpc-message in the chunked
trailers. Steering (x-backend-fail-times and the delay apply as above):
  x-backend-grpc-status: 14     the grpc-status to answer (while failing; then 0)
  x-backend-grpc-message: text  grpc-message
  x-backend-grpc-trailers-only: 1  answer trailers-only (while failing): grpc-status in the
                                headers, no body
The record of a gRPC request carries grpc_messages, the payloads that arrived (hex).
A backend's own `delay_ms` attribute slows every answer it gives (one slow backend among fast ones);
its `status` attribute, when set, is the status of every answer it gives (one failing backend);
kill() closes its listener and every connection it holds (a backend that died).
Every other answer is JSON (unless body-bytes is set) describing what arrived: the backend's name, the
method, path, headers (lower-cased names; header_list keeps every field in order, repeats included),
the length and sha256 of the body that arrived, the request's chunked trailers (lower-cased
names), the client's port (one per upstream connection) —
and every request is recorded in
HttpBackend.requests, so tests can also assert what never reached the upstream.
"""

import base64
import hashlib
import json
import os
import re
import socket
import struct
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import pattern, send_pattern, socket_address, wait_until, BLOCK, IO_TIMEOUT

HCM_TYPE = ("type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
            "HttpConnectionManager")
ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


# --------------------------------------------------------------------------------------------
# Config builders


def router_filter():
    return {"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_TYPE}}


def vhost(name="all", domains=("*",), routes=None, **extra):
    vh = {"name": name, "domains": list(domains), "routes": routes or []}
    vh.update(extra)
    return vh


def route(match=None, cluster=None, **action):
    """A route: match defaults to prefix '/', the action is `route: {cluster, **action}` unless
    action names redirect/direct_response."""
    r = {"match": match or {"prefix": "/"}}
    for key in ("redirect", "direct_response"):
        if key in action:
            r[key] = action.pop(key)
    for key in ("request_headers_to_add", "request_headers_to_remove", "response_headers_to_add",
                "response_headers_to_remove", "typed_per_filter_config", "name"):
        if key in action:
            r[key] = action.pop(key)
    if "redirect" not in r and "direct_response" not in r:
        ra = {"cluster": cluster} if cluster is not None else {}
        ra.update(action)
        r["route"] = ra
    return r


def hcm(route_config, http_filters=None, stat_prefix="ingress_http", **extra):
    cfg = {"@type": HCM_TYPE, "stat_prefix": stat_prefix, "route_config": route_config,
           "http_filters": list(http_filters or []) + [router_filter()]}
    cfg.update(extra)
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": cfg}


def http_listener(name, port, route_config, http_filters=None, host="127.0.0.1", hcm_extra=None,
                  **extra):
    listener = {
        "name": name,
        "address": socket_address(port, host),
        "filter_chains": [{"filters": [hcm(route_config, http_filters, **(hcm_extra or {}))]}],
    }
    listener.update(extra)
    return listener


FILE_ACCESS_LOG_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"


def file_access_log(path, text_format):
    """An HCM access_log entry writing `text_format` lines to `path` (read with read_log_lines)."""
    return {"name": "envoy.access_loggers.file",
            "typed_config": {"@type": FILE_ACCESS_LOG_TYPE, "path": str(path),
                             "log_format": {"text_format_source": {"inline_string": text_format}}}}


def read_log_lines(path, n, timeout=5.0):
    """Waits until the access log at `path` has at least n lines; returns them all."""
    box = {"lines": []}

    def enough():
        try:
            box["lines"] = open(path).read().splitlines()
        except FileNotFoundError:
            return False
        return len(box["lines"]) >= n

    wait_until(enough, timeout, what=f"{n} access log line(s) in {path}")
    return box["lines"]


def hey(url, n, concurrency=4, headers=None, timeout=60):
    """Sends n requests with hey (keep-alive, `concurrency` workers); returns {status: count}.
    Requests that got no response at all are counted under 0. hey gives each worker n // c
    requests, so n must be a multiple of concurrency."""
    assert n % concurrency == 0, "hey sends n // c requests per worker"
    argv = ["hey", "-n", str(n), "-c", str(concurrency), "-t", "10"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    proc = subprocess.run(argv + [url], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    counts = {}
    in_distribution = False
    for line in proc.stdout.splitlines():
        if line.startswith("Status code distribution:"):
            in_distribution = True
            continue
        if in_distribution:
            m = re.match(r"\s*\[(\d+)\]\s+(\d+) responses", line)
            if m:
                counts[int(m.group(1))] = int(m.group(2))
            elif line.strip():
                in_distribution = False
    answered = sum(counts.values())
    if answered < n:
        counts[0] = n - answered
    return counts


# --------------------------------------------------------------------------------------------
# The backend


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "remora-test-backend"
    # Head and body go out in separate writes: without TCP_NODELAY, Nagle holds the body until
    # the peer's delayed ACK (40 ms per request).
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def _handle(self):
        backend = self.server.backend
        length = int(self.headers.get("content-length", "0") or 0)
        grpc = self.headers.get("content-type", "").startswith("application/grpc")
        kept = bytearray()  # a gRPC body, to answer from (tests send small ones)
        h = _KeepingHash(kept if grpc else None)
        remaining = length
        trailers = {}
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            remaining = 0
            while True:
                line = self.rfile.readline()
                if not line:
                    break  # the client went away mid-body
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while True:
                        line = self.rfile.readline()
                        if line in (b"\r\n", b"\n", b""):
                            break
                        name, _, value = line.decode("latin-1").partition(":")
                        trailers[name.strip().lower()] = value.strip()
                    break
                h.update(self.rfile.read(size))
                length += size
                self.rfile.readline()
        while remaining:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            h.update(chunk)
            remaining -= len(chunk)
        length -= remaining  # what actually arrived, should the sender stop short
        headers = {k.lower(): v for k, v in self.headers.items()}
        header_list = [[k.lower(), v] for k, v in self.headers.items()]
        if backend.health_path is not None and self.path == backend.health_path:
            self._health_answer(backend, headers)
            return
        record = {"backend": backend.name, "method": self.command, "path": self.path,
                  "headers": headers, "header_list": header_list, "body_bytes": length,
                  "body_sha": h.hexdigest(), "trailers": trailers,
                  "peer_port": self.client_address[1]}
        if grpc:
            record["grpc_messages"] = [m.hex() for _, m in grpc_parse_frames(bytes(kept))]
        with backend.lock:
            backend.requests.append(record)
        status = int(headers.get("x-backend-status", "200"))
        if backend.status is not None:
            status = backend.status
        failing = True
        fail_times = headers.get("x-backend-fail-times")
        if fail_times is not None:
            key = headers.get("x-backend-fail-key", "")
            with backend.lock:
                seen = backend.fail_counts.get(key, 0)
                backend.fail_counts[key] = seen + 1
            failing = seen < int(fail_times)
            if not failing:
                status = 200
        delay = int(headers.get("x-backend-delay-ms", "0")) if failing else 0
        delay += backend.delay_ms
        if delay:
            time.sleep(delay / 1000.0)
        if failing and headers.get("x-backend-reset") == "1":
            self.close_connection = True
            return
        if grpc:
            self._grpc_answer(headers, bytes(kept), failing)
            return
        truncate = headers.get("x-backend-truncate")
        close = headers.get("x-backend-close") == "1"
        body_bytes = headers.get("x-backend-body-bytes")
        self.send_response(status)
        self.send_header("x-backend", backend.name)
        if close:
            self.send_header("connection", "close")
        if body_bytes is not None:
            n = int(body_bytes)
            self.send_header("content-type", "application/octet-stream")
            self.send_header("content-length", str(n))
            self.end_headers()
            if self.command != "HEAD":
                data = pattern(2)
                offset = 0
                if truncate is not None:
                    n = min(n, int(truncate))
                    close = True
                while n:
                    k = min(n, 64 * 1024)
                    self.wfile.write(data[offset:offset + k])
                    offset = (offset + k) % BLOCK
                    n -= k
        elif headers.get("x-backend-trailers"):
            body = json.dumps(record).encode()
            self.send_header("content-type", "application/json")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            tail = "".join(f"{t.partition('=')[0]}: {t.partition('=')[2]}\r\n"
                           for t in headers["x-backend-trailers"].split(","))
            self.wfile.write(b"%x\r\n%s\r\n0\r\n%s\r\n" % (len(body), body, tail.encode()))
        else:
            body = json.dumps(record).encode()
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and status not in (204, 304):
                self.wfile.write(body)
        if close:
            self.close_connection = True

    def _health_answer(self, backend, headers):
        # A health endpoint switched by the test (backend.health_status, health_headers); its
        # checks are counted apart from the traffic in backend.requests.
        with backend.lock:
            backend.health_checks.append(headers)
            status, extra = backend.health_status, dict(backend.health_headers)
            gate = backend.health_gate
        if gate is not None:
            gate.wait(IO_TIMEOUT)
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("content-length", "0")
        self.end_headers()

    def _grpc_answer(self, headers, body, failing):
        status = headers.get("x-backend-grpc-status", "0") if failing else "0"
        message = headers.get("x-backend-grpc-message") if failing else None
        self.send_response(200)
        self.send_header("x-backend", self.server.backend.name)
        self.send_header("content-type", "application/grpc")
        if failing and headers.get("x-backend-grpc-trailers-only") == "1":
            self.send_header("grpc-status", status)
            if message:
                self.send_header("grpc-message", message)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        if "x-backend-grpc-messages" in headers:
            replies = [b"reply-%d" % i for i in range(int(headers["x-backend-grpc-messages"]))]
        else:
            replies = [m for _, m in grpc_parse_frames(body)]
        for reply in replies:
            frame = grpc_frame(reply)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
        trailer = f"grpc-status: {status}\r\n"
        if message:
            trailer += f"grpc-message: {message}\r\n"
        self.wfile.write(b"0\r\n" + trailer.encode() + b"\r\n")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle


class _KeepingHash:
    """sha256 of a body that also keeps its bytes in `keep` when given."""

    def __init__(self, keep):
        self._h = hashlib.sha256()
        self._keep = keep

    def update(self, data):
        self._h.update(data)
        if self._keep is not None:
            self._keep += data

    def hexdigest(self):
        return self._h.hexdigest()


# gRPC's length-prefixed messages (and gRPC-web's trailer frame, flag 0x80).

def grpc_frame(message, flag=0):
    return struct.pack("!BI", flag, len(message)) + message


def grpc_parse_frames(body):
    """[(flag, payload)] of a complete gRPC (or gRPC-web) body; asserts it is whole."""
    frames, i = [], 0
    while i < len(body):
        assert len(body) - i >= 5, f"truncated frame header at {i}: {body[i:]!r}"
        flag, n = struct.unpack("!BI", body[i:i + 5])
        assert len(body) - i - 5 >= n, f"truncated frame at {i}"
        frames.append((flag, body[i + 5:i + 5 + n]))
        i += 5 + n
    return frames


def grpc_status_of(resp):
    """The grpc-status of a response: its trailers, else its headers (trailers-only)."""
    for name, value in list(resp.trailers) + list(resp.headers):
        if name == "grpc-status":
            return int(value)
    return None


def grpc_call(port, path, messages=(), headers=(), chunked=True, content_type="application/grpc",
              timeout=10.0):
    """One gRPC call over HTTP/1.1 through remora: POST path with the messages framed (chunked,
    or with a Content-Length), te: trailers. Returns the RawResponse (trailers parsed)."""
    body = b"".join(grpc_frame(m) for m in messages)
    head = [("Content-Type", content_type), ("TE", "trailers")] + list(headers)
    with RawHttp(port, timeout=timeout) as c:
        if chunked:
            head.append(("Transfer-Encoding", "chunked"))
            data = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
            c.send(request_bytes("POST", path, head, b"") + data)
        else:
            head.append(("Content-Length", str(len(body))))
            c.send(request_bytes("POST", path, head, body))
        return c.read_response("POST")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def get_request(self):
        conn, addr = super().get_request()
        with self.backend.lock:
            self.backend.connections.append(conn)
        return conn, addr

    def handle_error(self, request, client_address):
        # A peer that goes away mid-answer (a proxy's timeout or reset under test) is expected.
        import sys
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class HttpBackend:
    """A real HTTP/1.1 server on loopback in a thread; see the module docstring."""

    def __init__(self, name="backend", host="127.0.0.1", port=0):
        self.name = name
        self.delay_ms = 0  # added to every answer's delay: a backend that is slow for everyone
        self.status = None  # the status of every answer: a backend that fails for everyone
        self.connections = []  # every accepted connection, for kill()
        self.requests = []
        self.fail_counts = {}
        # A health endpoint when set: requests for health_path get health_status, health_headers.
        self.health_path = None
        self.health_status = 200
        self.health_headers = {}
        # A threading.Event when set: a health check is answered only once it is set.
        self.health_gate = None
        self.health_checks = []
        self.lock = threading.Lock()
        self.server = _Server((host, port), _Handler)
        self.server.backend = self
        self.host, self.port = self.server.server_address[:2]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def wait_requests(self, n, timeout=10.0):
        wait_until(lambda: len(self.requests) >= n, timeout, what=f"{n} request(s) at {self.name}")
        return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def kill(self):
        """Dies: the port refuses connections and every open connection is cut."""
        self.close()
        with self.lock:
            conns, self.connections = self.connections, []
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# --------------------------------------------------------------------------------------------
# A raw HTTP/1.1 client: sends exactly the bytes a test gives it (hostile ones included) and
# parses what comes back strictly enough to notice a second, smuggled response.


class RawResponse:
    def __init__(self, version, status, reason, headers, body, trailers):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # [(lower-cased name, value)] in arrival order
        self.body = body
        self.trailers = trailers

    def header(self, name, default=None):
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k == name]

    def __repr__(self):
        return f"RawResponse({self.version} {self.status}, {self.headers}, {self.body[:200]!r})"


class _BufferedReader:
    """CRLF lines and exact byte counts from self.buf, refilled by the subclass's _fill()."""

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            self._fill()

    def _exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


class RawHttp(_BufferedReader):
    """One client connection to remora speaking raw bytes."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        """Sends data; False when the peer already closed or reset the connection."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def _fields(self):
        fields = []
        while True:
            line = self._line()
            if not line:
                return fields
            name, sep, value = line.decode("latin-1").partition(":")
            assert sep and name == name.strip(), f"malformed header line {line!r}"
            fields.append((name.lower(), value.strip()))

    def read_head(self, keep_1xx=False):
        """Reads one response head (1xx skipped unless keep_1xx): a RawResponse without body;
        None on EOF before any byte."""
        try:
            while True:
                status_line = self._line().decode("latin-1")
                version, status, reason = (status_line.split(" ", 2) + [""])[:3]
                status = int(status)
                headers = self._fields()
                if 100 <= status < 200 and not keep_1xx:
                    continue
                return RawResponse(version, status, reason, headers, b"", [])
        except EOFError:
            if not self.buf:
                return None
            raise

    def stream_body(self, nbytes, chunk=1 << 20, pace=None):
        """Reads exactly nbytes of a Content-Length body without keeping it: (sha256, count).
        pace(count) runs after each read (a slow reader sleeps there)."""
        h = hashlib.sha256()
        count = 0
        if self.buf:
            take = bytes(self.buf[:nbytes])
            del self.buf[:len(take)]
            h.update(take)
            count = len(take)
        view = memoryview(bytearray(chunk))
        while count < nbytes:
            n = self.sock.recv_into(view[:min(chunk, nbytes - count)])
            if n == 0:
                break
            h.update(view[:n])
            count += n
            if pace:
                pace(count)
        return h.hexdigest(), count

    def read_response(self, method="GET", keep_1xx=False):
        """Reads one response (1xx skipped unless keep_1xx); None on EOF before any byte."""
        head = self.read_head(keep_1xx)
        if head is None:
            return None
        status, headers = head.status, head.headers
        body, trailers = b"", []
        names = dict(headers)
        if method == "HEAD" or status < 200 or status in (204, 304):
            pass
        elif names.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    trailers = self._fields()
                    break
                parts.append(self._exactly(size))
                assert self._exactly(2) == b"\r\n", "chunk not followed by CRLF"
            body = b"".join(parts)
        elif "content-length" in names:
            body = self._exactly(int(names["content-length"]))
        else:
            body = self.read_to_close()
        head.body, head.trailers = body, trailers
        return head

    def read_to_close(self, timeout=10.0):
        """Everything until the peer closes (EOF or reset); raises if it stays open."""
        deadline = time.monotonic() + timeout
        out = bytes(self.buf)
        self.buf.clear()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"connection still open after {timeout}s (got {out[:200]!r})")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return out
            except socket.timeout:
                continue
            if not chunk:
                return out
            out += chunk

    def is_open(self, wait=0.2):
        """True when the peer neither closed nor sent anything within `wait` seconds."""
        if self.buf:
            return True
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return True
        except ConnectionResetError:
            return False
        finally:
            self.sock.settimeout(10.0)
        if chunk:
            self.buf += chunk
            return True
        return False


def request_bytes(method="GET", path="/", headers=(), body=b"", host="test", version="HTTP/1.1"):
    """A well-formed request; headers is a list of (name, value)."""
    lines = [f"{method} {path} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"{k}: {v}" for k, v in headers]
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def single_route_proxy(remora, backend, admin=True, hcm_extra=None, cluster_extra=None,
                       route_extra=None, log_level="info", **listener_extra):
    """remora with one HTTP listener routing everything to `backend` (cluster named after it).
    Returns (proc, listener_port)."""
    from conftest import bootstrap, free_ports, static_cluster
    listener_port, admin_port = free_ports(2)
    name = getattr(backend, "name", "backend")
    rc = {"virtual_hosts": [vhost(routes=[route(cluster=name, **(route_extra or {}))])]}
    cfg = bootstrap([http_listener("http", listener_port, rc, hcm_extra=hcm_extra, **listener_extra)],
                    [static_cluster(name, [backend.port], **(cluster_extra or {}))],
                    admin_port if admin else None)
    return remora(cfg, log_level=log_level), listener_port


class RawRequestReader(_BufferedReader):
    """The server side of a raw backend: reads requests off an accepted socket, strictly enough
    to see exactly what remora sent (framing, trailers), so tests can script odd upstreams."""

    def __init__(self, conn):
        self.conn = conn
        self.buf = bytearray()

    def _fill(self):
        chunk = self.conn.recv(65536)
        if not chunk:
            raise EOFError("peer closed")
        self.buf += chunk

    def read_head(self):
        """(method, path, [(name, value)]) of the next request; None on a clean EOF."""
        try:
            request_line = self._line().decode("latin-1")
        except EOFError:
            if not self.buf:
                return None
            raise
        method, path, _ = request_line.split(" ", 2)
        headers = []
        while True:
            line = self._line()
            if not line:
                return method, path, headers
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.lower(), value.strip()))

    def read_body(self, headers):
        """(body, trailers, chunked) for a request head's framing."""
        names = dict(headers)
        if names.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    trailers = []
                    while True:
                        line = self._line()
                        if not line:
                            return b"".join(parts), trailers, True
                        name, _, value = line.decode("latin-1").partition(":")
                        trailers.append((name.lower(), value.strip()))
                parts.append(self._exactly(size))
                assert self._exactly(2) == b"\r\n"
        return self._exactly(int(names.get("content-length", "0"))), [], False

    def read_request(self):
        """A whole request as a dict, or None on a clean EOF between requests."""
        head = self.read_head()
        if head is None:
            return None
        method, path, headers = head
        body, trailers, chunked = self.read_body(headers)
        return {"method": method, "path": path, "headers": dict(headers), "body": body,
                "trailers": dict(trailers), "chunked": chunked}


def raw_response(status=200, body=b"", headers=(), reason="OK"):
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
    if not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

# WebSocket (RFC 6455), minimal and real: the handshake with Sec-WebSocket-Accept, masked frames
# from the client, unmasked from the server, 16- and 64-bit lengths, close frames.

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_TEXT, WS_BINARY, WS_CLOSE = 0x1, 0x2, 0x8


def ws_accept(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


def ws_frame_header(opcode, n, mask):
    """The header of one final frame with an n-byte payload (without the masking key)."""
    head = bytearray([0x80 | opcode])
    mask_bit = 0x80 if mask else 0
    if n < 126:
        head.append(mask_bit | n)
    elif n < 1 << 16:
        head.append(mask_bit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(mask_bit | 127)
        head += struct.pack("!Q", n)
    return bytes(head)


def ws_frame(opcode, payload, mask):
    """One final frame; masked (with a random key) when sent by a client."""
    head = ws_frame_header(opcode, len(payload), mask)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + _ws_mask(payload, key)


def _ws_mask(payload, key):
    # XOR with the key repeated: done on whole integers, fast enough for MiB payloads.
    n = len(payload)
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def _recv_exact(sock, n):
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise EOFError(f"connection closed after {len(out)} of {n} bytes")
        out += chunk
    return bytes(out)


def ws_read_frame(sock):
    """Reads one frame; returns (opcode, payload), unmasking a client's frame."""
    b0, b1 = _recv_exact(sock, 2)
    opcode = b0 & 0x0F
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", _recv_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", _recv_exact(sock, 8))[0]
    key = _recv_exact(sock, 4) if b1 & 0x80 else None
    payload = _recv_exact(sock, n)
    return opcode, (_ws_mask(payload, key) if key else payload)


def _read_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise EOFError(f"closed during the HTTP head: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers, rest


class WsEchoServer:
    """A WebSocket echo server on loopback (one thread per connection): answers the handshake
    with 101 and the computed Sec-WebSocket-Accept, echoes each data frame, answers a close frame
    with a close frame, and when the client half-closes (EOF) sends a final text frame "bye"
    before closing. A text message "flood N" is answered with one binary message of N bytes of
    conftest.pattern(seed=9), sent as fast as the path takes it (`flood_sent` counts progress).
    `handshakes` records each handshake's request line and headers."""

    def __init__(self):
        self.handshakes = []
        self.flood_sent = 0
        self.errors = []
        self._conns = []
        self._stop = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, BlockingIOError):
                continue
            except OSError:
                return
            conn.settimeout(60)
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            request_line, headers, rest = _read_head(conn)
            self.handshakes.append((request_line, headers))
            assert not rest, "client bytes before the handshake completed"
            conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                          f"{ws_accept(headers['sec-websocket-key'])}\r\n\r\n").encode())
            while True:
                try:
                    opcode, payload = ws_read_frame(conn)
                except EOFError:
                    conn.sendall(ws_frame(WS_TEXT, b"bye", mask=False))
                    break
                if opcode == WS_CLOSE:
                    conn.sendall(ws_frame(WS_CLOSE, payload, mask=False))
                    break
                if opcode == WS_TEXT and payload.startswith(b"flood "):
                    self._flood(conn, int(payload.split()[1]))
                    continue
                conn.sendall(ws_frame(opcode, payload, mask=False))
        except Exception as e:  # surfaced by tests through .errors
            self.errors.append(repr(e))
        finally:
            conn.close()

    def _flood(self, conn, n):
        conn.sendall(ws_frame_header(WS_BINARY, n, mask=False))
        self.flood_sent = 0

        def progress():
            self.flood_sent = min(n, self.flood_sent + CHUNK)

        CHUNK = 256 * 1024
        send_pattern(conn, n, seed=9, chunk=CHUNK, pace=progress)

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()
        for c in self._conns:
            try:
                c.close()
            except OSError:
                pass


def ws_connect(port, path="/ws", host="example.com", timeout=30.0):
    """Opens a WebSocket through remora; returns (socket, status, headers). The socket is in
    WebSocket mode only when status is 101 (and the accept key was checked)."""
    key = base64.b64encode(os.urandom(16)).decode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    status_line, headers, rest = _read_head(sock)
    status = int(status_line.split()[1])
    if status == 101:
        assert headers.get("sec-websocket-accept") == ws_accept(key), headers
        assert not rest, rest
    return sock, status, headers


# --------------------------------------------------------------------------------------------
# Access logs: the response flags and details a test asserts are Envoy's, read from a file log.

FILE_ACCESS_LOG_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
FLAGS_FORMAT = ("%RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_REQUEST_ATTEMPT_COUNT% "
                "%RESPONSE_CODE_DETAILS%\n")


def file_access_log(path, fmt=FLAGS_FORMAT):
    """An HCM access_log entry writing `fmt` lines to `path`."""
    return {"name": "envoy.access_loggers.file", "typed_config": {
        "@type": FILE_ACCESS_LOG_TYPE, "path": str(path),
        "log_format": {"text_format_source": {"inline_string": fmt}}}}


def wait_log_lines(path, n, timeout=10.0):
    """The first n lines of an access log, waiting for remora's (1 s) flush."""
    def lines():
        try:
            got = path.read_text().splitlines()
        except OSError:
            return None
        return got if len(got) >= n else None
    return wait_until(lines, timeout, what=f"{n} access log line(s) in {path}")


def cluster_with_hostnames(name, endpoints, **extra):
    """A STATIC cluster whose endpoints carry hostnames: endpoints is [(port, hostname)]."""
    lb = [{"endpoint": {"address": socket_address(port), "hostname": hostname}}
          for port, hostname in endpoints]
    cluster = {"name": name, "type": "STATIC", "connect_timeout": "1s",
               "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": lb}]}}
    cluster.update(extra)
    return cluster


def run_hey(url, n, concurrency=4, headers=(), timeout=120):
    """Runs hey (keep-alive, fixed request count); returns its status-code counts {code: n}."""
    cmd = ["hey", "-n", str(n), "-c", str(concurrency), "-t", "10"]
    for name, value in headers:
        cmd += ["-H", f"{name}: {value}"]
    proc = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    counts = {}
    in_dist = False
    for line in proc.stdout.splitlines():
        if line.startswith("Status code distribution:"):
            in_dist = True
            continue
        if in_dist:
            parts = line.split()
            if len(parts) >= 2 and parts[0].startswith("[") and parts[0].endswith("]"):
                counts[int(parts[0][1:-1])] = int(parts[1])
            elif line.strip() == "" and counts:
                break
    return counts
