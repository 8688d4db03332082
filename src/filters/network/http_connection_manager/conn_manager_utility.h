#pragma once

#include <optional>
#include <string>

#include "filters/network/http_connection_manager/config.h"
#include "http/header_map.h"
#include "net/address.h"

namespace remora::filters::network::http_connection_manager {

// Envoy's request-header mutations at the edge of the connection manager, in one place.
class ConnectionManagerUtility {
 public:
  // Strips hop-by-hop headers (an upgrade request keeps Connection and Upgrade, as Envoy forwards
  // them verbatim), applies use_remote_address / xff_num_trusted_hops to
  // x-forwarded-for, x-envoy-internal and x-forwarded-proto, sanitizes x-envoy-* headers from
  // external clients, and sets or keeps x-request-id. Returns the client address Envoy trusts
  // (DOWNSTREAM_REMOTE_ADDRESS).
  static net::Address mutateRequestHeaders(remora::http::RequestHeaderMap& headers,
                                           const net::Address& peer, const HcmConfig& config);
  // Strips hop-by-hop headers from a response (but Connection and Upgrade of the 101 answering
  // an accepted upgrade, `upgrade`) and sets server and date.
  static void mutateResponseHeaders(remora::http::ResponseHeaderMap& headers,
                                    const HcmConfig& config, bool upgrade = false);
  // RFC 3986 dot-segment removal (normalize_path) and slash merging (merge_slashes) on :path;
  // false when the path cannot be normalized (Envoy answers 400).
  static bool normalizePath(remora::http::RequestHeaderMap& headers, const HcmConfig& config);
  // A random version-4 UUID, the form of Envoy's x-request-id.
  static std::string randomUuid();
  // True for loopback and RFC 1918 / RFC 4193 addresses: Envoy's notion of an internal request.
  static bool isInternalAddress(const net::Address& address);
};

}  // namespace remora::filters::network::http_connection_manager
