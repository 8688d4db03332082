"""HTTP access logs as Envoy writes them: the documented default format (constant text byte for
byte, START_TIME as %Y-%m-%dT%H:%M:%E3SZ, DURATION an integer, X-REQUEST-ID a UUID,
UPSTREAM_HOST ip:port, "-" for what is absent), json_format, and the file and stdout loggers."""

import datetime
import json
import re

from conftest import bootstrap, curl, free_ports, static_cluster, wait_until
from http_harness import RawHttp, http_listener, request_bytes, route, vhost

FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
STDOUT_LOG = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"

# Envoy's default format, as documented:
#   [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
#   %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
#   %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
#   "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n
DEFAULT_LINE = re.compile(
    r'^\[(?P<start>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) (?P<protocol>\S+)" '
    r'(?P<code>\d+) (?P<flags>\S+) (?P<rx>\d+) (?P<tx>\d+) (?P<duration>\S+) '
    r'(?P<svc>\S+) "(?P<xff>[^"]*)" "(?P<ua>[^"]*)" "(?P<rid>[^"]*)" "(?P<authority>[^"]*)" '
    r'"(?P<upstream>[^"]*)"$')
START_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def proxy_with_logs(remora, backend, access_log):
    """Routes /ok to the backend; anything else has no route (404 NR)."""
    listener_port, admin_port = free_ports(2)
    rc = {"virtual_hosts": [vhost(routes=[route({"prefix": "/ok"}, cluster=backend.name)])]}
    cfg = bootstrap([http_listener("http", listener_port, rc, hcm_extra={"access_log": access_log})],
                    [static_cluster(backend.name, [backend.port])], admin_port)
    return remora(cfg), listener_port


def file_lines(path, n, timeout=5.0):
    def ready():
        if not path.exists():
            return None
        text = path.read_text()
        return text if text.count("\n") >= n else None
    text = wait_until(ready, timeout, what=f"{n} access log line(s) in {path}")
    assert text.endswith("\n")
    return text.splitlines()


