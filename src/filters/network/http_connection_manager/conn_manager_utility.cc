#include "filters/network/http_connection_manager/conn_manager_utility.h"

#include <cctype>
#include <chrono>
#include <ctime>
#include <vector>

#include "common/random.h"
#include "http/codec1/codec_common.h"

namespace remora::filters::network::http_connection_manager {

namespace h = remora::http::headers;

namespace {

std::vector<std::string> splitComma(std::string_view value) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    std::string_view part = value.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
    if (!part.empty()) out.emplace_back(part);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

// RFC 7231 IMF-fixdate, as the Date header wants it; formatted once per second per thread.
const std::string& httpDate() {
  thread_local std::time_t cached_second = -1;
  thread_local std::string cached;
  std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[64];
    std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached = buf;
    cached_second = now;
  }
  return cached;
}

// `keep_upgrade`: an upgrade passes through with its Connection and Upgrade headers.
void stripHopByHop(remora::http::HeaderMap& headers, bool keep_te_trailers, bool keep_upgrade) {
  // Names listed in Connection are hop-by-hop too (RFC 9110 §7.6.1).
  if (const std::string* connection = headers.get(h::kConnection)) {
    for (auto name : splitComma(*connection)) {
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (name != "close" && name != "keep-alive" && name != "upgrade") headers.remove(name);
    }
  }
  if (!keep_upgrade) {
    headers.remove(h::kConnection);
    headers.remove(h::kUpgrade);
  }
  headers.remove(h::kKeepAlive);
  headers.remove(h::kProxyConnection);
  headers.remove(h::kTransferEncoding);
  if (const std::string* te = headers.get(h::kTe)) {
    // Only "te: trailers" may cross a proxy (gRPC needs it).
    bool trailers = keep_te_trailers && te->find("trailers") != std::string::npos;
    headers.remove(h::kTe);
    if (trailers) headers.set(h::kTe, "trailers");
  }
}

}  // namespace

bool ConnectionManagerUtility::isInternalAddress(const net::Address& address) {
  // RFC 1918, loopback and unique-local ranges, as Envoy's internal-address default; parsed once.
  static const auto* kInternal = [] {
    auto* ranges = new std::vector<std::pair<net::Address, uint32_t>>();
    const std::pair<const char*, uint32_t> text[] = {{"10.0.0.0", 8},   {"172.16.0.0", 12}, {"192.168.0.0", 16},
                                                     {"127.0.0.0", 8},  {"fd00::", 8},      {"::1", 128}};
    for (const auto& [prefix, len] : text) ranges->emplace_back(*net::Address::parse(prefix, 0), len);
    return ranges;
  }();
  for (const auto& [prefix, len] : *kInternal) {
    if (address.inCidr(prefix, len)) return true;
  }
  return false;
}

std::string ConnectionManagerUtility::randomUuid() {
  uint64_t hi = randomU64(), lo = randomU64();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  // 8-4-4-4-12 hex digits, written directly: this runs on every request.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(36, '-');
  size_t pos = 0;
  auto put = [&](uint64_t bits, int nibbles) {
    for (int i = nibbles - 1; i >= 0; --i) out[pos++] = kHex[(bits >> (4 * i)) & 0xf];
  };
  put(hi >> 32, 8);
  ++pos;
  put(hi >> 16, 4);
  ++pos;
  put(hi, 4);
  ++pos;
  put(lo >> 48, 4);
  ++pos;
  put(lo, 12);
  return out;
}

