"""Issue 5's failure drill: under steady wrk load, one of three backends (real nginx servers) is
killed with SIGKILL. Requests caught on it (connections cut mid-request, connects refused) are
retried on the other two by the route's retry policy, so with idempotent requests no client sees
an error; outlier detection then takes the dead backend out of rotation, and the stats and
/clusters agree."""

import re
import signal
import subprocess

import pytest

from conftest import bootstrap, free_ports, static_cluster, wait_until
from http_harness import http_listener, route, vhost

RETRY_POLICY = {
    "retry_on": "connect-failure,reset,5xx",
    "num_retries": 3,
    "retry_host_predicate": [{
        "name": "envoy.retry_host_predicates.previous_hosts",
        "typed_config": {
            "@type": "type.googleapis.com/"
                     "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"},
    }],
    "host_selection_retry_max_attempts": 3,
}
# Every connection may be caught on the victim at once: room for that many concurrent retries
# (Envoy's default circuit breaker allows 3).
CIRCUIT_BREAKERS = {"thresholds": [{"max_retries": 64}]}
OUTLIER = {"consecutive_5xx": 3, "interval": "0.2s", "base_ejection_time": "30s",
           "max_ejection_percent": 50}


@pytest.fixture
def nginx_backends(tmp_path):
    """Starts n single-process nginx servers, each answering 200 with its name."""
    procs = []

    def start(n):
        ports = free_ports(n)
        for i, port in enumerate(ports):
            conf = tmp_path / f"nginx{i}.conf"
            conf.write_text(f"""
daemon off; master_process off; worker_processes 1;
pid {tmp_path}/nginx{i}.pid; error_log {tmp_path}/nginx{i}.err warn;
events {{ worker_connections 1024; }}
http {{
  access_log off; keepalive_requests 1000000;
  server {{ listen 127.0.0.1:{port}; location / {{ return 200 "b{i}\\n"; }} }}
}}
""")
            procs.append(subprocess.Popen(["nginx", "-c", str(conf),
                                           "-e", f"{tmp_path}/nginx{i}.err"]))
        for port in ports:
            wait_until(lambda: subprocess.run(["curl", "-s", "-o", "/dev/null",
                                               f"http://127.0.0.1:{port}/"]).returncode == 0,
                       10, what=f"nginx on {port}")
        return ports, procs

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def host_rq_total(proc):
    body = proc.get("/clusters").body
    return {int(m.group(1)): int(m.group(2))
            for m in re.finditer(r"^backend::127\.0\.0\.1:(\d+)::rq_total::(\d+)$", body, re.M)}


def test_killing_one_of_three_backends_under_load_loses_no_request(remora, nginx_backends):
    ports, procs = nginx_backends(3)
    listener_port, admin_port = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="backend", retry_policy=RETRY_POLICY)])]}
    cluster = static_cluster("backend", ports, outlier_detection=OUTLIER,
                             circuit_breakers=CIRCUIT_BREAKERS)
    proc = remora(bootstrap([http_listener("http", listener_port, rc)], [cluster], admin_port))

    wrk = subprocess.Popen(["wrk", "-t", "2", "-c", "16", "-d", "4s",
                            f"http://127.0.0.1:{listener_port}/drill"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # Load is flowing to every backend before the victim dies.
        wait_until(lambda: all(v >= 100 for v in host_rq_total(proc).values()), 10,
                   what="load on all three backends")
        procs[1].send_signal(signal.SIGKILL)
        out, _ = wrk.communicate(timeout=30)
    finally:
        if wrk.poll() is None:
            wrk.kill()
            wrk.wait()
    stats = proc.stats()
    out += "\n" + " ".join(f"{k}={v}" for k, v in sorted(stats.items())
                           if k.startswith("cluster.backend.upstream_rq_") and v)
    assert wrk.returncode == 0, out
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    assert requests > 500, out
    assert "Non-2xx or 3xx responses" not in out, out  # no client saw an error status
    assert "Socket errors" not in out, out  # nor a cut connection

    # Requests were caught on the victim (cut mid-request, or refused), and every one went again
    # elsewhere: a request cut on a reused connection before any response byte is re-sent at once
    # (the keep-alive race rule), the rest by the retry policy, each retry succeeding.
    caught = (stats.get("cluster.backend.upstream_rq_rx_reset", 0) +
              stats.get("cluster.backend.upstream_cx_connect_fail", 0))
    assert caught >= 1, out
    assert stats.get("cluster.backend.upstream_rq_retry_success", 0) == stats.get(
        "cluster.backend.upstream_rq_retry", 0)
    assert stats.get("cluster.backend.upstream_rq_retry_limit_exceeded", 0) == 0
    assert stats.get("cluster.backend.upstream_rq_retry_overflow", 0) == 0
    assert stats["http.ingress_http.downstream_rq_5xx"] == 0
    # Outlier detection ejected it: traffic has moved away, and /clusters says why.
    assert stats["cluster.backend.outlier_detection.ejections_active"] == 1
    body = proc.get("/clusters").body
    assert re.search(rf"^backend::127\.0\.0\.1:{ports[1]}::health_flags::/failed_outlier_check$",
                     body, re.M), body
    for port in (ports[0], ports[2]):
        assert re.search(rf"^backend::127\.0\.0\.1:{port}::health_flags::healthy$", body,
                         re.M), body
