"""Access logs for L4 connections (tcp_proxy access_log: bytes, duration, upstream host and
cluster, response flags) and the admin /reopen_logs endpoint that logrotate relies on."""

import os

from conftest import (bootstrap, closed_by_peer, connect, free_ports, recv_all, send_pattern,
                      sink_handler, static_cluster, tcp_listener, wait_until)

FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
L4_FORMAT = ("%UPSTREAM_CLUSTER% %UPSTREAM_HOST% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "
             "%RESPONSE_FLAGS% %DOWNSTREAM_REMOTE_ADDRESS% %UPSTREAM_LOCAL_ADDRESS% "
             "%PROTOCOL% %RESPONSE_CODE%\n")


def file_log(path, fmt=L4_FORMAT):
    return {"name": "envoy.access_loggers.file",
            "typed_config": {"@type": FILE_LOG, "path": str(path),
                             "log_format": {"text_format_source": {"inline_string": fmt}}}}


def log_lines(path, n, timeout=10):
    """Waits until `path` holds n lines (access logs are flushed about every second)."""
    def ready():
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            return None
        return lines if len(lines) >= n else None
    return wait_until(ready, timeout, interval=0.1, what=f"{n} line(s) in {path}")


def test_tcp_proxy_logs_each_connection(remora, backends, tmp_path):
    sink = backends(sink_handler())
    dead_port, retry_port, listener_port, failing_port, retrying_port, admin_port = free_ports(6)
    log = tmp_path / "tcp.log"
    listeners = [
        tcp_listener("ok", listener_port, "sink", "ok", proxy_extra={"access_log": [file_log(log)]}),
        tcp_listener("bad", failing_port, "dead", "bad", proxy_extra={"access_log": [file_log(log)]}),
        tcp_listener("retry", retrying_port, "dead2", "retry",
                     proxy_extra={"access_log": [file_log(log)], "max_connect_attempts": 2}),
    ]
    clusters = [static_cluster("sink", [sink.port]), static_cluster("dead", [dead_port]),
                static_cluster("dead2", [retry_port])]
    proc = remora(bootstrap(listeners, clusters, admin_port))

    with connect(listener_port) as s:
        send_pattern(s, 100_000)
        s.shutdown(1)  # half-close: the sink answers with "<sha> <count>\n" (71 bytes)
        _, reply_bytes = recv_all(s)
    (line,) = log_lines(log, 1)
    fields = line.split(" ")
    assert fields[0] == "sink"
    assert fields[1] == f"127.0.0.1:{sink.port}"
    assert fields[2] == "100000"
    assert fields[3] == str(reply_bytes)
    assert fields[4].isdigit()
    assert fields[5] == "-"
    assert fields[6].startswith("127.0.0.1:")
    assert fields[7].startswith("127.0.0.1:") and fields[7] != fields[1]
    assert fields[8:] == ["-", "0"]  # no HTTP protocol, no response code on L4

    with connect(failing_port) as s:
        assert closed_by_peer(s)
    with connect(retrying_port) as s:
        assert closed_by_peer(s)
    lines = log_lines(log, 3)
    failed = {line.split(" ")[0]: line.split(" ") for line in lines[1:]}
    # Envoy's flags for a connection whose every connect attempt failed.
    assert failed["dead"][5] == "UF,URX"
    assert failed["dead"][1] == f"127.0.0.1:{dead_port}"
    assert failed["dead"][2:4] == ["0", "0"]
    assert failed["dead"][7] == "-"  # never connected: no upstream local address
    assert failed["dead2"][5] == "UF,URX"
    proc.wait_stat("cluster.dead2.upstream_cx_connect_fail", lambda v: v == 2)


def test_reopen_logs_after_rotation(remora, backends, tmp_path):
    sink = backends(sink_handler())
    listener_port, admin_port = free_ports(2)
    log = tmp_path / "access.log"
    rotated = tmp_path / "access.log.1"
    proc = remora(bootstrap(
        [tcp_listener("ok", listener_port, "sink", "ok",
                      proxy_extra={"access_log": [file_log(log, "conn %BYTES_RECEIVED%\n")]})],
        [static_cluster("sink", [sink.port])], admin_port))

    def one_connection(nbytes):
        with connect(listener_port) as s:
            send_pattern(s, nbytes)
            s.shutdown(1)
            recv_all(s)

    one_connection(1)
    assert log_lines(log, 1) == ["conn 1"]
    os.rename(log, rotated)  # what logrotate does
    one_connection(2)
    # Until reopened, remora keeps writing to the file it has open: the rotated one.
    assert log_lines(rotated, 2) == ["conn 1", "conn 2"]
    assert not log.exists()

    assert proc.get("/reopen_logs").status == 405  # state-changing: POST only, as Envoy
    resp = proc.post("/reopen_logs")
    assert resp.status == 200 and resp.body == "OK\n"
    one_connection(3)
    assert log_lines(log, 1) == ["conn 3"]
    assert rotated.read_text().splitlines() == ["conn 1", "conn 2"]
