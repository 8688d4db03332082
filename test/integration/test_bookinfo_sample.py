"""samples/bookinfo/bookinfo.py, the Bookinfo services the mesh demo runs: productpage gathers
details and reviews, reviews v2/v3 add ratings, every answer names its version, `end-user` is
forwarded on every hop, and productpage's budget for reviews is two tries of 3 s each."""
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import REPO, free_ports, is_listening, wait_until

BOOKINFO = REPO / "samples" / "bookinfo" / "bookinfo.py"


@pytest.fixture
def bookinfo():
    """start(service, version, **urls) runs one service on a free port and returns its URL."""
    procs = []

    def start(service, version="v1", **urls):
        (port,) = free_ports(1)
        env = {"PATH": "/usr/bin:/bin", "POD_NAME": f"{service}-{version}-0"}
        env.update({f"{name.upper()}_URL": url for name, url in urls.items()})
        procs.append(subprocess.Popen(
            [sys.executable, str(BOOKINFO), service, "--version", version, "--port", str(port)],
            env=env, stderr=subprocess.DEVNULL))
        wait_until(lambda: is_listening(port), 10, what=f"{service} {version} listening")
        return f"http://127.0.0.1:{port}"

    yield start
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=10)


def get(url, user=None, timeout=30):
    headers = {"end-user": user} if user else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                timeout=timeout) as r:
        assert r.status == 200
        return json.loads(r.read())


def test_productpage_gathers_every_version_and_forwards_the_user(bookinfo):
    ratings = bookinfo("ratings")
    details = bookinfo("details")
    for version, color in (("v1", None), ("v2", "black"), ("v3", "red")):
        reviews = bookinfo("reviews", version, ratings=ratings)
        page = get(bookinfo("productpage", details=details, reviews=reviews) + "/productpage",
                   user="jason")
        assert page["productpage"]["user"] == "jason"
        assert page["details"]["version"] == "v1" and page["details"]["user"] == "jason"
        assert page["details"]["author"] == "William Shakespeare"
        assert page["reviews"]["version"] == version and page["reviews"]["user"] == "jason"
        assert page["reviews"]["pod"] == f"reviews-{version}-0"
        for review in page["reviews"]["reviews"]:
            if color is None:
                assert "rating" not in review
            else:
                assert review["rating"]["color"] == color
                assert review["rating"]["stars"] in (4, 5)


def test_reviews_reports_ratings_unavailable(bookinfo):
    (closed,) = free_ports(1)
    reviews = bookinfo("reviews", "v2", ratings=f"http://127.0.0.1:{closed}")
    body = get(reviews + "/reviews/0")
    assert {r["rating"]["error"] for r in body["reviews"]} == {
        "Ratings service is currently unavailable"}


def test_productpage_gives_reviews_two_tries_of_three_seconds(bookinfo):
    tries = []
    release = threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self):
            tries.append(self.path)
            release.wait(10)  # longer than productpage's 3 s per try

        def log_message(self, *args):
            pass

    slow = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    slow.daemon_threads = True
    threading.Thread(target=slow.serve_forever, daemon=True).start()
    try:
        (closed,) = free_ports(1)
        page = get(bookinfo("productpage", details=f"http://127.0.0.1:{closed}",
                            reviews=f"http://127.0.0.1:{slow.server_address[1]}") + "/productpage")
        assert page["reviews"] == {
            "error": "Sorry, product reviews are currently unavailable for this book."}
        assert page["details"] == {
            "error": "Sorry, product details are currently unavailable for this book."}
        assert tries == ["/reviews/0", "/reviews/0"]
    finally:
        release.set()
        slow.shutdown()
        slow.server_close()


def test_health_and_unknown_paths(bookinfo):
    ratings = bookinfo("ratings")
    assert get(ratings + "/health") == {"status": "ratings is healthy"}
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(ratings + "/nothing", timeout=10)
    assert e.value.code == 404
