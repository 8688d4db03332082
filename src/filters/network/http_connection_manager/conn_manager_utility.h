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
  // x-forwarded-for, x-envoy-internal and x-forwarded-proto, removes Envoy's internal-only
  // x-envoy-* headers from external requests, and sets or keeps x-request-id. Returns the client
  // address Envoy trusts (DOWNSTREAM_REMOTE_ADDRESS).
  static net::Address mutateRequestHeaders(remora::http::RequestHeaderMap& headers,
                                           const net::Address& peer, const HcmConfig& config);
  // Strips hop-by-hop headers from a response (but Connection and Upgrade of the 101 answering
  // an accepted upgrade, `upgrade`) and sets server and date.
  static void mutateResponseHeaders(remora::http::ResponseHeaderMap& headers,
                                    const HcmConfig& config, bool upgrade = false);
  // RFC 3986 dot-segment removal (normalize_path) and slash merging (merge_slashes) on :path;
  // false when the path cannot be normalized (Envoy answers 400).
  static bool normalizePath(remora::http::RequestHeaderMap& headers, const HcmConfig& config);
  // Envoy's (nghttp2's) authority check: host and port characters only (RFC 3986 reg-name,
  // IP literals, userinfo, %-escapes); empty is valid (an HTTP/1.0 request without Host).
  static bool authorityIsValid(std::string_view authority);
  // A random version-4 UUID, the form of Envoy's x-request-id.
  static std::string randomUuid();
  // Removes the x-envoy-* headers only Envoy may set from an external request (Envoy's
  // cleanInternalHeaders): retry, timeout and tracing controls always, and at the edge
  // (use_remote_address) the decorator and downstream-service ones too.
  static void cleanInternalHeaders(remora::http::RequestHeaderMap& headers, bool edge);
  // True for loopback and RFC 1918 / RFC 4193 addresses: Envoy's notion of an internal request.
  static bool isInternalAddress(const net::Address& address);
};

}  // namespace remora::filters::network::http_connection_manager
