"""Broken configs are rejected with the field path, by --mode validate and by a normal start;
command-line flags behave as Envoy's."""

import json
import socket
import subprocess
import time

import pytest

from conftest import (REMORA_BIN, REPO, bootstrap, free_ports, is_listening, run_remora,
                      simple_proxy_config, static_cluster, tcp_listener)

REDIS_TYPE = "type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy"


def good_config(listener_port, admin_port):
    return simple_proxy_config(backend_port=1, listener_port=listener_port, admin_port=admin_port)


def mutate_unknown_field(cfg):
    cfg["static_resources"]["clusters"][0]["bogus_field"] = 1


def mutate_wrong_type(cfg):
    cfg["static_resources"]["clusters"][0]["connect_timeout"] = 5  # Duration must be a string


def mutate_wrong_scalar(cfg):
    cfg["static_resources"]["clusters"][0]["per_connection_buffer_limit_bytes"] = "lots"


def mutate_missing_cluster(cfg):
    proxy = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    proxy["typed_config"]["cluster"] = "no_such_cluster"


def mutate_unsupported_extension(cfg):
    proxy = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    proxy["name"] = "envoy.filters.network.redis_proxy"
    proxy["typed_config"] = {"@type": REDIS_TYPE, "stat_prefix": "r",
                             "settings": {"op_timeout": "1s"}}


def mutate_unsupported_known_field(cfg):
    cfg["static_resources"]["clusters"][0]["circuit_breakers"] = {
        "per_host_thresholds": [{"max_connections": 10}]}


BROKEN = [
    # (id, mutation, substrings the message must contain)
    ("unknown_field", mutate_unknown_field,
     ["static_resources.clusters[0].bogus_field", "unknown field"]),
    ("wrong_type_duration", mutate_wrong_type, ["static_resources.clusters[0].connect_timeout"]),
    ("wrong_type_scalar", mutate_wrong_scalar,
     ["static_resources.clusters[0].per_connection_buffer_limit_bytes"]),
    ("missing_cluster", mutate_missing_cluster,
     ["static_resources.listeners[0].filter_chains[0].filters[0].typed_config.cluster",
      "no_such_cluster"]),
    ("unsupported_extension", mutate_unsupported_extension,
     ["not supported by remora", "static_resources.listeners[0].filter_chains[0].filters[0]",
      "RedisProxy"]),
    ("unsupported_known_field", mutate_unsupported_known_field,
     ["not supported by remora: static_resources.clusters[0].circuit_breakers"
      ".per_host_thresholds"]),
]


