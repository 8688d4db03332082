"""Istio-shaped sidecar configs, as istiod generates them for a pod, built as static resources.

The control plane will produce these same shapes over xDS; until then tests merge them into a
`remoractl bootstrap --static FILE`. Names, stat prefixes and structure follow Istio's generated
config (istioctl proxy-config), reduced to what remora honours:

  virtualOutbound (0.0.0.0:15001): original_dst, use_original_dst; a captured connection is handed
      to the listener of its original destination, else the passthrough chain (tcp_proxy to
      PassthroughCluster, ORIGINAL_DST). Destination port 15001 itself is blackholed.
  0.0.0.0_<port> (bind_to_port false): HTTP services on that port; tls/http inspectors pick the
      HCM chain for plaintext HTTP, which routes by Host (unknown hosts: allow_any →
      PassthroughCluster); anything else passes through.
  <vip>_<port> (bind_to_port false): a TCP service, tcp_proxy to its outbound cluster.
  virtualInbound (0.0.0.0:15006): original_dst; chains by destination port into
      inbound|<port>|| clusters (ORIGINAL_DST, upstream_bind_config 127.0.0.6), HTTP ports
      through an HCM; other ports pass through to InboundPassthroughClusterIpv4.
"""

from conftest import ORIGINAL_DST_TYPE, socket_address, static_cluster, tcp_proxy_filter
from http_harness import hcm, route, vhost

OUTBOUND_PORT = 15001
INBOUND_PORT = 15006
INBOUND_SOURCE = "127.0.0.6"  # what inbound clusters bind to; the capture rules let it through

TLS_INSPECTOR_TYPE = "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
HTTP_INSPECTOR_TYPE = ("type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3."
                       "HttpInspector")
HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def original_dst_filter():
    return {"name": "envoy.filters.listener.original_dst", "typed_config": {"@type": ORIGINAL_DST_TYPE}}


def tls_inspector():
    return {"name": "envoy.filters.listener.tls_inspector", "typed_config": {"@type": TLS_INSPECTOR_TYPE}}


def http_inspector():
    return {"name": "envoy.filters.listener.http_inspector", "typed_config": {"@type": HTTP_INSPECTOR_TYPE}}


# Plaintext HTTP as the inspectors report it: Istio's match for an HCM chain on a sniffed port.
HTTP_MATCH = {"transport_protocol": "raw_buffer", "application_protocols": ["http/1.1", "h2c", "http/1.0"]}


def passthrough_cluster():
    return {"name": "PassthroughCluster", "type": "ORIGINAL_DST", "lb_policy": "CLUSTER_PROVIDED",
            "connect_timeout": "10s"}


def blackhole_cluster():
    return {"name": "BlackHoleCluster", "type": "STATIC", "connect_timeout": "10s"}


def no_keepalive(cluster):
    """One request per upstream connection: each request is its own connection end to end."""
    cluster["typed_extension_protocol_options"] = {HTTP_PROTOCOL_OPTIONS: {
        "@type": "type.googleapis.com/" + HTTP_PROTOCOL_OPTIONS,
        "common_http_protocol_options": {"max_requests_per_connection": 1},
        "explicit_http_config": {"http_protocol_options": {}}}}
    return cluster


def outbound_cluster(port, host, endpoints, keepalive=True):
    """outbound|<port>||<host>: the service's pods (EDS in Istio; static here)."""
    name = f"outbound|{port}||{host}"
    cluster = static_cluster(name, [port], host=endpoints[0])
    cluster["load_assignment"]["endpoints"][0]["lb_endpoints"] = [
        {"endpoint": {"address": socket_address(port, ip)}} for ip in endpoints]
    return cluster if keepalive else no_keepalive(cluster)


def inbound_cluster(port):
    """inbound|<port>||: the local application at the connection's original destination, called
    from 127.0.0.6 so the pod's capture rules let it through and the app sees a sidecar caller."""
    return {"name": f"inbound|{port}||", "type": "ORIGINAL_DST", "lb_policy": "CLUSTER_PROVIDED",
            "connect_timeout": "10s",
            "upstream_bind_config": {"source_address": {"address": INBOUND_SOURCE, "port_value": 0}}}


def inbound_passthrough_cluster():
    cluster = inbound_cluster(0)
    cluster["name"] = "InboundPassthroughClusterIpv4"
    return cluster


def passthrough_chain(name="PassthroughFilterChain"):
    return {"name": name, "filters": [tcp_proxy_filter("PassthroughCluster", "PassthroughCluster")]}


def virtual_outbound():
    return {
        "name": "virtualOutbound",
        "address": socket_address(OUTBOUND_PORT, "0.0.0.0"),
        "use_original_dst": True,
        "traffic_direction": "OUTBOUND",
        "listener_filters": [original_dst_filter()],
        "filter_chains": [
            {"name": "virtualOutbound-blackhole", "filter_chain_match": {"destination_port": OUTBOUND_PORT},
             "filters": [tcp_proxy_filter("BlackHoleCluster", "BlackHoleCluster")]},
            passthrough_chain("virtualOutbound-catchall-tcp"),
        ],
    }


