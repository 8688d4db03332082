"""Histogram stats end to end, in Envoy's admin formats: requests through an HTTP connection
manager to a backend that delays some of them show up in /stats (P0..P100 as
(interval,cumulative)), /stats?format=json (supported_quantiles / computed_quantiles) and
/stats/prometheus (_bucket{le=...}, _sum, _count), with the delays where they belong; a tcp_proxy
listener records its connection lengths."""

import math
import re
import socket
import threading
import time

import pytest

from conftest import (bootstrap, connect, curl, echo_handler, free_ports, static_cluster,
                      tcp_listener, wait_until)
from http_harness import http_listener, route, vhost

QUANTILES = ["0", "25", "50", "75", "90", "95", "99", "99.5", "99.9", "100"]
BOUNDS = ["0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000",
          "30000", "60000", "300000", "600000", "1800000", "3600000"]
FAST, SLOW, DELAY_MS = 20, 5, 300
# Buckets are at most 1/64 of their value wide: a quantile is within 1.6% of the true one.
REL = 1 / 64


def text_stats(proc, query=""):
    """/stats text → {name: value string}."""
    r = proc.get("/stats" + query)
    assert r.status == 200, r
    out = {}
    for line in r.body.splitlines():
        name, sep, value = line.partition(": ")
        assert sep, line
        out[name] = value
    return out


def parse_summary(value):
    """Envoy's 'P0(i,c) P25(i,c) ... P100(i,c)' → [(interval, cumulative)], 'nan' as NaN."""
    parts = value.split(" ")
    assert [p.split("(")[0] for p in parts] == ["P" + q for q in QUANTILES], value
    pairs = []
    for p in parts:
        m = re.fullmatch(r"P[0-9.]+\(([^,()]+),([^,()]+)\)", p)
        assert m, p
        pairs.append((float(m.group(1)), float(m.group(2))))
    return pairs


def assert_monotonic(values, what):
    assert all(not math.isnan(v) for v in values), (what, values)
    assert values == sorted(values), (what, values)


def prometheus_histogram(body, family, labels):
    """The lines of one histogram: ([(le, count)], sum, count)."""
    buckets = re.findall(r"^%s_bucket\{%s,le=\"([^\"]+)\"\} (\d+)$" % (family, re.escape(labels)),
                         body, re.M)
    total = re.search(r"^%s_sum\{%s\} (\S+)$" % (family, re.escape(labels)), body, re.M)
    count = re.search(r"^%s_count\{%s\} (\d+)$" % (family, re.escape(labels)), body, re.M)
    assert buckets and total and count, (family, labels, body)
    return [(le, int(n)) for le, n in buckets], float(total.group(1)), int(count.group(1))


def start_http(remora, http_backends):
    backend = http_backends("b1")
    listener_port, admin_port = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="b1")])]}
    # A short flush interval, so the interval view turns over within the test.
    proc = remora(bootstrap([http_listener("http", listener_port, rc)],
                            [static_cluster("b1", [backend.port])], admin_port,
                            stats_flush_interval="1s"))
    return proc, listener_port


def send_traffic(port):
    """FAST immediate requests and SLOW ones the backend holds DELAY_MS, the slow ones in parallel."""
    url = f"http://127.0.0.1:{port}/"
    failures = []

    def slow():
        r = curl(url, headers={"x-backend-delay-ms": DELAY_MS}, timeout=10)
        if r is None or r.status != 200:
            failures.append(r)

    threads = [threading.Thread(target=slow) for _ in range(SLOW)]
    for t in threads:
        t.start()
    for _ in range(FAST):
        r = curl(url)
        assert r is not None and r.status == 200, r
    for t in threads:
        t.join()
    assert not failures, failures