@pytest.mark.parametrize("name,mutate,expected", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_config_rejected_by_validate(tmp_path, name, mutate, expected):
    listener_port, admin_port = free_ports(2)
    cfg = good_config(listener_port, admin_port)
    mutate(cfg)
    path = tmp_path / "broken.yaml"
    path.write_text(json.dumps(cfg))
    proc = run_remora(["--mode", "validate", "-c", str(path)])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    for s in expected:
        assert s in out, f"{s!r} not in: {out}"


@pytest.mark.parametrize("name,mutate,expected", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_config_rejected_at_start(tmp_path, name, mutate, expected):
    listener_port, admin_port = free_ports(2)
    cfg = good_config(listener_port, admin_port)
    mutate(cfg)
    path = tmp_path / "broken.yaml"
    path.write_text(json.dumps(cfg))
    start = time.monotonic()
    proc = run_remora(["-c", str(path), "--concurrency", "1"], timeout=10)
    assert time.monotonic() - start < 5, "rejecting a broken config took too long"
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    for s in expected:
        assert s in out, f"{s!r} not in: {out}"
    assert not is_listening(listener_port) and not is_listening(admin_port)


def test_yaml_text_errors_name_the_path(tmp_path):
    """Hand-written YAML (not JSON) with a typo'd field deep in a listener."""
    listener_port, admin_port = free_ports(2)
    path = tmp_path / "typo.yaml"
    path.write_text(f"""
admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin_port}}}}}
static_resources:
  listeners:
  - name: l
    address:
      socket_address: {{address: 127.0.0.1, port_value: {listener_port}, protocl: TCP}}
    filter_chains: []
""")
    proc = run_remora(["--mode", "validate", "-c", str(path)])
    assert proc.returncode == 1
    assert "static_resources.listeners[0].address.socket_address.protocl" in proc.stdout + proc.stderr


def test_port_in_use_fails_start_and_releases_other_ports(tmp_path):
    free_port_a, busy_port, admin_port = free_ports(3)
    cfg = bootstrap([tcp_listener("a", free_port_a, "backend"), tcp_listener("b", busy_port, "backend")],
                    [static_cluster("backend", [1])], admin_port)
    path = tmp_path / "busy.yaml"
    path.write_text(json.dumps(cfg))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", busy_port))
        holder.listen(1)
        # validate binds nothing, so it cannot see the conflict (as Envoy's validate mode).
        assert run_remora(["--mode", "validate", "-c", str(path)]).returncode == 0
        start = time.monotonic()
        proc = run_remora(["-c", str(path), "--concurrency", "2"], timeout=10)
        assert time.monotonic() - start < 5
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, out
        assert str(busy_port) in out and "in use" in out, out
        assert not is_listening(free_port_a) and not is_listening(admin_port)


def test_good_config_validates_and_binds_nothing(tmp_path):
    listener_port, admin_port = free_ports(2)
    path = tmp_path / "good.yaml"
    path.write_text(json.dumps(good_config(listener_port, admin_port)))
    proc = subprocess.Popen([str(REMORA_BIN), "--mode", "validate", "-c", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    assert "OK" in out
    assert not is_listening(listener_port) and not is_listening(admin_port)


@pytest.mark.parametrize("example", sorted(p.name for p in (REPO / "examples").glob("*.yaml")))
def test_validate_example_config(example):
    proc = run_remora(["--mode", "validate", "-c", str(REPO / "examples" / example)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---------------------------------------------------------------------------------------------
# Flags


def test_version_flag():
    proc = run_remora(["--version"])
    assert proc.returncode == 0
    assert "remora" in proc.stdout and proc.stdout.strip()


def test_unknown_flag_rejected():
    proc = run_remora(["--no-such-flag", "-c", "/nonexistent.yaml"])
    assert proc.returncode == 1
    assert "--no-such-flag" in proc.stderr


def test_missing_config_file_rejected():
    proc = run_remora(["-c", "/nonexistent/remora.yaml"])
    assert proc.returncode == 1


def test_base_id_nonzero_rejected(tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(json.dumps(good_config(*free_ports(2))))
    proc = run_remora(["--base-id", "1", "-c", str(path)])
    assert proc.returncode == 1
    assert "base-id" in proc.stderr


def test_restart_epoch_zero_accepted(remora, ports):
    listener_port, admin_port = ports(2)
    proc = remora(good_config(listener_port, admin_port), "--restart-epoch", "0")
    assert proc.proc.poll() is None


def test_concurrency_reflected_in_stats(remora, ports):
    listener_port, admin_port = ports(2)
    proc = remora(good_config(listener_port, admin_port), concurrency=3)
    assert proc.stat("server.concurrency") == 3
    info = proc.get("/server_info").json()
    assert info["command_line_options"]["concurrency"] == 3


def test_service_node_and_cluster_reflected_in_server_info(remora, ports):
    listener_port, admin_port = ports(2)
    cfg = good_config(listener_port, admin_port)
    cfg["node"] = {"id": "from-bootstrap", "cluster": "bootstrap-cluster"}
    proc = remora(cfg, "--service-node", "itest-node", "--service-cluster", "itest-cluster")
    info = proc.get("/server_info").json()
    assert info["node"]["id"] == "itest-node"
    assert info["node"]["cluster"] == "itest-cluster"
    assert info["command_line_options"]["service_node"] == "itest-node"
    assert info["command_line_options"]["service_cluster"] == "itest-cluster"


def test_config_yaml_flag_alone(ports):
    """--config-yaml without -c starts remora from the inline bootstrap."""
    listener_port, admin_port = ports(2)
    inline = json.dumps(good_config(listener_port, admin_port))
    proc = subprocess.run([str(REMORA_BIN), "--mode", "validate", "--config-yaml", inline],
                          capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0, proc.stdout + proc.stderr
