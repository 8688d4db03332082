"""Harness for remora's integration tests: free ports, bootstrap configs, a remora process fixture,
admin access through curl, and small TCP backends running in Python threads.

Everything here stays on loopback. Every wait is bounded; nothing sleeps to synchronise.
"""

import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("REMORA_BUILD", REPO / "build"))
REMORA_BIN = BUILD / "bin" / "remora"
# Set by `make test-asan`: big transfers are scaled down and RSS limits are not asserted.
SANITIZED = os.environ.get("REMORA_SANITIZED") == "1"

MiB = 1 << 20
GiB = 1 << 30
BIG = 64 * MiB if SANITIZED else GiB  # the "1 GiB" transfer
IO_TIMEOUT = 60.0  # per socket operation; a stuck proxy fails the test instead of hanging it
READY_TIMEOUT = 10.0


class WaitTimeout(AssertionError):
    pass


def wait_until(predicate, timeout, interval=0.02, what="condition"):
    """Polls predicate() until truthy or timeout; returns its value or raises WaitTimeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# Ports


def free_ports(n, host="127.0.0.1"):
    """n distinct ports the kernel reports free (all held bound until every one is chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port(host="127.0.0.1"):
    return free_ports(1, host)[0]


def is_listening(port, host="127.0.0.1"):
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# Bootstrap builders (JSON is valid YAML, so configs are written with json.dumps)

TCP_PROXY_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
ORIGINAL_DST_TYPE = "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst"


def socket_address(port, host="127.0.0.1"):
    return {"socket_address": {"address": host, "port_value": port}}


def static_cluster(name, ports, weights=None, host="127.0.0.1", **extra):
    endpoints = []
    for i, port in enumerate(ports):
        ep = {"endpoint": {"address": socket_address(port, host)}}
        if weights:
            ep["load_balancing_weight"] = weights[i]
        endpoints.append(ep)
    cluster = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": endpoints}]},
    }
    cluster.update(extra)
    return cluster


def tcp_proxy_filter(cluster=None, stat_prefix="tcp", **extra):
    cfg = {"@type": TCP_PROXY_TYPE, "stat_prefix": stat_prefix}
    if cluster is not None:
        cfg["cluster"] = cluster
    cfg.update(extra)
    return {"name": "envoy.filters.network.tcp_proxy", "typed_config": cfg}


def tcp_listener(name, port, cluster=None, stat_prefix=None, host="127.0.0.1", proxy_extra=None,
                 **extra):
    listener = {
        "name": name,
        "address": socket_address(port, host),
        "filter_chains": [
            {"filters": [tcp_proxy_filter(cluster, stat_prefix or name, **(proxy_extra or {}))]}
        ],
    }
    listener.update(extra)
    return listener


def bootstrap(listeners, clusters, admin_port=None, **extra):
    cfg = {"static_resources": {"listeners": listeners, "clusters": clusters}}
    if admin_port is not None:
        cfg["admin"] = {"address": socket_address(admin_port)}
    cfg.update(extra)
    return cfg


def simple_proxy_config(backend_port, listener_port, admin_port, cluster="backend",
                        stat_prefix="ingress_tcp", proxy_extra=None, cluster_extra=None):
    """One listener → tcp_proxy → one STATIC cluster of one endpoint, as examples/tcp_proxy.yaml."""
    return bootstrap(
        [tcp_listener("ingress", listener_port, cluster, stat_prefix, proxy_extra=proxy_extra)],
        [static_cluster(cluster, [backend_port], **(cluster_extra or {}))],
        admin_port,
    )


# --------------------------------------------------------------------------------------------
# Admin through curl (a real HTTP client)


class AdminResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-cased names
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"AdminResponse({self.status}, {self.headers}, {self.body[:200]!r})"


def curl(url, method="GET", timeout=5.0, headers=(), data=None, extra=()):
    """Runs curl; returns AdminResponse, or None when the connection failed. headers: ("Name: v",
    ...) or a dict; data: a request body (bytes, sent as given); extra: more curl arguments."""
    argv = ["curl", "-sS", "-i", "--max-time", str(timeout), "-X", method]
    if isinstance(headers, dict):
        headers = [f"{name}: {value}" for name, value in headers.items()]
    for h in headers:
        argv += ["-H", h]
    if data is not None:
        argv += ["--data-binary", "@-"]
    proc = subprocess.run(
        argv + list(extra) + [url], input=data, capture_output=True, timeout=timeout + 5,
    )
    if proc.returncode != 0:
        return None
    raw = proc.stdout
    # Skip interim 1xx responses.
    while True:
        head, sep, body = raw.partition(b"\r\n\r\n")
        if not sep:
            return None
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        if 100 <= status < 200:
            raw = body
            continue
        headers = {}
        header_list = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
            header_list.append((name.strip().lower(), value.strip()))
        resp = AdminResponse(status, headers, body.decode("utf-8", "replace"))
        resp.header_list = header_list  # every field in order, repeated names kept
        return resp


