#!/usr/bin/env python3
"""A steady stream of GETs, run inside a pod (`remoractl mesh exec POD -- python3 steady_load.py`)
so it goes through the pod's sidecar: `--workers` threads, half on one keep-alive connection each
(reopened only if the server closes it), half on a new connection per request, until the file
`--stop` exists or `--max-seconds` pass. Every request is one JSON line appended to `--out` as it
completes: {"start": t, "end": t, "status": code or null, "version": body's "version",
"error": text}, times from time.time() so a test outside the pod can compare them with its own.
A response that is not 200 or not JSON, and any transport error, is a failure ("error" set)."""
import argparse
import http.client
import json
import os
import threading
import time


def worker(host, port, path, keep_alive, args, out, lock):
    conn = None
    while not os.path.exists(args.stop) and time.time() < args.deadline:
        record = {"start": time.time(), "status": None, "version": None, "error": None,
                  "keep_alive": keep_alive}
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=args.timeout)
            conn.request("GET", path, headers={} if keep_alive else {"connection": "close"})
            response = conn.getresponse()
            body = response.read()
            record["status"] = response.status
            if response.status != 200:
                record["error"] = f"status {response.status}: {body[:200]!r}"
            else:
                record["version"] = json.loads(body).get("version")
            if not keep_alive or response.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException, ValueError) as e:
            record["error"] = f"{type(e).__name__}: {e}"
            if conn is not None:
                conn.close()
            conn = None
        record["end"] = time.time()
        with lock:
            out.write(json.dumps(record) + "\n")
            out.flush()
        if args.pause:
            time.sleep(args.pause)  # pacing, so the stream is steady rather than a flood


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="reviews")
    parser.add_argument("--port", type=int, default=9080)
    parser.add_argument("--path", default="/reviews/0")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--pause", type=float, default=0.005)
    parser.add_argument("--timeout", type=float, default=10)
    parser.add_argument("--max-seconds", type=float, default=120)
    parser.add_argument("--stop", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    args.deadline = time.time() + args.max_seconds
    lock = threading.Lock()
    with open(args.out, "a") as out:
        threads = [threading.Thread(target=worker, args=(args.host, args.port, args.path, i % 2 == 0,
                                                         args, out, lock))
                   for i in range(args.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


if __name__ == "__main__":
    main()
