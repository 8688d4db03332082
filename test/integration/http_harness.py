"""HTTP pieces of the integration harness: bootstrap builders for the HTTP connection manager and a
real HTTP/1.1 keep-alive backend whose behaviour each request can steer.

The backend is Python's http.server (HTTP/1.1, one thread per connection). A request steers it with
headers, so a test needs no per-test server code:
  x-backend-status: 503         answer with this status
  x-backend-fail-times: N       answer x-backend-status only to the first N requests carrying the
                                same x-backend-fail-key (then 200); for retry tests
  x-backend-delay-ms: 300       wait before answering
  x-backend-body-bytes: N       answer with N bytes of pattern (streamed in 64 KiB writes)
  x-backend-close: 1            answer, then close the connection
Every answer is JSON (unless body-bytes is set) describing what arrived: the backend's name, the
method, path, headers (lower-cased names), body length and sha256 — and every request is recorded in
HttpBackend.requests, so tests can also assert what never reached the upstream.
"""

import hashlib
import json
import re
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import pattern, socket_address, wait_until, BLOCK

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

    def log_message(self, *args):
        pass

    def _handle(self):
        backend = self.server.backend
        length = int(self.headers.get("content-length", "0") or 0)
        h = hashlib.sha256()
        remaining = length
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            remaining = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
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
        headers = {k.lower(): v for k, v in self.headers.items()}
        record = {"backend": backend.name, "method": self.command, "path": self.path,
                  "headers": headers, "body_bytes": length, "body_sha": h.hexdigest()}
        with backend.lock:
            backend.requests.append(record)
        status = int(headers.get("x-backend-status", "200"))
        fail_times = headers.get("x-backend-fail-times")
        if fail_times is not None:
            key = headers.get("x-backend-fail-key", "")
            with backend.lock:
                seen = backend.fail_counts.get(key, 0)
                backend.fail_counts[key] = seen + 1
            if seen >= int(fail_times):
                status = 200
        delay = int(headers.get("x-backend-delay-ms", "0"))
        if delay:
            time.sleep(delay / 1000.0)
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
                while n:
                    k = min(n, 64 * 1024)
                    self.wfile.write(data[offset:offset + k])
                    offset = (offset + k) % BLOCK
                    n -= k
        else:
            body = json.dumps(record).encode()
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and status not in (204, 304):
                self.wfile.write(body)
        if close:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512


class HttpBackend:
    """A real HTTP/1.1 server on loopback in a thread; see the module docstring."""

    def __init__(self, name="backend", host="127.0.0.1", port=0):
        self.name = name
        self.requests = []
        self.fail_counts = {}
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