def parse_text_stats(body):
    stats = {}
    for line in body.splitlines():
        name, sep, value = line.partition(": ")
        if not sep:
            continue
        try:
            stats[name] = int(value)
        except ValueError:
            stats[name] = value  # histograms
    return stats


# --------------------------------------------------------------------------------------------
# The remora process


class Remora:
    def __init__(self, config_path, log_path, args, admin_port):
        self.config_path = config_path
        self.log_path = log_path
        self.admin_port = admin_port
        self.args = [str(REMORA_BIN), "-c", str(config_path)] + list(args)
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid

    # -- lifecycle
    def wait_ready(self, timeout=READY_TIMEOUT):
        """Polls admin /ready until 200; fails early if remora exits."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"remora exited with {self.proc.returncode} before ready:\n"
                                     + self.log())
            last = curl(self.url("/ready"), timeout=1.0)
            if last is not None and last.status == 200:
                return
            time.sleep(0.02)
        raise AssertionError(f"remora not ready after {timeout}s (last /ready: {last}):\n" + self.log())

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"remora still running after {timeout}s") from None

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._log.close()

    def log(self):
        try:
            return Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""

    # -- admin
    def url(self, path):
        return f"http://127.0.0.1:{self.admin_port}{path}"

    def get(self, path, method="GET"):
        resp = curl(self.url(path), method=method)
        assert resp is not None, f"admin {method} {path}: connection failed\n" + self.log()
        return resp

    def post(self, path):
        return self.get(path, method="POST")

    def stats(self):
        resp = self.get("/stats")
        assert resp.status == 200, resp
        return parse_text_stats(resp.body)

    def stat(self, name):
        return self.stats().get(name)

    def wait_stat(self, name, predicate, timeout=5.0):
        """Waits until predicate(value of stat name) holds; returns the value."""
        box = {}

        def check():
            box["v"] = self.stats().get(name)
            return box["v"] is not None and predicate(box["v"])

        try:
            wait_until(check, timeout, interval=0.05, what=f"stat {name}")
        except WaitTimeout:
            raise AssertionError(f"stat {name} = {box.get('v')!r} never satisfied the condition") from None
        return box["v"]

    # -- process facts
    def vm_hwm_kib(self):
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM")

    def cpu_seconds(self):
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for proc in getattr(item, "_remora_procs", []):
            report.sections.append((f"remora log (pid {proc.pid}, {proc.log_path})", proc.log()[-20000:]))


@pytest.fixture
def remora(request, tmp_path):
    """Factory: remora(config_dict, *args, wait=True, concurrency=1) → running Remora.

    The config is written to tmp as YAML; remora's output goes to a file shown when the test
    fails; readiness is admin /ready; every process is killed at teardown.
    """
    procs = []
    request.node._remora_procs = procs

    def start(config, *args, wait=True, concurrency=1, log_level="info"):
        n = len(procs)
        config_path = tmp_path / f"remora{n}.yaml"
        if isinstance(config, str):
            config_path.write_text(config)
            admin_port = None
        else:
            config_path.write_text(json.dumps(config, indent=1))
            admin_port = config.get("admin", {}).get("address", {}).get("socket_address", {}).get(
                "port_value")
        argv = list(args)
        if concurrency is not None and "--concurrency" not in argv:
            argv += ["--concurrency", str(concurrency)]
        if log_level and "-l" not in argv and "--log-level" not in argv:
            argv += ["-l", log_level]
        proc = Remora(config_path, tmp_path / f"remora{n}.log", argv, admin_port)
        procs.append(proc)
        if wait:
            proc.wait_ready()
        return proc

    yield start
    for proc in procs:
        proc.kill()


def run_remora(args, timeout=15):
    """Runs remora to completion (validate, flags); returns CompletedProcess with text output."""
    return subprocess.run([str(REMORA_BIN)] + list(args), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


# --------------------------------------------------------------------------------------------
# Payloads: a random block of odd length repeated, so chunk boundaries never line up with it and
# reordered, dropped or duplicated chunks change the digest.

BLOCK = MiB + 7
_PATTERNS = {}


def pattern(seed):
    if seed not in _PATTERNS:
        block = random.Random(seed).randbytes(BLOCK)
        _PATTERNS[seed] = memoryview(block + block)
    return _PATTERNS[seed]


def send_pattern(sock, nbytes, seed=1, chunk=MiB, pace=None):
    """Sends nbytes of pattern(seed); returns the sha256 hex of what was sent."""
    data = pattern(seed)
    h = hashlib.sha256()
    offset = 0
    remaining = nbytes
    while remaining:
        n = min(chunk, remaining)
        view = data[offset:offset + n]
        sock.sendall(view)
        h.update(view)
        offset = (offset + n) % BLOCK
        remaining -= n
        if pace:
            pace()
    return h.hexdigest()


def pattern_digest(nbytes, seed=1):
    data = pattern(seed)
    h = hashlib.sha256()
    offset = 0
    while nbytes:
        n = min(MiB, nbytes)
        h.update(data[offset:offset + n])
        offset = (offset + n) % BLOCK
        nbytes -= n
    return h.hexdigest()


def recv_all(sock, limit=None, bufsize=MiB):
    """Reads until EOF (or limit bytes); returns (sha256 hex, byte count)."""
    h = hashlib.sha256()
    buf = bytearray(bufsize)
    mv = memoryview(buf)
    total = 0
    while limit is None or total < limit:
        want = bufsize if limit is None else min(bufsize, limit - total)
        n = sock.recv_into(mv[:want])
        if n == 0:
            break
        h.update(mv[:n])
        total += n
    return h.hexdigest(), total


def recv_exactly(sock, n):
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def connect(port, host="127.0.0.1", source=None, timeout=IO_TIMEOUT):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(source)
    s.connect((host, port))
    return s


def closed_by_peer(sock, timeout=5.0):
    """True when the peer closes (EOF or reset) within timeout, reading and dropping any data."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    return False


