#include "filters/network/http_connection_manager/conn_manager_utility.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <ctime>
#include <optional>
#include <vector>

#include "common/random.h"
#include "http/codec1/codec_common.h"
#include "http/http1/chars.h"

namespace remora::filters::network::http_connection_manager {

namespace h = remora::http::headers;

namespace {

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

// Which hop-by-hop header a (lower-case) name is, dispatched on length first: this runs over
// every header of every request and response.
enum class HopByHop { None, Connection, Upgrade, Te, Other };
HopByHop hopByHopKind(std::string_view key) {
  switch (key.size()) {
    case 2:
      return key == h::kTe ? HopByHop::Te : HopByHop::None;
    case 7:
      return key == h::kUpgrade ? HopByHop::Upgrade : HopByHop::None;
    case 10:
      if (key == h::kConnection) return HopByHop::Connection;
      return key == h::kKeepAlive ? HopByHop::Other : HopByHop::None;
    case 16:
      return key == h::kProxyConnection ? HopByHop::Other : HopByHop::None;
    case 17:
      return key == h::kTransferEncoding ? HopByHop::Other : HopByHop::None;
    default:
      return HopByHop::None;
  }
}

// `keep_upgrade`: an upgrade passes through with its Connection and Upgrade headers.
void stripHopByHop(remora::http::HeaderMap& headers, bool keep_te_trailers, bool keep_upgrade) {
  // One pass to see what is there: most messages carry none of these names, or only Connection.
  // Names listed in Connection are hop-by-hop too (RFC 9110 §7.6.1). They are collected first:
  // removing entries while reading a Connection value would move it.
  std::string nominated;
  bool any = false;
  const std::string* te = nullptr;
  for (const auto& entry : headers) {
    const HopByHop kind = hopByHopKind(entry.key);
    if (kind == HopByHop::None) continue;
    if (kind == HopByHop::Te && te == nullptr) te = &entry.value;
    if ((kind == HopByHop::Connection || kind == HopByHop::Upgrade) && keep_upgrade) {
      if (kind == HopByHop::Upgrade) continue;
    } else {
      any = true;
    }
    if (kind != HopByHop::Connection) continue;
    remora::http::http1::forEachListElement(entry.value, [&](std::string_view name) {
      using remora::http::http1::equalsIgnoreCase;
      if (!equalsIgnoreCase(name, "close") && !equalsIgnoreCase(name, "keep-alive") &&
          !equalsIgnoreCase(name, "upgrade")) {
        nominated.append(name).push_back(',');
      }
      return true;
    });
  }
  if (!nominated.empty()) {
    remora::http::http1::forEachListElement(nominated, [&](std::string_view name) {
      headers.remove(name);
      return true;
    });
    // A nominated name may have been te, or anything the first pass saw: look again.
    te = headers.get(h::kTe);
    any = true;
  }
  if (!any) return;
  // Only "te: trailers" may cross a proxy (gRPC needs it); it goes back at the end.
  const bool te_trailers =
      te != nullptr && keep_te_trailers && te->find("trailers") != std::string::npos;
  headers.removeIf([&](std::string_view key) {
    const HopByHop kind = hopByHopKind(key);
    if (kind == HopByHop::Connection || kind == HopByHop::Upgrade) return !keep_upgrade;
    return kind != HopByHop::None;
  });
  if (te_trailers) headers.add(h::kTe, "trailers");
}

}  // namespace

bool ConnectionManagerUtility::authorityIsValid(std::string_view authority) {
  static constexpr auto kValid = [] {
    std::array<bool, 256> t{};
    for (int c = '0'; c <= '9'; ++c) t[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
    for (char c : std::string_view("-._~%!$&'()*+,;=:@[]")) t[static_cast<uint8_t>(c)] = true;
    return t;
  }();
  for (char c : authority) {
    if (!kValid[static_cast<uint8_t>(c)]) return false;
  }
  return true;
}

bool ConnectionManagerUtility::isInternalAddress(const net::Address& address) {
  // RFC 1918, loopback and unique-local ranges, as Envoy's internal-address default; parsed once.
  static const auto* kInternal = [] {
    auto* ranges = new std::vector<std::pair<net::Address, uint32_t>>();
    const std::pair<const char*, uint32_t> text[] = {{"10.0.0.0", 8},     {"172.16.0.0", 12},
                                                     {"192.168.0.0", 16}, {"127.0.0.0", 8},
                                                     {"fd00::", 8},       {"::1", 128}};
    for (const auto& [prefix, len] : text)
      ranges->emplace_back(*net::Address::parse(prefix, 0), len);
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
  // 8-4-4-4-12 hex digits, written directly a byte (two digits) at a time: this runs on every
  // request.
  static constexpr auto kHexPairs = [] {
    std::array<std::array<char, 2>, 256> t{};
    constexpr char kHex[] = "0123456789abcdef";
    for (size_t i = 0; i < 256; ++i) t[i] = {kHex[i >> 4], kHex[i & 0xf]};
    return t;
  }();
  std::string out(36, '-');
  char* p = out.data();
  auto put = [&](uint64_t bits, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) {
      const auto& pair = kHexPairs[(bits >> (8 * i)) & 0xff];
      *p++ = pair[0];
      *p++ = pair[1];
    }
  };
  put(hi >> 32, 4);
  ++p;
  put(hi >> 16, 2);
  ++p;
  put(hi, 2);
  ++p;
  put(lo >> 48, 2);
  ++p;
  put(lo, 6);
  return out;
}

namespace {

// The address `skip` entries from the right end of x-forwarded-for (Envoy's
// getLastAddressFromXFF). `single` is true when it is the header's only entry and nothing was
// skipped: only then may it make a request internal.
struct XffAddress {
  net::Address address;
  bool single;
};
std::optional<XffAddress> addressFromXff(std::string_view xff, uint32_t skip) {
  for (uint32_t i = 0; i < skip; ++i) {
    const size_t comma = xff.rfind(',');
    if (comma == std::string_view::npos) return std::nullopt;
    xff = xff.substr(0, comma);
  }
  const size_t comma = xff.rfind(',');
  std::string_view entry = comma == std::string_view::npos ? xff : xff.substr(comma + 1);
  while (!entry.empty() && (entry.front() == ' ' || entry.front() == '\t')) entry.remove_prefix(1);
  while (!entry.empty() && (entry.back() == ' ' || entry.back() == '\t')) entry.remove_suffix(1);
  auto parsed = net::Address::parse(std::string(entry), 0);
  if (!parsed.ok()) return std::nullopt;
  return XffAddress{*parsed, comma == std::string_view::npos && skip == 0};
}

}  // namespace

void ConnectionManagerUtility::cleanInternalHeaders(remora::http::RequestHeaderMap& headers,
                                                    bool edge) {
  // Envoy's cleanInternalHeaders: what only Envoy itself may say about a request. Any other
  // x-envoy-* header (x-envoy-original-path, the fault filter's x-envoy-fault-*, ...) passes.
  static constexpr std::string_view kEdgeOnly[] = {
      "x-envoy-decorator-operation",
      "x-envoy-downstream-service-cluster",
      "x-envoy-downstream-service-node",
  };
  static constexpr std::string_view kExternal[] = {
      h::kEnvoyRetriableStatusCodes,
      "x-envoy-retriable-header-names",
      h::kEnvoyRetryOn,
      "x-envoy-retry-grpc-on",
      h::kEnvoyMaxRetries,
      "x-envoy-upstream-alt-stat-name",
      h::kEnvoyUpstreamRqTimeoutMs,
      h::kEnvoyUpstreamRqPerTryTimeoutMs,
      "x-envoy-upstream-rq-timeout-alt-response",
      h::kEnvoyExpectedRqTimeoutMs,
      "x-envoy-force-trace",
      "x-envoy-ip-tags",
      "x-envoy-original-url",
      "x-envoy-hedge-on-per-try-timeout",
  };
  auto listed = [](const auto& names, std::string_view key) {
    return std::find(std::begin(names), std::end(names), key) != std::end(names);
  };
  // One pass over the request, looking closer only at x-envoy-* names.
  headers.removeIf([&](std::string_view key) {
    return key.starts_with("x-envoy-") &&
           (listed(kExternal, key) || (edge && listed(kEdgeOnly, key)));
  });
}

net::Address ConnectionManagerUtility::mutateRequestHeaders(remora::http::RequestHeaderMap& headers,
                                                            const net::Address& peer,
                                                            const HcmConfig& config) {
  stripHopByHop(headers, true, remora::http::codec1::isUpgrade(headers));
  // The trusted client address and whether it may decide "internal", by Envoy's rules (docs:
  // x-forwarded-for), computed before anything is appended to XFF.
  const uint32_t trusted_hops = config.xffNumTrustedHops();
  const std::string* xff = headers.get(h::kForwardedFor);
  std::optional<net::Address> client;
  bool trusted_checks = false;
  if (config.useRemoteAddress()) {
    // We are the edge: the peer is the client, unless trusted proxies in front of us named one.
    trusted_checks = xff == nullptr;
    if (trusted_hops > 0 && xff != nullptr) {
      if (auto from_xff = addressFromXff(*xff, trusted_hops - 1)) client = from_xff->address;
    }
    if (!client) client = peer;
    headers.set(h::kForwardedFor, xff != nullptr ? *xff + "," + peer.ip() : peer.ip());
    // At the edge, x-forwarded-proto from a hop we do not trust is replaced.
    if (trusted_hops == 0) headers.set(h::kForwardedProto, "http");
  } else if (xff != nullptr) {
    // The previous hop appended the client: trust the entry after xff_num_trusted_hops.
    if (auto from_xff = addressFromXff(*xff, trusted_hops)) {
      client = from_xff->address;
      trusted_checks = from_xff->single;
    }
  }
  // Behind another proxy (use_remote_address false) its x-forwarded-proto is kept, as Envoy does.
  if (!headers.has(h::kForwardedProto)) headers.set(h::kForwardedProto, "http");
  // Internal: a single internal address in XFF, or (edge) no XFF and an internal peer. Without
  // XFF and use_remote_address, even an internal peer makes an external request.
  const bool internal = trusted_checks && client && isInternalAddress(*client);
  if (!client) client = peer;
  const bool edge = config.useRemoteAddress() && !internal;
  if (internal) {
    headers.set(h::kEnvoyInternal, "true");
  } else {
    headers.remove(h::kEnvoyInternal);
    cleanInternalHeaders(headers, edge);
  }
  // The first ingress point into the trusted network records who the client was.
  if (edge) headers.set(h::kEnvoyExternalAddress, client->ip());
  if (config.generateRequestId() && (edge || !headers.has(h::kRequestId))) {
    headers.set(h::kRequestId, randomUuid());
  }
  if (!headers.has(h::kScheme)) headers.set(h::kScheme, "http");
  return *client;
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
