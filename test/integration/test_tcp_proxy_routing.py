"""tcp_proxy upstream selection and failure handling: connect failures, max_connect_attempts,
idle_timeout, weighted_clusters, weighted round robin, filter_chain_match and default_filter_chain."""

import socket
import time

from conftest import (bootstrap, closed_by_peer, connect, echo_handler, free_port, free_ports,
                      hello_handler, static_cluster, tcp_listener, tcp_proxy_filter)


def read_tag(port, source=None):
    """Connects through remora and returns the tag line the chosen backend sent ('' if closed)."""
    with connect(port, source=source, timeout=10) as s:
        data = b""
        while not data.endswith(b"\n"):
            try:
                chunk = s.recv(100)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        return data.decode().strip()


def test_connect_failure_closes_client_and_counts(remora):
    dead_port, listener_port, admin_port = free_ports(3)
    cfg = bootstrap([tcp_listener("l", listener_port, "dead", "dead_tcp")],
                    [static_cluster("dead", [dead_port])], admin_port)
    proc = remora(cfg)
    with connect(listener_port, timeout=10) as s:
        assert closed_by_peer(s, timeout=5), "client connection not closed after upstream refused"
    proc.wait_stat("cluster.dead.upstream_cx_connect_fail", lambda v: v >= 1)
    stats = proc.stats()
    assert stats["cluster.dead.upstream_cx_total"] >= 1
    assert stats["listener.127.0.0.1_%d.downstream_cx_total" % listener_port] == 1


def test_max_connect_attempts_retries_on_the_live_endpoint(remora, backends):
    live = backends(hello_handler("live"))
    dead_port, listener_port, admin_port = free_ports(3)
    cfg = bootstrap(
        [tcp_listener("l", listener_port, "pair", "pair_tcp",
                      proxy_extra={"max_connect_attempts": 3})],
        [static_cluster("pair", [dead_port, live.port])], admin_port)
    proc = remora(cfg)
    for _ in range(4):
        assert read_tag(listener_port) == "live"
    assert live.accepted == 4
    # Round robin must have tried the dead endpoint on some of those.
    proc.wait_stat("cluster.pair.upstream_cx_connect_fail", lambda v: v >= 1)


def test_single_connect_attempt_fails_when_the_dead_endpoint_is_picked(remora, backends):
    """Contrast for the test above: with the default of one attempt, round robin over
    [dead, live] makes one of two consecutive connections fail."""
    live = backends(hello_handler("live"))
    dead_port, listener_port, admin_port = free_ports(3)
    cfg = bootstrap([tcp_listener("l", listener_port, "pair", "pair_tcp")],
                    [static_cluster("pair", [dead_port, live.port])], admin_port)
    remora(cfg)
    tags = sorted(read_tag(listener_port) for _ in range(2))
    assert tags == ["", "live"]


def test_connect_timeout_to_unresponsive_endpoint(remora):
    """An endpoint whose accept backlog is full never answers the SYN: connect_timeout fires."""
    listener_port, admin_port = free_ports(2)
    holders = []
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(0)
    try:
        # Fill the backlog (never accepted) until a direct connect no longer completes.
        for _ in range(16):
            c = socket.socket()
            c.settimeout(0.3)
            holders.append(c)
            try:
                c.connect(blackhole.getsockname())
            except socket.timeout:
                break
        else:
            import pytest
            pytest.skip("could not fill the listen backlog on this kernel")
        cfg = bootstrap([tcp_listener("l", listener_port, "slow", "slow")],
                        [static_cluster("slow", [blackhole.getsockname()[1]], connect_timeout="0.5s")],
                        admin_port)
        proc = remora(cfg)
        with connect(listener_port, timeout=10) as s:
            start = time.monotonic()
            assert closed_by_peer(s, timeout=5), "client not closed after connect_timeout"
            elapsed = time.monotonic() - start
        assert 0.4 <= elapsed < 3.0, f"closed after {elapsed:.2f}s with connect_timeout 0.5s"
        proc.wait_stat("cluster.slow.upstream_cx_connect_timeout", lambda v: v == 1)
        # Envoy folds a connect timeout into the connect-failure path: both counters move.
        assert proc.stat("cluster.slow.upstream_cx_connect_fail") >= 1, \
            "a connect timeout must also count as upstream_cx_connect_fail (as in Envoy)"
    finally:
        for c in holders:
            c.close()
        blackhole.close()


def test_idle_timeout_closes_idle_connection(remora, backends):
    backend = backends(echo_handler)
    listener_port, admin_port = free_ports(2)
    cfg = bootstrap([tcp_listener("l", listener_port, "b", "idle",
                                  proxy_extra={"idle_timeout": "0.5s"})],
                    [static_cluster("b", [backend.port])], admin_port)
    proc = remora(cfg)
    with connect(listener_port, timeout=10) as s:
        s.sendall(b"x")
        assert s.recv(1) == b"x"
        start = time.monotonic()
        assert closed_by_peer(s, timeout=5), "idle connection not closed"
        elapsed = time.monotonic() - start
    assert 0.4 <= elapsed < 3.0, f"closed after {elapsed:.2f}s, idle_timeout is 0.5s"
    proc.wait_stat("tcp.idle.idle_timeout", lambda v: v == 1)


