#pragma once

#include <string>

#include "http/header_map.h"

namespace remora::http::http2 {

// Upgrades across an HTTP/2 hop (Envoy's Utility::transformUpgrade*): HTTP/2 has no Upgrade
// header, so a WebSocket (or any other) upgrade rides an RFC 8441 extended CONNECT stream, and
// the rest of remora keeps seeing the HTTP/1.1 form whichever protocol is on either side.

// Extended CONNECT (":method CONNECT" with ":protocol") becomes "GET" with "Upgrade: <protocol>"
// and "Connection: upgrade" (the HTTP/1.1 method is always GET, Envoy's documented flaw).
void upgradeRequestFromH2(HeaderMap& headers);
// The reverse for sending: "CONNECT" with ":protocol" = the Upgrade value, Upgrade and
// Connection removed (and a "content-length: 0", which would forbid the tunnel's DATA). Returns
// the upgrade type for upgradeResponseFromH2.
std::string upgradeRequestToH2(HeaderMap& headers);
// A 200 to an extended CONNECT is the upgrade's 101, with Upgrade and Connection restored.
void upgradeResponseFromH2(HeaderMap& headers, const std::string& upgrade_type);
// A 101 becomes the 200 that accepts an extended CONNECT (the connection-specific Upgrade and
// Connection never reach an HTTP/2 peer).
void upgradeResponseToH2(HeaderMap& headers);

// A classic CONNECT (no :protocol): the stream becomes a TCP tunnel on a 2xx answer.
inline bool isConnect(const HeaderMap& headers) {
  return headers.method() == "CONNECT" && !headers.has(headers::kProtocol);
}

}  // namespace remora::http::http2
