#pragma once

// The synthetic mesh the scale benchmark serves: S Services spread over K namespaces, each with
// one HTTP port and an EndpointSlice of E endpoints, plus a few VirtualService/DestinationRule
// pairs for realism. Services and endpoints live in separate files (services/, endpoints/) so that
// rewriting an endpoints file is an endpoint-only change to remora-pilot.
//
// All addresses are config data only (nothing connects to them): endpoints in 198.19.0.0/16,
// service VIPs in 198.18.128.0/17, simulated proxies in 198.18.0.0/17.

#include <cstdint>
#include <filesystem>
#include <string>

namespace remora::bench {

struct MeshShape {
  int services = 1000;
  int endpoints = 10;
  int namespaces = 10;
  int routed = 10;  // services with a VirtualService (50/50 split) and a DestinationRule (v1, v2)
};

inline constexpr uint32_t kServicePort = 80;
inline constexpr uint32_t kTargetPort = 8080;

std::string serviceName(int service);
std::string serviceNamespace(const MeshShape& shape, int service);
// outbound|80||svc-N.ns-K.svc.cluster.local
std::string serviceCluster(const MeshShape& shape, int service);
// 198.18.x.y for proxy `index` (distinct for up to 32,767 proxies).
std::string proxyIp(int index);

// Writes the whole mesh under `dir` (created if missing).
void writeMesh(const std::filesystem::path& dir, const MeshShape& shape);
// Rewrites one service's EndpointSlice with every endpoint on `port`, atomically (a dot-file
// renamed into place, so remora-pilot never reads half a file).
void writeEndpoints(const std::filesystem::path& dir, const MeshShape& shape, int service,
                    uint32_t port);

}  // namespace remora::bench
