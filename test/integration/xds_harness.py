"""A scripted ADS server for remora's xDS client: test/integration/xds/ads_server.js on
@grpc/grpc-js (State of the World and Delta), loading the Envoy protos the build extracted. The
test pushes resources with set(), reads every request remora sends (ACKs, NACKs with their nonces
and error_detail, subscriptions, node identity) with wait_request(), and can kill and restart the
server on the same port."""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import BUILD, socket_address, wait_until

SERVER_JS = Path(__file__).parent / "xds" / "ads_server.js"
PROTO_DEPS = BUILD / "envoy-api" / "src" / "package" / "deps"
CLA_TYPE = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


class AdsServer:
    """ads_server.js on `port` (0: any); events it prints are kept in order in `events`."""

    def __init__(self, port=0):
        assert PROTO_DEPS.is_dir(), f"the build's Envoy protos are missing: {PROTO_DEPS}"
        self.events = []
        self.lock = threading.Lock()
        self.port = port
        self.proc = None
        self.run = 0  # counts starts: every event is tagged with the run that printed it
        self.start()

    def start(self):
        self.run += 1
        self.proc = subprocess.Popen(["node", str(SERVER_JS), str(PROTO_DEPS), str(self.port)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        first = queue.Queue()
        self._reader = threading.Thread(target=self._read, args=(self.proc, first, self.run),
                                        daemon=True)
        self._reader.start()
        try:
            line = first.get(timeout=30)
        except queue.Empty:
            raise AssertionError("the ADS server did not start") from None
        assert line.startswith("{"), f"the ADS server did not start: {line!r}"
        self.port = json.loads(line)["port"]

    def _read(self, proc, first, run):
        started = False
        for line in proc.stdout:
            if not started:
                first.put(line)
                started = True
                continue
            if line.startswith("{"):
                event = json.loads(line)
                event["run"] = run
                with self.lock:
                    self.events.append(event)
            else:  # the server's own errors: shown with a failing test's captured output
                sys.stderr.write(f"ads_server.js: {line}")

    def send(self, command):
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def set(self, type_url, version, resources):
        self.send({"op": "set", "type_url": type_url, "version": version, "resources": resources})

    def close_streams(self):
        self.send({"op": "close_streams"})

    def kill(self):
        """Dies at once (SIGKILL): remora sees its stream cut."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def restart(self):
        self.kill()
        self.start()

    def close(self):
        self.kill()
        if self.proc:
            self.proc.stdout.close()
            self.proc.stdin.close()

    # -- what remora sent
    def requests(self, **match):
        with self.lock:
            return [e for e in self.events if e["event"] == "request"
                    and all(e.get(k) == v for k, v in match.items())]

    def responses(self, **match):
        with self.lock:
            return [e for e in self.events if e["event"] == "response"
                    and all(e.get(k) == v for k, v in match.items())]

    def wait_request(self, predicate=lambda r: True, timeout=10.0, what="an xDS request", **match):
        box = {}

        def found():
            hits = [r for r in self.requests(**match) if predicate(r)]
            box["hit"] = hits[0] if hits else None
            return box["hit"] is not None

        wait_until(found, timeout, what=what)
        return box["hit"]

    def wait_response(self, timeout=10.0, **match):
        box = {}

        def found():
            hits = self.responses(**match)
            box["hit"] = hits[-1] if hits else None
            return box["hit"] is not None

        wait_until(found, timeout, what=f"an xDS response {match}")
        return box["hit"]


def xds_cluster(port, name="xds-grpc"):
    """The static HTTP/2 cluster the ADS stream rides on (envoy_grpc.cluster_name)."""
    return {"name": name, "type": "STATIC", "connect_timeout": "1s",
            "load_assignment": {"cluster_name": name, "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": socket_address(port)}}]}]},
            "typed_extension_protocol_options": {HTTP_OPTIONS: {
                "@type": "type.googleapis.com/" + HTTP_OPTIONS,
                "explicit_http_config": {"http2_protocol_options": {}}}}}


def ads_dynamic_resources(delta=False, cluster="xds-grpc", **extra):
    config = {"api_type": "DELTA_GRPC" if delta else "GRPC", "transport_api_version": "V3",
              "grpc_services": [{"envoy_grpc": {"cluster_name": cluster}}]}
    config.update(extra)
    return {"ads_config": config}


def ads_lds_cds(delta=False):
    """dynamic_resources taking listeners and clusters over the ADS stream too."""
    source = {"ads": {}, "resource_api_version": "V3"}
    return {**ads_dynamic_resources(delta), "lds_config": source, "cds_config": dict(source)}


def ads_rds_listener(name, port, route_config_name, stat_prefix=None):
    """An HTTP listener whose connection manager takes its routes over RDS on the ADS stream."""
    from http_harness import hcm  # the harness imports conftest, as this module does
    manager = hcm(None, stat_prefix=stat_prefix or name,
                  rds={"route_config_name": route_config_name,
                       "config_source": {"ads": {}, "resource_api_version": "V3"}})
    del manager["typed_config"]["route_config"]
    return {"name": name, "address": socket_address(port), "filter_chains": [{"filters": [manager]}]}


def ads_eds_cluster(name, initial_fetch_timeout=None, **extra):
    source = {"ads": {}, "resource_api_version": "V3"}
    if initial_fetch_timeout is not None:
        source["initial_fetch_timeout"] = initial_fetch_timeout
    cluster = {"name": name, "type": "EDS", "connect_timeout": "1s",
               "eds_cluster_config": {"eds_config": source}}
    cluster.update(extra)
    return cluster


def load_assignment(cluster, backends):
    return {"cluster_name": cluster, "endpoints": [{"lb_endpoints": [
        {"endpoint": {"address": socket_address(b.port, b.host)}} for b in backends]}]}