def outbound_http_listener(port, services):
    """0.0.0.0_<port>: services is [(hostname, vip)] of HTTP services on `port`. Routes by Host to
    outbound|<port>||<hostname>; unknown hosts go to PassthroughCluster (allow_any)."""
    vhosts = []
    for hostname, vip in services:
        short = hostname.split(".")[0]
        domains = [hostname, f"{hostname}:{port}", short, f"{short}:{port}", vip, f"{vip}:{port}"]
        vhosts.append(vhost(f"{hostname}:{port}", domains,
                            [route(cluster=f"outbound|{port}||{hostname}", name="default")]))
    vhosts.append(vhost("allow_any", ["*"], [route(cluster="PassthroughCluster", name="allow_any")]))
    http_chain = {"name": f"0.0.0.0_{port}", "filter_chain_match": HTTP_MATCH,
                  "filters": [hcm({"name": str(port), "virtual_hosts": vhosts},
                                  stat_prefix=f"outbound_0.0.0.0_{port}")]}
    return {
        "name": f"0.0.0.0_{port}",
        "address": socket_address(port, "0.0.0.0"),
        "bind_to_port": False,
        "traffic_direction": "OUTBOUND",
        "listener_filters": [tls_inspector(), http_inspector()],
        "listener_filters_timeout": "0s",
        "continue_on_listener_filters_timeout": True,
        "filter_chains": [http_chain, passthrough_chain()],
    }


def outbound_tcp_listener(vip, port, hostname):
    """<vip>_<port>: a TCP service, proxied to outbound|<port>||<hostname>."""
    cluster = f"outbound|{port}||{hostname}"
    return {
        "name": f"{vip}_{port}",
        "address": socket_address(port, vip),
        "bind_to_port": False,
        "traffic_direction": "OUTBOUND",
        "filter_chains": [{"name": cluster, "filters": [tcp_proxy_filter(cluster, cluster)]}],
    }


def virtual_inbound(http_ports=(), tcp_ports=()):
    chains = [{"name": "virtualInbound-blackhole", "filter_chain_match": {"destination_port": INBOUND_PORT},
               "filters": [tcp_proxy_filter("BlackHoleCluster", "BlackHoleCluster")]}]
    for port in http_ports:
        cluster = f"inbound|{port}||"
        chains.append({
            "name": f"0.0.0.0_{port}", "filter_chain_match": {"destination_port": port},
            "filters": [hcm({"name": cluster, "virtual_hosts": [
                vhost(f"inbound|http|{port}", ["*"], [route(cluster=cluster, name="default")])]},
                stat_prefix=f"inbound_0.0.0.0_{port}")]})
    for port in tcp_ports:
        cluster = f"inbound|{port}||"
        chains.append({"name": f"0.0.0.0_{port}", "filter_chain_match": {"destination_port": port},
                       "filters": [tcp_proxy_filter(cluster, cluster)]})
    chains.append({"name": "virtualInbound", "filters": [
        tcp_proxy_filter("InboundPassthroughClusterIpv4", "InboundPassthroughClusterIpv4")]})
    return {
        "name": "virtualInbound",
        "address": socket_address(INBOUND_PORT, "0.0.0.0"),
        "traffic_direction": "INBOUND",
        "listener_filters": [original_dst_filter()],
        "filter_chains": chains,
    }


def sidecar_static(http_services=(), tcp_services=(), inbound_http_ports=(), inbound_tcp_ports=(),
                   keepalive=True):
    """The static resources of one pod's sidecar.

    http_services: [(port, hostname, vip, [pod ips])] it calls over HTTP; tcp_services: the same
    for TCP services; inbound_*_ports: the ports its own application serves. keepalive=False
    makes every outbound HTTP request its own upstream connection.
    """
    listeners = [virtual_outbound(), virtual_inbound(inbound_http_ports, inbound_tcp_ports)]
    clusters = [passthrough_cluster(), blackhole_cluster(), inbound_passthrough_cluster()]
    by_port = {}
    for port, hostname, vip, endpoints in http_services:
        by_port.setdefault(port, []).append((hostname, vip))
        clusters.append(outbound_cluster(port, hostname, endpoints, keepalive))
    for port, services in by_port.items():
        listeners.append(outbound_http_listener(port, services))
    for port, hostname, vip, endpoints in tcp_services:
        listeners.append(outbound_tcp_listener(vip, port, hostname))
        clusters.append(outbound_cluster(port, hostname, endpoints))
    clusters += [inbound_cluster(p) for p in list(inbound_http_ports) + list(inbound_tcp_ports)]
    return {"static_resources": {"listeners": listeners, "clusters": clusters}}
