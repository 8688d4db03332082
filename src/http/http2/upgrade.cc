#include "http/http2/upgrade.h"

namespace remora::http::http2 {

namespace h = headers;

void upgradeRequestFromH2(HeaderMap& headers) {
  const std::string protocol = *headers.get(h::kProtocol);
  headers.remove(h::kProtocol);
  headers.set(h::kMethod, "GET");
  headers.set(h::kUpgrade, protocol);
  headers.set(h::kConnection, "upgrade");
}

std::string upgradeRequestToH2(HeaderMap& headers) {
  std::string upgrade = *headers.get(h::kUpgrade);
  headers.set(h::kMethod, "CONNECT");
  headers.set(h::kProtocol, upgrade);
  headers.remove(h::kUpgrade);
  headers.remove(h::kConnection);
  if (const std::string* length = headers.get(h::kContentLength); length && *length == "0") {
    headers.remove(h::kContentLength);
  }
  return upgrade;
}

void upgradeResponseFromH2(HeaderMap& headers, const std::string& upgrade_type) {
  headers.set(h::kStatus, "101");
  headers.set(h::kUpgrade, upgrade_type);
  headers.set(h::kConnection, "upgrade");
}

void upgradeResponseToH2(HeaderMap& headers) {
  headers.set(h::kStatus, "200");
  headers.remove(h::kUpgrade);
  headers.remove(h::kConnection);
}

}  // namespace remora::http::http2