def test_default_format_file_logger(remora, http_backends, tmp_path):
    backend = http_backends("logged")
    log = tmp_path / "access.log"
    proc, port = proxy_with_logs(remora, backend, [
        {"name": "envoy.access_loggers.file", "typed_config": {"@type": FILE_LOG, "path": str(log)}}])
    before = datetime.datetime.now(datetime.timezone.utc)
    ok = curl(f"http://127.0.0.1:{port}/ok/a")
    assert ok.status == 200
    with RawHttp(port) as c:
        c.send(request_bytes(method="POST", path="/ok/b?q=1", body=b"hello world",
                             headers=[("X-Forwarded-For", "198.51.100.7"),
                                      ("x-request-id", "4bf92f35-77b3-4da6-a3ce-929d0e0e4736")]))
        posted = c.read_response()
        assert posted.status == 200
        c.send(request_bytes(path="/nope"))
        missing = c.read_response()
        assert missing.status == 404
    after = datetime.datetime.now(datetime.timezone.utc)

    lines = file_lines(log, 3)
    parsed = []
    for line in lines:
        m = DEFAULT_LINE.match(line)
        assert m, f"not Envoy's default format: {line!r}"
        parsed.append(m.groupdict())
    for p in parsed:
        assert START_TIME.match(p["start"]), p["start"]
        start = datetime.datetime.strptime(p["start"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc)
        assert before - datetime.timedelta(seconds=1) <= start <= after, (before, start, after)
        assert p["protocol"] == "HTTP/1.1"
        assert p["duration"].isdigit() and int(p["duration"]) < 5000
        assert p["authority"] == "test" or p["authority"] == f"127.0.0.1:{port}"
    get_line, post_line, miss_line = parsed
    # A curl GET: user agent present, no XFF, a generated request id, the upstream host.
    assert (get_line["method"], get_line["path"], get_line["code"], get_line["flags"]) == (
        "GET", "/ok/a", "200", "-")
    assert get_line["rx"] == "0" and int(get_line["tx"]) == len(ok.body.encode())
    assert get_line["svc"].isdigit()
    assert get_line["xff"] == "-"
    assert get_line["ua"].startswith("curl/")
    assert UUID.match(get_line["rid"]), get_line["rid"]
    assert get_line["authority"] == f"127.0.0.1:{port}"
    assert get_line["upstream"] == f"127.0.0.1:{backend.port}"
    # A raw POST: bytes received, XFF and the caller's request id, no user agent.
    assert (post_line["method"], post_line["path"], post_line["code"]) == ("POST", "/ok/b?q=1", "200")
    assert post_line["rx"] == "11" and int(post_line["tx"]) == len(posted.body)
    assert post_line["xff"] == "198.51.100.7"
    assert post_line["ua"] == "-"
    assert post_line["rid"] == "4bf92f35-77b3-4da6-a3ce-929d0e0e4736"
    # No route: NR, no upstream, no upstream service time.
    assert (miss_line["code"], miss_line["flags"], miss_line["svc"], miss_line["upstream"]) == (
        "404", "NR", "-", "-")
    assert miss_line["tx"] == "0"
    # Byte for byte, with the variable parts pinned.
    expected = (f'[{miss_line["start"]}] "GET /nope HTTP/1.1" 404 NR 0 0 {miss_line["duration"]} - '
                f'"-" "-" "{miss_line["rid"]}" "test" "-"')
    assert lines[2] == expected


def test_json_format(remora, http_backends, tmp_path):
    backend = http_backends("json")
    log = tmp_path / "access.json"
    fmt = {"code": "%RESPONSE_CODE%", "method": "%REQ(:METHOD)%", "path": "%REQ(:PATH)%",
           "duration": "%DURATION%", "upstream": "%UPSTREAM_HOST%", "rid": "%REQ(X-REQUEST-ID)%",
           "absent": "%REQ(X-NOT-THERE)%", "start": "%START_TIME%", "flags": "%RESPONSE_FLAGS%",
           "mixed": "code=%RESPONSE_CODE%"}
    proc, port = proxy_with_logs(remora, backend, [
        {"name": "envoy.access_loggers.file", "typed_config": {
            "@type": FILE_LOG, "path": str(log), "log_format": {"json_format": fmt}}}])
    with RawHttp(port) as c:
        c.send(request_bytes(path="/ok/j"))
        assert c.read_response().status == 200
        c.send(request_bytes(path="/zzz"))
        assert c.read_response().status == 404
    entries = [json.loads(line) for line in file_lines(log, 2)]
    ok, miss = entries
    assert ok["code"] == 200 and isinstance(ok["duration"], int)
    assert ok["method"] == "GET" and ok["path"] == "/ok/j"
    assert ok["upstream"] == f"127.0.0.1:{backend.port}"
    assert UUID.match(ok["rid"])
    assert ok["absent"] is None
    assert START_TIME.match(ok["start"])
    assert ok["flags"] == "-" and ok["mixed"] == "code=200"
    assert miss["code"] == 404 and miss["flags"] == "NR" and miss["upstream"] is None


def test_stdout_logger(remora, http_backends):
    backend = http_backends("stdout")
    proc, port = proxy_with_logs(remora, backend, [
        {"name": "envoy.access_loggers.stdout", "typed_config": {
            "@type": STDOUT_LOG,
            "log_format": {"text_format_source": {
                "inline_string": "ACCESS %REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE%\n"}}}}])
    with RawHttp(port) as c:
        c.send(request_bytes(path="/ok/stdout-check"))
        assert c.read_response().status == 200
    wait_until(lambda: "ACCESS GET /ok/stdout-check 200\n" in proc.log(), 5,
               what="the access log line on stdout")


def test_two_loggers_one_file_do_not_interleave(remora, http_backends, tmp_path):
    backend = http_backends("shared")
    log = tmp_path / "shared.log"
    loggers = [{"name": "envoy.access_loggers.file", "typed_config": {
        "@type": FILE_LOG, "path": str(log),
        "log_format": {"text_format_source": {"inline_string": f"L{i} %REQ(:PATH)%\n"}}}}
        for i in range(2)]
    proc, port = proxy_with_logs(remora, backend, loggers)
    with RawHttp(port) as c:
        for i in range(20):
            c.send(request_bytes(path=f"/ok/{i}"))
            assert c.read_response().status == 200
    lines = file_lines(log, 40)
    assert sorted(lines) == sorted(f"L{k} /ok/{i}" for i in range(20) for k in range(2))
