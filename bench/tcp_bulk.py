#!/usr/bin/python3
"""Bulk TCP peers for bench/run.sh (loopback only).

  tcp_bulk.py sink PORT          accepts connections one at a time, reads each to EOF into a 4 MiB
                                 buffer, then replies with the byte count (8 bytes) and closes.
  tcp_bulk.py send PORT BYTES    connects to 127.0.0.1:PORT, sends BYTES from a 4 MiB buffer,
                                 half-closes, waits for the sink's count; prints "<bytes> <seconds>".
"""
import socket
import struct
import sys
import time

BUF = 4 << 20


def sink(port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    print("ready", flush=True)
    buf = bytearray(BUF)
    while True:
        conn, _ = srv.accept()
        with conn:
            total = 0
            while True:
                n = conn.recv_into(buf)
                if n == 0:
                    break
                total += n
            conn.sendall(struct.pack("!Q", total))


def send(port, nbytes):
    data = memoryview(bytearray(b"\xa5" * BUF))
    with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
        start = time.perf_counter()
        left = nbytes
        while left:
            n = min(BUF, left)
            s.sendall(data[:n])
            left -= n
        s.shutdown(socket.SHUT_WR)
        got = s.recv(8)
        elapsed = time.perf_counter() - start
    (count,) = struct.unpack("!Q", got)
    if count != nbytes:
        sys.exit(f"sink received {count} of {nbytes} bytes")
    print(f"{nbytes} {elapsed:.6f}")


if __name__ == "__main__":
    if sys.argv[1] == "sink":
        sink(int(sys.argv[2]))
    else:
        send(int(sys.argv[2]), int(sys.argv[3]))
