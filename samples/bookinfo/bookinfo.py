#!/usr/bin/env python3
"""Bookinfo's four services as one small program: `bookinfo.py <service> [--version vN]`.

`bookinfo.py load [--user U] [--requests N]` is the demo's client: it calls productpage and
prints a one-line JSON summary of what answered.

Each plays the part of Istio's Bookinfo sample so the mesh has real traffic to steer:
- productpage calls details and reviews, giving reviews 3 s per try and one retry, as the real
  productpage does, and reports "reviews unavailable" when both tries fail;
- reviews v1 calls nothing, v2 and v3 call ratings (10 s timeout; v2 shows black stars, v3 red);
- ratings and details answer from fixed data.
Every answer names the version that served it (and the pod, from HOSTNAME, and the peer address
that connected: 127.0.0.6 behind a sidecar), and the `end-user`
header — which picks the Bookinfo rules' test user "jason" — is forwarded on every call.
Callees are found as `http://<service>:9080` (the mesh's DNS and VIPs) unless DETAILS_URL,
REVIEWS_URL or RATINGS_URL say otherwise. Listens on --port (9080) on every address.
"""
import argparse
import json
import os
import socket
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Headers the sample forwards downstream: the user, and the trace context Envoy adds.
FORWARDED = ("end-user", "x-request-id", "traceparent", "tracestate", "x-b3-traceid",
             "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags")

REVIEWS_UNAVAILABLE = "Sorry, product reviews are currently unavailable for this book."
RATINGS_UNAVAILABLE = "Ratings service is currently unavailable"
DETAILS_UNAVAILABLE = "Sorry, product details are currently unavailable for this book."

BOOK = {"id": 0, "author": "William Shakespeare", "year": 1595, "type": "paperback",
        "pages": 200, "publisher": "PublisherA", "language": "English",
        "ISBN-10": "1234567890", "ISBN-13": "123-1234567890"}
RATINGS = {"Reviewer1": 5, "Reviewer2": 4}


def service_url(service):
    return os.environ.get(f"{service.upper()}_URL", f"http://{service}:9080")


def call(service, path, headers, timeout, tries=1):
    """GET a callee; returns (status, parsed JSON or None). Transport errors count as 503."""
    status, body = 503, None
    for _ in range(tries):
        request = urllib.request.Request(service_url(service) + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            status, body = e.code, None
        except (urllib.error.URLError, OSError, ValueError):
            status, body = 503, None
    return status, body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    service = ""
    version = "v1"

    def log_message(self, *args):  # one line per request is noise in a mesh of sidecars
        pass

    def forwarded_headers(self):
        return {h: self.headers[h] for h in FORWARDED if self.headers.get(h)}

    def reply(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/health":
            return self.reply(200, {"status": f"{self.service} is healthy"})
        route = ROUTES[self.service]
        prefix, handler = route
        if not (path == prefix or path.startswith(prefix + "/")):
            return self.reply(404, {"error": f"no route for {path}"})
        handler(self)

    def whoami(self):
        return {"service": self.service, "version": self.version,
                "pod": os.environ.get("HOSTNAME", socket.gethostname()),
                "user": self.headers.get("end-user", ""),
                # Who connected: the sidecar's inbound cluster binds to 127.0.0.6, as Istio's.
                "peer": self.client_address[0]}


def productpage(h):
    headers = h.forwarded_headers()
    page = {"productpage": h.whoami()}
    status, details = call("details", "/details/0", headers, timeout=3)
    page["details"] = details if status == 200 else {"error": DETAILS_UNAVAILABLE}
    # The real productpage: 3 s per try, two tries.
    status, reviews = call("reviews", "/reviews/0", headers, timeout=3, tries=2)
    page["reviews"] = reviews if status == 200 else {"error": REVIEWS_UNAVAILABLE}
    h.reply(200, page)


def reviews(h):
    body = {"id": "0", **h.whoami(), "reviews": [
        {"reviewer": "Reviewer1", "text": "An extremely entertaining play by Shakespeare."},
        {"reviewer": "Reviewer2", "text": "Absolutely fun and entertaining."}]}
    if h.version != "v1":
        status, ratings = call("ratings", "/ratings/0", h.forwarded_headers(), timeout=10)
        color = "black" if h.version == "v2" else "red"
        for review in body["reviews"]:
            if status == 200:
                stars = ratings.get("ratings", {}).get(review["reviewer"])
                review["rating"] = {"stars": stars, "color": color}
            else:
                review["rating"] = {"error": RATINGS_UNAVAILABLE}
    h.reply(200, body)


def ratings(h):
    h.reply(200, {"id": 0, **h.whoami(), "ratings": RATINGS})


def details(h):
    h.reply(200, {**BOOK, **h.whoami()})


ROUTES = {"productpage": ("/productpage", productpage), "reviews": ("/reviews", reviews),
          "ratings": ("/ratings", ratings), "details": ("/details", details)}


def load(url, user, requests, concurrency, timeout):
    """The demo's client: `requests` GETs of productpage as `user`, `concurrency` at a time; prints
    one JSON line: which reviews version answered, and how often reviews or ratings were
    unavailable or the request failed."""
    import concurrent.futures
    import time
    headers = {"end-user": user} if user else {}

    def one(_):
        start = time.monotonic()
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                        timeout=timeout) as response:
                page = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as e:
            return {"error": str(e)}, time.monotonic() - start
        return page, time.monotonic() - start

    summary = {"requests": requests, "versions": {}, "reviews_unavailable": 0,
               "ratings_unavailable": 0, "errors": 0, "max_seconds": 0.0}
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        for page, seconds in pool.map(one, range(requests)):
            summary["max_seconds"] = round(max(summary["max_seconds"], seconds), 2)
            reviews = page.get("reviews")
            if reviews is None:
                summary["errors"] += 1
            elif "error" in reviews:
                summary["reviews_unavailable"] += 1
            else:
                version = reviews.get("version", "?")
                summary["versions"][version] = summary["versions"].get(version, 0) + 1
                if any("error" in r.get("rating", {}) for r in reviews.get("reviews", [])):
                    summary["ratings_unavailable"] += 1
    print(json.dumps(summary, sort_keys=True))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        parser = argparse.ArgumentParser(description="drive productpage and summarize")
        parser.add_argument("load")
        parser.add_argument("--url", default="http://productpage:9080/productpage")
        parser.add_argument("--user", default="")
        parser.add_argument("--requests", type=int, default=20)
        parser.add_argument("--concurrency", type=int, default=10)
        parser.add_argument("--timeout", type=float, default=30)
        a = parser.parse_args()
        return load(a.url, a.user, a.requests, a.concurrency, a.timeout)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service", choices=sorted(ROUTES))
    parser.add_argument("--version", default="v1")
    parser.add_argument("--port", type=int, default=9080)
    args = parser.parse_args()
    Handler.service, Handler.version = args.service, args.version
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("", args.port), Handler)
    print(f"{args.service} {args.version} listening on :{args.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
