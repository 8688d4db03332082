#!/usr/bin/env python3
"""HTTP/2 head-of-line isolation: the throughput of a 64 MiB download on one stream while another
stream of the same client connection is stalled (its reader stopped, its window full), against the
same download running alone on a fresh connection. Issue 4's companion to the must-show test
test/integration/test_http2_flow_control.py, which asserts the memory bound; this measures speed.

remora (--concurrency 1, on CPU 1) is in front of nginx (on CPU 0 with this client), once with an
HTTP/1.1 upstream and once with an HTTP/2 (h2c) upstream; the HTTP/2 cluster advertises the same
small windows as the test (1 MiB per stream, 16 MiB per connection). The client is
h2_frames.WindowedH2Conn (raw frames, 1 MiB stream windows, WINDOW_UPDATE per read batch),
identical in both runs, so the ratio is remora's.
    usage: bench/h2_stalled_stream.py BUILD/bin/remora [repeats, default 5]
Prints, per upstream protocol: median MB/s alone, median MB/s beside the stalled stream, their
ratio (1.00 = the stalled stream costs nothing), and remora's peak RSS (VmHWM) at the end."""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "integration"))
from h2_frames import DATA, END_STREAM, WindowedH2Conn, headers_frame, request_headers  # noqa

MiB = 1 << 20
BULK = 64 * MiB
STALLED = 1024 * MiB  # stream 1 asks for this; it never gets past its first window
WINDOW = MiB
HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def wait_until(predicate, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit(f"bench: {what} not ready after {timeout}s")


def http_ok(url):
    with urllib.request.urlopen(url, timeout=1) as r:
        return r.status == 200


def listening(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def cluster(name, port, h2):
    c = {"name": name, "type": "STATIC", "connect_timeout": "1s",
         "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {
             "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]}}
    if h2:
        c["typed_extension_protocol_options"] = {HTTP_OPTIONS: {
            "@type": "type.googleapis.com/" + HTTP_OPTIONS,
            "explicit_http_config": {"http2_protocol_options": {
                "initial_stream_window_size": WINDOW,
                "initial_connection_window_size": 16 * MiB}}}}
    return c


def remora_config(port, admin, h1_port, h2_port):
    routes = [{"match": {"prefix": "/h1/"}, "route": {"cluster": "h1"}},
              {"match": {"prefix": "/h2/"}, "route": {"cluster": "h2"}}]
    hcm = {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager"
                    ".v3.HttpConnectionManager",
           "stat_prefix": "bench", "codec_type": "HTTP2",
           "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes}]},
           "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
               "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}
    return {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
            "static_resources": {
                "listeners": [{"name": "h2", "address": {"socket_address": {
                    "address": "127.0.0.1", "port_value": port}},
                    "filter_chains": [{"filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": hcm}]}]}],
                "clusters": [cluster("h1", h1_port, False), cluster("h2", h2_port, True)]}}


def download(port, path, stalled_path=None):
    """Seconds for BULK bytes of `path` on a fresh connection; with stalled_path, stream 1 first
    asks for that and is left stalled at its window."""
    with WindowedH2Conn(port, WINDOW, stalled={1}, hash_data=False, timeout=60) as c:
        if stalled_path:
            c.send(headers_frame(1, request_headers(port, stalled_path)))
            if not c.wait_for(lambda f: c.received.get(1, 0) >= WINDOW, timeout=30):
                sys.exit(f"bench: stream 1 never filled its window: {c.frames[-3:]}")
        start = time.monotonic()
        c.send(headers_frame(3, request_headers(port, path)))
        end = c.stream_ended(3, timeout=120)
        elapsed = time.monotonic() - start
        if end is None or end.type != DATA or not end.flags & END_STREAM or \
                c.received.get(3) != BULK:
            sys.exit(f"bench: {path}: got {c.received.get(3)} bytes, last frame {end}")
        if stalled_path and c.received[1] != WINDOW:
            sys.exit(f"bench: the stalled stream got {c.received[1]} bytes, its window is {WINDOW}")
        return elapsed


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = os.path.realpath(sys.argv[1])
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    tmp = tempfile.mkdtemp(prefix="remora-bench.")
    os.chmod(tmp, 0o755)  # nginx's worker runs as nobody
    procs = []
    try:
        port, admin, h1_port, h2_port = free_ports(4)
        www = os.path.join(tmp, "www")
        for proto in ("h1", "h2"):
            os.makedirs(os.path.join(www, proto))
            for name, size in (("bulk", BULK), ("stalled", STALLED)):
                with open(os.path.join(www, proto, name), "wb") as f:
                    f.truncate(size)  # sparse: served from the page cache, no disk
        with open(os.path.join(tmp, "nginx.conf"), "w") as f:
            f.write(f"""worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx.err warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  server {{ listen 127.0.0.1:{h1_port}; root {www}; }}
  server {{ listen 127.0.0.1:{h2_port} http2; root {www}; }}
}}
""")
        procs.append(subprocess.Popen(["taskset", "-c", "0", "nginx", "-c", f"{tmp}/nginx.conf",
                                       "-e", f"{tmp}/nginx.err"]))
        wait_until(lambda: listening(h1_port) and listening(h2_port), "nginx")
        with open(os.path.join(tmp, "remora.json"), "w") as f:
            json.dump(remora_config(port, admin, h1_port, h2_port), f)
        log = open(os.path.join(tmp, "remora.log"), "wb")
        remora = subprocess.Popen(["taskset", "-c", "1", binary, "-c", f"{tmp}/remora.json",
                                   "--concurrency", "1", "-l", "warning"],
                                  stdout=log, stderr=subprocess.STDOUT)
        procs.append(remora)
        wait_until(lambda: http_ok(f"http://127.0.0.1:{admin}/ready"), "remora")
        os.sched_setaffinity(0, {0})

        print(f"bench: {BULK // MiB} MiB downloads over HTTP/2 through remora, {repeats} repeats "
              "interleaved", file=sys.stderr)
        results = {}
        for proto in ("h1", "h2"):
            alone, beside = [], []
            download(port, f"/{proto}/bulk")  # warm-up: pools, page cache
            for i in range(repeats):
                alone.append(BULK / MiB / download(port, f"/{proto}/bulk"))
                beside.append(BULK / MiB / download(port, f"/{proto}/bulk", f"/{proto}/stalled"))
                print(f"  run {i + 1} upstream {proto}: alone {alone[-1]:.0f} MiB/s, beside a "
                      f"stalled stream {beside[-1]:.0f} MiB/s", file=sys.stderr)
            results[proto] = (statistics.median(alone), statistics.median(beside))

        print()
        print("| upstream | alone MiB/s (median) | beside a stalled stream MiB/s (median) | ratio |")
        print("|---|---|---|---|")
        for proto, (alone, beside) in results.items():
            label = "HTTP/1.1 (nginx)" if proto == "h1" else "HTTP/2 h2c (nginx)"
            print(f"| {label} | {alone:.0f} | {beside:.0f} | {beside / alone:.2f} |")
        print()
        print(f"remora peak RSS (VmHWM) over the run: {vm_hwm_kib(remora.pid) / 1024:.1f} MiB")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