# --------------------------------------------------------------------------------------------
# Backends: a listening socket on loopback, one thread per accepted connection running a handler.


class Backend:
    def __init__(self, handler, host="127.0.0.1", port=0, backlog=512, start=True):
        self.handler = handler
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(backlog)
        self.sock.settimeout(0.1)
        self.host, self.port = self.sock.getsockname()[:2]
        self.accepted = 0
        self.peers = []
        self.results = []
        self.errors = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns = []
        self._threads = []
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        if start:
            self._thread.start()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except (socket.timeout, BlockingIOError):
                continue
            except OSError:
                return
            conn.settimeout(IO_TIMEOUT)
            with self._lock:
                self.accepted += 1
                self.peers.append(peer)
                self._conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn):
        try:
            result = self.handler(conn)
            if result is not None:
                with self._lock:
                    self.results.append(result)
        except Exception as e:  # surfaced by tests through .errors
            with self._lock:
                self.errors.append(repr(e))
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def wait_results(self, n, timeout=IO_TIMEOUT):
        wait_until(lambda: len(self.results) + len(self.errors) >= n, timeout,
                   what=f"{n} backend result(s) on :{self.port}")
        assert not self.errors, self.errors
        return list(self.results)

    def wait_accepted(self, n, timeout=10.0):
        wait_until(lambda: self.accepted >= n, timeout, what=f"{n} accept(s) on :{self.port}")

    def close(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.sock.close()
        with self._lock:
            for c in self._conns:
                try:
                    c.close()
                except OSError:
                    pass


class StalledBackend(Backend):
    """A backend whose connects hang: its accept queue (backlog 0) holds one connection of ours,
    so the kernel drops every further SYN, as a blackholed address would, without leaving
    loopback. release() takes that connection away and starts serving: the next SYN
    retransmission (1 s, 3 s, 7 s after the first) connects."""

    def __init__(self, handler, **kw):
        super().__init__(handler, backlog=0, start=False, **kw)
        self._filler = socket.create_connection((self.host, self.port), timeout=5)

    def release(self):
        wait_until(self._take_filler, 5, what="the queued filler connection")
        self._thread.start()

    def _take_filler(self):
        try:
            conn, _ = self.sock.accept()
        except (socket.timeout, BlockingIOError):
            return False
        conn.close()
        self._filler.close()
        return True

    def close(self):
        self._filler.close()
        super().close()


# Handlers. Each returns a result dict recorded in Backend.results.

def echo_handler(conn):
    total = 0
    while True:
        data = conn.recv(MiB)
        if not data:
            break
        conn.sendall(data)
        total += len(data)
    conn.shutdown(socket.SHUT_WR)
    return {"echoed": total}


def sink_handler(reply=True):
    """Reads to EOF; replies '<sha256> <count>\\n' on the still-open write side (half-close)."""
    def handler(conn):
        digest, count = recv_all(conn)
        if reply:
            conn.sendall(f"{digest} {count}\n".encode())
            conn.shutdown(socket.SHUT_WR)
        return {"sha": digest, "bytes": count}
    return handler


def source_handler(nbytes, seed=2):
    """Sends nbytes then half-closes; keeps reading what the client sends after that EOF."""
    def handler(conn):
        sent = send_pattern(conn, nbytes, seed)
        conn.shutdown(socket.SHUT_WR)
        digest, count = recv_all(conn)
        return {"sent_sha": sent, "rx_sha": digest, "rx_bytes": count}
    return handler


def duplex_handler(nbytes, seed=3):
    """Sends nbytes while concurrently sinking what arrives (full duplex)."""
    def handler(conn):
        box = {}

        def sender():
            box["sent"] = send_pattern(conn, nbytes, seed)
            conn.shutdown(socket.SHUT_WR)

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        digest, count = recv_all(conn)
        t.join(IO_TIMEOUT)
        return {"sent_sha": box.get("sent"), "rx_sha": digest, "rx_bytes": count}
    return handler


def slow_reader_handler(slow_seconds=3.0, small=4096, pause=0.01):
    """Reads small chunks with pauses for a bounded time, then drains at full speed."""
    def handler(conn):
        h = hashlib.sha256()
        total = 0
        deadline = time.monotonic() + slow_seconds
        eof = False
        while time.monotonic() < deadline:
            data = conn.recv(small)
            if not data:
                eof = True
                break
            h.update(data)
            total += len(data)
            time.sleep(pause)
        if not eof:
            buf = bytearray(MiB)
            mv = memoryview(buf)
            while True:
                n = conn.recv_into(buf)
                if n == 0:
                    break
                h.update(mv[:n])
                total += n
        conn.sendall(f"{h.hexdigest()} {total}\n".encode())
        conn.shutdown(socket.SHUT_WR)
        return {"sha": h.hexdigest(), "bytes": total}
    return handler


def hello_handler(tag):
    """Sends a tag line and closes; used to see which backend a connection reached."""
    def handler(conn):
        conn.sendall(f"{tag}\n".encode())
        conn.shutdown(socket.SHUT_WR)
        recv_all(conn)
        return None
    return handler


@pytest.fixture
def backends():
    """Factory: backends(handler, ...) → Backend; all closed at teardown."""
    made = []

    def make(handler, **kw):
        b = Backend(handler, **kw)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


@pytest.fixture
def stalled_backends():
    """Factory: stalled_backends(handler) → StalledBackend; all closed at teardown."""
    made = []

    def make(handler, **kw):
        b = StalledBackend(handler, **kw)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


@pytest.fixture
def ports():
    return free_ports


@pytest.fixture
def http_backends():
    """Factory: http_backends(name) → http_harness.HttpBackend; all closed at teardown."""
    from http_harness import HttpBackend  # the harness imports this module: import late
    made = []

    def make(name="backend", **kw):
        b = HttpBackend(name, **kw)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


class DiscoveryFile:
    """A filesystem xDS source: write() replaces the file atomically (write aside, then
    rename, as Envoy expects) with a DiscoveryResponse of `resources` (dicts without @type)."""

    def __init__(self, path, type_url):
        self.path = path
        self.type_url = type_url
        self.version = 0

    def config_source(self, **extra):
        source = {"path_config_source": {"path": str(self.path)}, "resource_api_version": "V3"}
        source.update(extra)
        return source

    def write(self, resources, version=None, text=None):
        self.version += 1
        if text is None:
            items = [dict({"@type": self.type_url}, **r) for r in resources]
            text = json.dumps({"version_info": version or str(self.version), "resources": items})
        tmp = self.path.parent / (self.path.name + ".tmp")
        tmp.write_text(text)
        os.rename(tmp, self.path)
