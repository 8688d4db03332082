"""Tiny TCP peers run inside a network namespace by test_netns_capture.py (via `ip netns exec`).

  ns_helper.py backend HOST PORT SECONDS
      Listens on HOST:PORT; for each connection replies one line
      "peer=<ip>:<port> local=<ip>:<port>" then echoes until EOF. Prints "ready" once listening;
      exits after SECONDS (a bound: the test kills it earlier).
  ns_helper.py http HOST PORT SECONDS
      An HTTP/1.1 server answering every GET with "peer=<ip>:<port> host=<Host header>". Prints
      "ready" once listening; exits after SECONDS.
  ns_helper.py client HOST PORT MESSAGE
      Connects, prints "client_local=<ip>:<port> client_peer=<ip>:<port>", sends MESSAGE, reads the
      backend's line and the echo, prints both, half-closes and waits for EOF.
"""

import http.server
import socket
import sys
import threading
import time


def backend(host, port, seconds):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(64)
    srv.settimeout(0.2)
    print("ready", flush=True)
    deadline = time.monotonic() + seconds

    def serve(conn, peer):
        with conn:
            conn.settimeout(10)
            local = conn.getsockname()
            conn.sendall(f"peer={peer[0]}:{peer[1]} local={local[0]}:{local[1]}\n".encode())
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)

    while time.monotonic() < deadline:
        try:
            conn, peer = srv.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(conn, peer), daemon=True).start()


def http_backend(host, port, seconds):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = (f"peer={self.client_address[0]}:{self.client_address[1]} "
                    f"host={self.headers.get('Host')}\n").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    time.sleep(seconds)


def client(host, port, message):
    with socket.create_connection((host, port), timeout=10) as s:
        local, peer = s.getsockname(), s.getpeername()
        print(f"client_local={local[0]}:{local[1]} client_peer={peer[0]}:{peer[1]}", flush=True)
        s.sendall(message.encode())
        f = s.makefile("rb")
        line = f.readline().decode().strip()
        echo = f.read(len(message)).decode()
        print(line, flush=True)
        print(f"echo={echo}", flush=True)
        s.shutdown(socket.SHUT_WR)
        assert s.recv(1) == b""


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "backend":
        backend(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif mode == "http":
        http_backend(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif mode == "client":
        client(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(f"unknown mode {mode}")