net::Address ConnectionManagerUtility::mutateRequestHeaders(remora::http::RequestHeaderMap& headers,
                                                            const net::Address& peer,
                                                            const HcmConfig& config) {
  stripHopByHop(headers, true, remora::http::codec1::isUpgrade(headers));
  net::Address client = peer;
  bool internal;
  if (config.useRemoteAddress()) {
    // We are the edge: the peer is the client; append it for the next hop.
    const std::string* xff = headers.get(h::kForwardedFor);
    std::string value = xff ? *xff + "," + peer.ip() : peer.ip();
    headers.set(h::kForwardedFor, value);
    internal = isInternalAddress(peer);
    if (!internal) headers.set(h::kEnvoyExternalAddress, peer.ip());
    headers.set(h::kForwardedProto, "http");
  } else {
    // Trust xff_num_trusted_hops addresses from the right of x-forwarded-for.
    if (const std::string* xff = headers.get(h::kForwardedFor)) {
      auto hops = splitComma(*xff);
      size_t trusted = config.xffNumTrustedHops();
      if (hops.size() > trusted) {
        auto parsed = net::Address::parse(hops[hops.size() - 1 - trusted], 0);
        if (parsed.ok()) client = *parsed;
      }
    }
    internal = isInternalAddress(client);
    if (!headers.has(h::kForwardedProto)) headers.set(h::kForwardedProto, "http");
  }
  if (internal) {
    headers.set(h::kEnvoyInternal, "true");
  } else {
    headers.remove(h::kEnvoyInternal);
    if (config.useRemoteAddress()) {
      // Control headers from outside the mesh must not steer it (x-envoy-retry-on, ...).
      std::string keep_external = headers.get(h::kEnvoyExternalAddress)
                                      ? *headers.get(h::kEnvoyExternalAddress)
                                      : std::string();
      headers.removePrefix("x-envoy-");
      if (!keep_external.empty()) headers.set(h::kEnvoyExternalAddress, keep_external);
    }
  }
  if (config.generateRequestId()) {
    bool edge_external = config.useRemoteAddress() && !internal;
    if (!headers.has(h::kRequestId) || edge_external) headers.set(h::kRequestId, randomUuid());
  }
  if (!headers.has(h::kScheme)) headers.set(h::kScheme, "http");
  return client;
}

void ConnectionManagerUtility::mutateResponseHeaders(remora::http::ResponseHeaderMap& headers,
                                                     const HcmConfig& config, bool upgrade) {
  stripHopByHop(headers, false, upgrade && remora::http::codec1::isUpgrade(headers));
  headers.set(h::kServer, config.serverName());
  headers.set(h::kDate, httpDate());
}

bool ConnectionManagerUtility::normalizePath(remora::http::RequestHeaderMap& headers,
                                             const HcmConfig& config) {
  if (!config.normalizePath() && !config.mergeSlashes()) return true;
  std::string_view full = headers.path();
  size_t query = full.find('?');
  std::string path(full.substr(0, query));
  std::string rest(query == std::string_view::npos ? "" : full.substr(query));
  if (path.empty() || path[0] != '/') return false;
  if (config.normalizePath()) {
    // Decode %-escapes of unreserved characters only (RFC 3986 §6.2.2.2), then drop dot-segments.
    std::string decoded;
    for (size_t i = 0; i < path.size(); ++i) {
      if (path[i] == '%' && i + 2 < path.size() &&
          std::isxdigit(static_cast<unsigned char>(path[i + 1])) &&
          std::isxdigit(static_cast<unsigned char>(path[i + 2]))) {
        char c = static_cast<char>(std::stoi(path.substr(i + 1, 2), nullptr, 16));
        if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
            c == '~') {
          decoded += c;
          i += 2;
          continue;
        }
        decoded += '%';
        decoded += static_cast<char>(std::toupper(path[i + 1]));
        decoded += static_cast<char>(std::toupper(path[i + 2]));
        i += 2;
        continue;
      }
      decoded += path[i];
    }
    std::vector<std::string> segments;
    size_t pos = 1;
    while (pos <= decoded.size()) {
      size_t slash = decoded.find('/', pos);
      std::string segment =
          decoded.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
      bool last = slash == std::string::npos;
      if (segment == "..") {
        if (!segments.empty()) segments.pop_back();
        if (last) segments.emplace_back();
      } else if (segment == ".") {
        if (last) segments.emplace_back();
      } else {
        segments.push_back(segment);
      }
      if (last) break;
      pos = slash + 1;
    }
    path = "";
    for (const auto& s : segments) path += "/" + s;
    if (path.empty()) path = "/";
  }
  if (config.mergeSlashes()) {
    std::string merged;
    for (char c : path) {
      if (c == '/' && !merged.empty() && merged.back() == '/') continue;
      merged += c;
    }
    path = merged;
  }
  headers.set(remora::http::headers::kPath, path + rest);
  return true;
}

}  // namespace remora::filters::network::http_connection_manager