def test_request_times_in_text_json_and_prometheus(remora, http_backends):
    proc, port = start_http(remora, http_backends)
    before = text_stats(proc)
    assert before["http.ingress_http.downstream_rq_time"] == "No recorded values"
    assert before["cluster.b1.upstream_rq_time"] == "No recorded values"
    send_traffic(port)
    total = FAST + SLOW

    stats = text_stats(proc)
    # Histograms follow the counters and gauges, each part in name order, as Envoy prints them.
    names = list(stats)
    first_histogram = names.index("cluster.b1.upstream_cx_connect_ms")
    assert names[:first_histogram] == sorted(names[:first_histogram])
    assert names[first_histogram:] == sorted(names[first_histogram:])
    for name in ("http.ingress_http.downstream_rq_time", "cluster.b1.upstream_rq_time"):
        cumulative = [c for _, c in parse_summary(stats[name])]
        assert_monotonic(cumulative, name)
        # 25 samples: up to P75 (rank 18) the fast ones, from P99 (rank 23.76) the delayed ones.
        assert cumulative[0] >= 0
        assert cumulative[3] < DELAY_MS * (1 - REL), (name, cumulative)
        assert cumulative[6] >= DELAY_MS * (1 - REL), (name, cumulative)
        assert DELAY_MS * (1 - REL) <= cumulative[9] < DELAY_MS + 5000, (name, cumulative)
    connect_ms = [c for _, c in parse_summary(stats["cluster.b1.upstream_cx_connect_ms"])]
    assert_monotonic(connect_ms, "upstream_cx_connect_ms")
    # Pooled upstream connections are all still open: nothing to measure yet.
    assert stats["cluster.b1.upstream_cx_length_ms"] == "No recorded values"

    # JSON: Envoy's layout, the same numbers (to %g's six digits).
    doc = proc.get("/stats?format=json").json()
    entries = [e for e in doc["stats"] if "histograms" in e]
    assert len(entries) == 1 and doc["stats"][-1] is entries[0]
    histograms = entries[0]["histograms"]
    assert histograms["supported_quantiles"] == [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100]
    computed = {h["name"]: h["values"] for h in histograms["computed_quantiles"]}
    assert list(computed) == sorted(computed)
    assert all(v == {"cumulative": None, "interval": None}
               for v in computed["cluster.b1.upstream_cx_length_ms"])
    text_rq = [c for _, c in parse_summary(text_stats(proc)["http.ingress_http.downstream_rq_time"])]
    json_rq = [v["cumulative"] for v in computed["http.ingress_http.downstream_rq_time"]]
    assert json_rq == [pytest.approx(t, rel=1e-5) for t in text_rq]

    # Prometheus: cumulative buckets at Envoy's default bounds.
    body = proc.get("/stats/prometheus").body
    assert "# TYPE envoy_http_downstream_rq_time histogram" in body
    assert "# TYPE envoy_cluster_upstream_rq_time histogram" in body
    buckets, total_ms, count = prometheus_histogram(
        body, "envoy_http_downstream_rq_time", 'envoy_http_conn_manager_prefix="ingress_http"')
    assert [le for le, _ in buckets] == BOUNDS + ["+Inf"]
    counts = dict(buckets)
    assert [n for _, n in buckets] == sorted(n for _, n in buckets)
    assert counts["+Inf"] == count == total
    assert counts["250"] <= FAST, "the delayed requests are above 250 ms"
    assert counts["2500"] == total
    assert total_ms >= SLOW * DELAY_MS
    buckets, total_ms, count = prometheus_histogram(body, "envoy_cluster_upstream_rq_time",
                                                    'envoy_cluster_name="b1"')
    assert count == total and dict(buckets)["250"] <= FAST and total_ms >= SLOW * DELAY_MS

    # Each downstream connection (curl opens one per request) is measured when it closes.
    wait_until(lambda: prometheus_histogram(
        proc.get("/stats/prometheus").body, "envoy_http_downstream_cx_length_ms",
        'envoy_http_conn_manager_prefix="ingress_http"')[2] == total, 5, what="cx lengths")


def test_filter_and_usedonly_apply_to_histograms(remora, http_backends):
    proc, port = start_http(remora, http_backends)
    send_traffic(port)
    assert list(text_stats(proc, "?filter=downstream_rq_time$")) == [
        "http.ingress_http.downstream_rq_time"]
    used = text_stats(proc, "?usedonly&filter=%5Ecluster%5C.b1%5C.upstream_(cx|rq)_")
    assert "cluster.b1.upstream_rq_time" in used and "cluster.b1.upstream_cx_connect_ms" in used
    assert "cluster.b1.upstream_cx_length_ms" not in used
    doc = proc.get("/stats?format=json&usedonly&filter=upstream_cx_length_ms").json()
    assert doc == {"stats": []}
    body = proc.get("/stats/prometheus?usedonly").body
    assert "envoy_cluster_upstream_rq_time_count" in body
    assert "envoy_cluster_upstream_cx_length_ms" not in body
    # An upstream connection the backend closes gets measured, and then it is used.
    r = curl(f"http://127.0.0.1:{port}/", headers={"x-backend-close": "1"})
    assert r is not None and r.status == 200
    wait_until(lambda: "cluster.b1.upstream_cx_length_ms" in text_stats(proc, "?usedonly"), 5,
               what="upstream_cx_length_ms used")