def test_active_connection_is_not_idle(remora, backends):
    backend = backends(echo_handler)
    listener_port, admin_port = free_ports(2)
    cfg = bootstrap([tcp_listener("l", listener_port, "b", "idle",
                                  proxy_extra={"idle_timeout": "0.5s"})],
                    [static_cluster("b", [backend.port])], admin_port)
    proc = remora(cfg)
    with connect(listener_port, timeout=10) as s:
        for _ in range(10):  # 10 × 0.2 s = 2 s of traffic, never 0.5 s idle
            s.sendall(b"y")
            assert s.recv(1) == b"y"
            time.sleep(0.2)
    assert proc.stat("tcp.idle.idle_timeout") == 0


def test_weighted_clusters_split_by_weight(remora, backends):
    a = backends(hello_handler("a"))
    b = backends(hello_handler("b"))
    listener_port, admin_port = free_ports(2)
    weighted = {"clusters": [{"name": "ca", "weight": 1}, {"name": "cb", "weight": 3}]}
    cfg = bootstrap([tcp_listener("l", listener_port, None, "split",
                                  proxy_extra={"weighted_clusters": weighted})],
                    [static_cluster("ca", [a.port]), static_cluster("cb", [b.port])], admin_port)
    proc = remora(cfg, concurrency=2)
    n = 200
    tags = [read_tag(listener_port) for _ in range(n)]
    assert tags.count("a") + tags.count("b") == n
    # Expect 50 / 150; binomial sd ≈ 6.1, tolerance ±25 (> 4 sd).
    assert 25 <= tags.count("a") <= 75, f"a got {tags.count('a')} of {n} (weight 1 of 4)"
    stats = proc.stats()
    assert stats["cluster.ca.upstream_cx_total"] == tags.count("a")
    assert stats["cluster.cb.upstream_cx_total"] == tags.count("b")
    assert stats["tcp.split.downstream_cx_total"] == n


def test_round_robin_respects_endpoint_weights(remora, backends):
    bs = [backends(hello_handler(t)) for t in ("x", "y", "z")]
    listener_port, admin_port = free_ports(2)
    cfg = bootstrap([tcp_listener("l", listener_port, "rr", "rr")],
                    [static_cluster("rr", [b.port for b in bs], weights=[1, 1, 2])], admin_port)
    remora(cfg, concurrency=1)
    n = 100
    tags = [read_tag(listener_port) for _ in range(n)]
    counts = {t: tags.count(t) for t in "xyz"}
    assert sum(counts.values()) == n
    assert abs(counts["x"] - 25) <= 3 and abs(counts["y"] - 25) <= 3, counts
    assert abs(counts["z"] - 50) <= 3, counts
    assert [b.accepted for b in bs] == [counts["x"], counts["y"], counts["z"]]


def chain(match, cluster, stat_prefix=None):
    fc = {"filters": [tcp_proxy_filter(cluster, stat_prefix or cluster)]}
    if match is not None:
        fc["filter_chain_match"] = match
    return fc


def test_filter_chain_match_selects_clusters(remora, backends):
    tags = ["by_port", "src_net", "src_port", "dflt", "narrow", "wide"]
    bk = {t: backends(hello_handler(t)) for t in tags}
    p, q, r, t_port, admin_port = free_ports(5)
    src_port = free_port()
    listeners = [
        {   # destination_port, then source_prefix_ranges / source_ports refine it
            "name": "by_port_listener", "address": {"socket_address": {"address": "127.0.0.1", "port_value": p}},
            "filter_chains": [
                chain({"destination_port": p, "source_prefix_ranges": [
                    {"address_prefix": "127.0.0.2", "prefix_len": 32}]}, "src_net"),
                chain({"destination_port": p, "source_ports": [src_port]}, "src_port"),
                chain({"destination_port": p}, "by_port"),
            ],
            "default_filter_chain": chain(None, "dflt", "dflt_p"),
        },
        {   # no chain matches this listener's port: the default chain takes it
            "name": "default_listener", "address": {"socket_address": {"address": "127.0.0.1", "port_value": q}},
            "filter_chains": [chain({"destination_port": p}, "by_port", "by_port_q")],
            "default_filter_chain": chain(None, "dflt", "dflt_q"),
        },
        {   # the longest destination prefix wins
            "name": "prefix_listener", "address": {"socket_address": {"address": "127.0.0.1", "port_value": r}},
            "filter_chains": [
                chain({"prefix_ranges": [{"address_prefix": "127.0.0.0", "prefix_len": 8}]}, "wide"),
                chain({"prefix_ranges": [{"address_prefix": "127.0.0.1", "prefix_len": 32}]}, "narrow"),
            ],
        },
        {   # nothing matches and no default: the connection is closed
            "name": "nomatch_listener", "address": {"socket_address": {"address": "127.0.0.1", "port_value": t_port}},
            "filter_chains": [
                chain({"prefix_ranges": [{"address_prefix": "10.0.0.0", "prefix_len": 8}]}, "wide", "nm"),
            ],
        },
    ]
    clusters = [static_cluster(t, [bk[t].port]) for t in tags]
    proc = remora(bootstrap(listeners, clusters, admin_port))

    assert read_tag(p) == "by_port"
    assert read_tag(p, source=("127.0.0.2", 0)) == "src_net"
    assert read_tag(p, source=("127.0.0.1", src_port)) == "src_port"
    assert read_tag(q) == "dflt"
    assert read_tag(r) == "narrow"
    with connect(t_port, timeout=10) as s:
        assert closed_by_peer(s, timeout=5)
    proc.wait_stat(f"listener.127.0.0.1_{t_port}.no_filter_chain_match", lambda v: v == 1)
    assert all(bk[t].accepted == (1 if t != "wide" else 0) for t in tags), \
        {t: bk[t].accepted for t in tags}
