#pragma once

// Per-proxy translation of the model into xDS resources with Istio's names. A sidecar gets
// virtualOutbound/virtualInbound, one listener per outbound service port, route configs named
// after ports, outbound|<port>|<subset>|<fqdn> clusters and their endpoints; a proxyless gRPC
// client (GENERATOR: grpc) gets api_listener Listeners `<fqdn>:<port>` with RDS
// `outbound|<port>||<fqdn>` instead.

#include <google/protobuf/any.pb.h>

#include <map>
#include <string>

#include "pilot/model.h"
#include "pilot/proxy.h"

namespace remora::pilot {

inline constexpr const char* kListenerType =
    "type.googleapis.com/envoy.config.listener.v3.Listener";
inline constexpr const char* kRouteType =
    "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
inline constexpr const char* kClusterType = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
inline constexpr const char* kEndpointType =
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

// Resources by name (ordered, so output and versions are deterministic).
using Resources = std::map<std::string, google::protobuf::Any>;

// Every resource of `type_url` the proxy may see. Unknown types give none.
Resources generate(const Model& model, const Proxy& proxy, const std::string& type_url);

// Pieces shared by the generator files.
std::string outboundCluster(uint32_t port, const std::string& subset, const std::string& fqdn);
// Istio's protocol selection by port name prefix or appProtocol: HTTP-family ports get a
// connection manager, the rest tcp_proxy.
bool isHttpPort(const ServicePort& port);
bool isHttp2Port(const ServicePort& port);

void generateClusters(const Model& model, const Proxy& proxy, Resources& out);
void generateEndpoints(const Model& model, const Proxy& proxy, Resources& out);
void generateSidecarListeners(const Model& model, const Proxy& proxy, Resources& out);
void generateSidecarRoutes(const Model& model, const Proxy& proxy, Resources& out);
void generateGrpcListeners(const Model& model, const Proxy& proxy, Resources& out);
void generateGrpcRoutes(const Model& model, const Proxy& proxy, Resources& out);

}  // namespace remora::pilot