def test_interval_turns_over_on_each_flush(remora, http_backends):
    proc, port = start_http(remora, http_backends)
    send_traffic(port)
    name = "http.ingress_http.downstream_rq_time"
    cumulative = [c for _, c in parse_summary(text_stats(proc)[name])]
    seen = {}

    def interval_has_samples():
        pairs = parse_summary(text_stats(proc, "?filter=downstream_rq_time$")[name])
        seen["interval"] = [i for i, _ in pairs]
        seen["cumulative"] = [c for _, c in pairs]
        return not math.isnan(pairs[0][0])

    # The flush after the traffic closes an interval that holds (some of) it...
    wait_until(interval_has_samples, 5, interval=0.05, what="an interval with samples")
    assert_monotonic(seen["interval"], "interval")
    assert seen["interval"][9] <= seen["cumulative"][9]
    assert seen["cumulative"] == cumulative  # no traffic since: the cumulative view is unchanged

    # ...and the next flush without traffic leaves the interval empty, the cumulative view not.
    def interval_empty():
        pairs = parse_summary(text_stats(proc, "?filter=downstream_rq_time$")[name])
        seen["cumulative"] = [c for _, c in pairs]
        return all(math.isnan(i) for i, _ in pairs)

    wait_until(interval_empty, 5, interval=0.05, what="an empty interval")
    assert seen["cumulative"] == cumulative
    doc = proc.get("/stats?format=json&filter=downstream_rq_time$").json()
    values = doc["stats"][0]["histograms"]["computed_quantiles"][0]["values"]
    assert all(v["interval"] is None and v["cumulative"] is not None for v in values)


def test_tcp_proxy_listener_connection_lengths(remora, backends):
    backend = backends(echo_handler)
    listener_port, admin_port = free_ports(2)
    proc = remora(bootstrap([tcp_listener("tcp", listener_port, "echo")],
                            [static_cluster("echo", [backend.port])], admin_port))
    listener = f"listener.127.0.0.1_{listener_port}.downstream_cx_length_ms"
    hold_ms = 200
    for _ in range(3):
        with connect(listener_port) as s:
            s.sendall(b"ping")
            assert s.recv(16) == b"ping"
            time.sleep(hold_ms / 1000)  # the connection's length is what is measured
            s.shutdown(socket.SHUT_WR)
            s.recv(16)

    def measured():
        body = proc.get("/stats/prometheus").body
        return prometheus_histogram(body, "envoy_listener_downstream_cx_length_ms",
                                    f'envoy_listener_address="127.0.0.1_{listener_port}"')[2] == 3

    wait_until(measured, 5, what="three listener connection lengths")
    stats = text_stats(proc)
    lengths = [c for _, c in parse_summary(stats[listener])]
    assert_monotonic(lengths, listener)
    assert hold_ms * (1 - REL) <= lengths[0] and lengths[9] < hold_ms + 5000, lengths
    connect_ms = [c for _, c in parse_summary(stats["cluster.echo.upstream_cx_connect_ms"])]
    assert_monotonic(connect_ms, "connect")
    assert connect_ms[9] < 1000  # loopback
    wait_until(lambda: text_stats(proc)["cluster.echo.upstream_cx_length_ms"] != "No recorded values",
               5, what="upstream connection lengths")
    upstream = [c for _, c in parse_summary(text_stats(proc)["cluster.echo.upstream_cx_length_ms"])]
    assert upstream[0] >= hold_ms * (1 - REL), upstream


# --------------------------------------------------------------------------------------------
# /stats/prometheus, parsed strictly


METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def parse_prometheus(body):
    """The text exposition format (0.0.4), as Envoy writes it, checked strictly: every family
    has one TYPE line before its samples and its samples together; counter and gauge samples
    carry the family's name, histogram ones _bucket (with le), _sum and _count; labels are
    well-formed and no series repeats. Returns {family: (type, {sample name + labels: value})}."""
    assert body.endswith("\n"), body[-200:]
    families = {}
    current = None
    for line in body.splitlines():
        assert line, "Envoy writes no blank lines"
        if line.startswith("#"):
            kind, name, type_ = line.split(" ")[1:]
            assert kind == "TYPE" and METRIC_NAME.fullmatch(name), line
            assert type_ in ("counter", "gauge", "histogram"), line
            assert name not in families, f"second TYPE line for {name}"
            families[name] = (type_, {})
            current = name
            continue
        m = SAMPLE.fullmatch(line)
        assert m, f"malformed sample line {line!r}"
        name, labels, value = m.groups()
        assert current is not None, f"sample before any TYPE line: {line!r}"
        type_, samples = families[current]
        suffixes = ("_bucket", "_sum", "_count") if type_ == "histogram" else ("",)
        assert any(name == current + s for s in suffixes), f"{line!r} outside family {current}"
        pairs = LABEL.findall(labels)
        assert ",".join(f'{k}="{v}"' for k, v in pairs) == labels, f"bad labels in {line!r}"
        names = [k for k, _ in pairs]
        assert len(names) == len(set(names)), line
        assert ("le" in names) == name.endswith("_bucket") or type_ != "histogram", line
        float(value)
        key = name + "{" + labels + "}"
        assert key not in samples, f"duplicate series {key}"
        samples[key] = float(value)
    return families


def check_histogram_series(family, samples):
    """Per series: buckets in ascending le order, cumulative, ending at +Inf == _count."""
    series = {}
    for key, value in samples.items():
        name, labels = key[:-1].split("{", 1)
        if name == family + "_bucket":
            rest, le = labels.rsplit('le="', 1)
            series.setdefault(rest.rstrip(","), []).append((float(le[:-1]), value))
    assert series, family
    for labels, buckets in series.items():
        bounds = [b for b, _ in buckets]
        assert bounds == sorted(bounds) and bounds[-1] == math.inf, (family, labels, bounds)
        counts = [c for _, c in buckets]
        assert counts == sorted(counts), (family, labels, counts)
        assert counts[-1] == samples[f"{family}_count{{{labels}}}"], (family, labels)
        assert f"{family}_sum{{{labels}}}" in samples, (family, labels)


def test_prometheus_output_parses_strictly(remora, http_backends):
    backend = http_backends("b1")
    listener_port, admin_port = free_ports(2)
    policy = {"retry_on": "5xx", "num_retries": 1,
              "retry_back_off": {"base_interval": "0.001s", "max_interval": "0.002s"}}
    rc = {"virtual_hosts": [vhost(routes=[route(cluster="b1", retry_policy=policy)])]}
    proc = remora(bootstrap([http_listener("http", listener_port, rc)],
                            [static_cluster("b1", [backend.port])], admin_port))
    for i in range(3):  # each answered 503 once, then 200 on the retry
        r = curl(f"http://127.0.0.1:{listener_port}/", headers={
            "x-backend-status": "503", "x-backend-fail-times": "1", "x-backend-fail-key": str(i)})
        assert r is not None and r.status == 200, r
    families = parse_prometheus(proc.get("/stats/prometheus").body)
    for family, (type_, samples) in families.items():
        if type_ == "histogram":
            check_histogram_series(family, samples)
    # Envoy's tag extraction takes the cluster name up to its stats: retried responses form their
    # own family (cluster.<name>.retry.upstream_rq_<code>), labelled with the plain cluster name.
    _, retried = families["envoy_cluster_retry_upstream_rq"]
    assert retried == {'envoy_cluster_retry_upstream_rq{envoy_response_code="503",'
                       'envoy_cluster_name="b1"}': 3}
    _, answered = families["envoy_cluster_upstream_rq"]
    assert answered == {'envoy_cluster_upstream_rq{envoy_response_code="200",'
                        'envoy_cluster_name="b1"}': 3}
    assert families["envoy_cluster_upstream_rq_time"][0] == "histogram"
