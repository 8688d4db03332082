"""Listener inspectors with real clients: tls_inspector (SNI and ALPN from the ClientHello, peeked
and passed through untouched to TLS backends chosen by filter_chain_match), http_inspector
(HTTP/1.0, HTTP/1.1 and the h2c preface), listener_filters_timeout with and without
continue_on_listener_filters_timeout, and Envoy's stats for each."""

import json
import socket
import ssl
import subprocess

import pytest

from conftest import (bootstrap, closed_by_peer, connect, curl, free_ports, hello_handler, run_remora,
                      static_cluster, tcp_proxy_filter)

TLS_INSPECTOR = {"name": "envoy.filters.listener.tls_inspector", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}
HTTP_INSPECTOR = {"name": "envoy.filters.listener.http_inspector", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector"}}


@pytest.fixture(scope="module")
def server_cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("cert")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=example.com", "-keyout", str(d / "key.pem"),
                    "-out", str(d / "cert.pem")], check=True, capture_output=True)
    return d / "cert.pem", d / "key.pem"


def tls_http_handler(tag, cert):
    """A TLS server (ALPN h2 or http/1.1) answering one HTTP/1.1 request with its tag, the SNI it
    saw and the ALPN it negotiated: what a backend behind a TLS passthrough sees."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*cert)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    seen = {}
    ctx.sni_callback = lambda sock, name, _ctx: seen.__setitem__(id(sock), name)

    def handler(conn):
        with ctx.wrap_socket(conn, server_side=True) as tls:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = tls.recv(4096)
                if not chunk:
                    return None
                data += chunk
            body = f"{tag} sni={seen.get(id(tls))} alpn={tls.selected_alpn_protocol()}\n".encode()
            tls.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                        % (len(body), body))
        return None
    return handler


def chain(match, cluster):
    fc = {"filters": [tcp_proxy_filter(cluster, cluster)]}
    if match is not None:
        fc["filter_chain_match"] = match
    return fc


def read_tag(port, send=b""):
    """Sends `send`, then returns the first line the chosen backend wrote ('' if closed)."""
    with connect(port, timeout=10) as s:
        if send:
            s.sendall(send)
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


def test_tls_inspector_routes_by_sni_and_alpn_and_passes_tls_through(remora, backends, server_cert):
    tags = ["exact", "wildcard", "h2", "tls_default"]
    bk = {t: backends(tls_http_handler(t, server_cert)) for t in tags}
    bk["plain"] = backends(hello_handler("plain"))
    port, admin_port = free_ports(2)
    listener = {
        "name": "sni", "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "listener_filters": [TLS_INSPECTOR],
        "filter_chains": [
            chain({"server_names": ["*.example.com"]}, "wildcard"),
            chain({"server_names": ["api.example.com"]}, "exact"),
            chain({"transport_protocol": "tls", "application_protocols": ["h2"]}, "h2"),
            chain({"transport_protocol": "tls"}, "tls_default"),
            chain({"transport_protocol": "raw_buffer"}, "plain"),
        ],
    }
    proc = remora(bootstrap([listener], [static_cluster(t, [b.port]) for t, b in bk.items()],
                            admin_port))

    def https(host, *extra):
        r = curl(f"https://{host}:{port}/", extra=["-k", "--resolve", f"{host}:{port}:127.0.0.1",
                                                   *extra])
        assert r is not None and r.status == 200, r
        return r.body.strip()

    # The backend completed the handshake itself: it saw the client's SNI and chose the ALPN.
    assert https("api.example.com", "--http1.1") == "exact sni=api.example.com alpn=http/1.1"
    assert https("www.example.com", "--http1.1") == "wildcard sni=www.example.com alpn=http/1.1"
    assert https("other.test", "--http1.1") == "tls_default sni=other.test alpn=http/1.1"

    # openssl s_client without SNI offering h2 first: the ALPN chain; the backend negotiated h2.
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-noservername", "-alpn",
         "h2,http/1.1", "-ign_eof"],
        input=b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", capture_output=True, timeout=20).stdout.decode()
    assert "ALPN protocol: h2" in out, out
    assert "h2 sni=None alpn=h2" in out, out
    # Offering http/1.1 only: no ALPN chain applies, the TLS catch-all does.
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "x.test",
         "-alpn", "http/1.1", "-ign_eof"],
        input=b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", capture_output=True, timeout=20).stdout.decode()
    assert "tls_default sni=x.test alpn=http/1.1" in out, out

    # Plaintext is not TLS: transport raw_buffer.
    assert read_tag(port, b"hello\r\n") == "plain"

    stats = proc.stats()
    assert stats["tls_inspector.tls_found"] == 5
    assert stats["tls_inspector.tls_not_found"] == 1
    assert stats["tls_inspector.sni_found"] == 4
    assert stats["tls_inspector.sni_not_found"] == 1
    assert stats["tls_inspector.alpn_found"] == 5
    assert stats["tls_inspector.client_hello_too_large"] == 0
    assert {t: b.accepted for t, b in bk.items()} == {
        "exact": 1, "wildcard": 1, "h2": 1, "tls_default": 2, "plain": 1}


def test_http_inspector_tells_http10_http11_and_h2c_apart(remora, backends):
    bk = {t: backends(hello_handler(t)) for t in ["h10", "h11", "h2c", "other"]}
    port, admin_port = free_ports(2)
    listener = {
        "name": "http", "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "listener_filters": [TLS_INSPECTOR, HTTP_INSPECTOR],
        "filter_chains": [
            chain({"application_protocols": ["http/1.0"]}, "h10"),
            chain({"application_protocols": ["http/1.1"]}, "h11"),
            chain({"application_protocols": ["h2c"]}, "h2c"),
        ],
        "default_filter_chain": chain(None, "other"),
    }
    proc = remora(bootstrap([listener], [static_cluster(t, [b.port]) for t, b in bk.items()],
                            admin_port))
    assert read_tag(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == "h11"
    # A request line arriving in pieces is waited for.
    with connect(port, timeout=10) as s:
        for piece in (b"POS", b"T /upload HT", b"TP/1.0\r", b"\n\r\n"):
            s.sendall(piece)
        assert s.recv(100) == b"h10\n"
    assert read_tag(port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == "h2c"
    assert read_tag(port, b"SSH-2.0-OpenSSH_9.6\r\n") == "other"
    # TLS is left alone by http_inspector (nothing counted), and has no HTTP protocol: default.
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with connect(port, timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            ctx.wrap_socket(raw, server_hostname="x.test")  # the "other" backend is no TLS server
    bk["other"].wait_accepted(2)
    stats = proc.stats()
    assert (stats["http_inspector.http11_found"], stats["http_inspector.http10_found"],
            stats["http_inspector.http2_found"], stats["http_inspector.http_not_found"]) == (1, 1, 1, 1)
    assert stats["tls_inspector.tls_found"] == 1


def inspecting_listener(port, cluster, **extra):
    listener = {
        "name": "slow", "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "listener_filters": [TLS_INSPECTOR],
        "filter_chains": [chain(None, cluster)],
    }
    listener.update(extra)
    return listener


def test_listener_filters_timeout_continues_for_server_first_protocols(remora, backends):
    """A client that waits for the server to speak (SMTP, MySQL) sends no ClientHello: after
    listener_filters_timeout the connection goes on as plaintext when continue_on_... is set."""
    bk = backends(hello_handler("220 ready"))
    port, admin_port = free_ports(2)
    proc = remora(bootstrap(
        [inspecting_listener(port, "server_first", listener_filters_timeout="0.3s",
                             continue_on_listener_filters_timeout=True)],
        [static_cluster("server_first", [bk.port])], admin_port))
    assert read_tag(port) == "220 ready"
    assert proc.stat(f"listener.127.0.0.1_{port}.downstream_pre_cx_timeout") == 1
    assert proc.stat(f"listener.127.0.0.1_{port}.downstream_cx_total") == 1


def test_listener_filters_timeout_closes_and_early_close_and_huge_hello(remora, backends):
    bk = backends(hello_handler("never"))
    port, admin_port = free_ports(2)
    proc = remora(bootstrap([inspecting_listener(port, "c", listener_filters_timeout="0.3s")],
                            [static_cluster("c", [bk.port])], admin_port))
    prefix = f"listener.127.0.0.1_{port}."
    with connect(port, timeout=10) as s:
        assert closed_by_peer(s, timeout=5)
    proc.wait_stat(prefix + "downstream_pre_cx_timeout", lambda v: v == 1)
    # A client that leaves before saying anything.
    connect(port, timeout=10).close()
    proc.wait_stat(prefix + "downstream_listener_filter_remote_close", lambda v: v == 1)
    # A ClientHello announced larger than 64 KiB is not waited for: closed at once.
    with connect(port, timeout=10) as s:
        s.sendall(b"\x16\x03\x01\x40\x00\x01\x01\x11\x70")
        assert closed_by_peer(s, timeout=5)
    proc.wait_stat("tls_inspector.client_hello_too_large", lambda v: v == 1)
    assert proc.stat(prefix + "downstream_cx_total") == 0
    assert bk.accepted == 0


def test_partial_server_name_wildcards_are_rejected(tmp_path):
    for bad in ("*w.example.com", "www.*.com", "*"):
        listener = {"name": "l", "address": {"socket_address": {"address": "127.0.0.1", "port_value": 1}},
                    "listener_filters": [TLS_INSPECTOR],
                    "filter_chains": [chain({"server_names": ["ok.example.com", bad]}, "c")]}
        path = tmp_path / "bad.yaml"
        path.write_text(json.dumps(bootstrap([listener], [static_cluster("c", [1])])))
        proc = run_remora(["--mode", "validate", "-c", str(path)])
        assert proc.returncode != 0
        assert ("filter_chains[0].filter_chain_match.server_names[1]: partial wildcards are not "
                "supported") in proc.stdout + proc.stderr, proc.stdout + proc.stderr
