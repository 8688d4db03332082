#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace remora::http {

// HTTP headers (and trailers) as Envoy models them: names lower-cased on insertion, request and
// response pseudo-headers (":method", ":path", ":authority", ":scheme", ":status", ":protocol")
// kept ahead of regular headers, regular headers in arrival order. Repeated names are separate
// entries (joined only when a codec must). Codecs translate to and from their wire forms: the
// HTTP/1 codec maps the request line to pseudo-headers and Host to ":authority".
class HeaderMap {
 public:
  struct Entry {
    Entry() = default;
    // Built straight from the views: a string constructed from a view is cheaper than one
    // default-constructed and then assigned (every header of every message is inserted).
    Entry(std::string_view k, std::string_view v) : key(k), value(v) {}
    std::string key;
    std::string value;
  };

  // Appends an entry (the key is lower-cased); pseudo-headers go before regular ones.
  void add(std::string_view key, std::string_view value);
  // Replaces every entry named `key` with one entry (appended if none existed).
  void set(std::string_view key, std::string_view value);
  // Removes every entry named `key`; returns how many were removed.
  size_t remove(std::string_view key);
  void clear() {
    entries_.clear();
    key_bits_ = 0;
  }
  // Removes, in one pass, every entry whose (lower-case) key satisfies `pred`.
  template <class Pred>
  size_t removeIf(Pred&& pred) {
    size_t before = entries_.size();
    std::erase_if(entries_, [&](const Entry& e) { return pred(std::string_view(e.key)); });
    return before - entries_.size();
  }
  // The first value for `key`, or nullptr.
  const std::string* get(std::string_view key) const { return mayHave(key) ? find(key) : nullptr; }
  // Every value for `key`, in order.
  std::vector<std::string_view> getAll(std::string_view key) const;
  bool has(std::string_view key) const { return get(key) != nullptr; }
  // The first value for `key` as a decimal integer; nullopt when absent or not a whole number
  // (control headers such as x-envoy-upstream-rq-timeout-ms use only their first value).
  std::optional<uint64_t> getUint(std::string_view key) const;

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  // Sum of key and value lengths, for header-size limits.
  size_t byteSize() const;
  const std::vector<Entry>& entries() const { return entries_; }
  std::vector<Entry>::const_iterator begin() const { return entries_.begin(); }
  std::vector<Entry>::const_iterator end() const { return entries_.end(); }

  // Pseudo-header shorthands; empty when absent.
  std::string_view method() const { return valueOr(":method"); }
  std::string_view path() const { return valueOr(":path"); }
  std::string_view host() const { return valueOr(":authority"); }
  std::string_view scheme() const { return valueOr(":scheme"); }
  // :status as a number, 0 when absent or malformed.
  uint32_t status() const;

 private:
  // One bit of `key_bits_` per key (a hash of its length and two of its characters, blind to
  // ASCII case): a clear bit proves a key absent without a scan. Most lookups and removals on
  // a request's path are for names it does not carry (hop-by-hop headers, x-envoy-* controls,
  // expect, upgrade, te). Insertion sets bits; only clear() resets them, so a removal leaves a
  // stale bit that costs a scan later, never a wrong answer. The multipliers were chosen so that
  // the names a proxied request and response usually carry and the names the proxy probes for
  // rarely share a bit.
  static uint64_t keyBit(std::string_view key) {
    const size_t n = key.size();
    if (n == 0) return 1;
    const unsigned folded_last = static_cast<unsigned char>(key[n - 1]) | 0x20u;
    const unsigned folded_mid = static_cast<unsigned char>(key[n / 2]) | 0x20u;
    return uint64_t{1} << ((n * 2 + folded_last * 9 + folded_mid * 15) & 63);
  }
  bool mayHave(std::string_view key) const { return (key_bits_ & keyBit(key)) != 0; }
  const std::string* find(std::string_view key) const;
  std::string_view valueOr(std::string_view key) const {
    const std::string* v = get(key);
    return v ? std::string_view(*v) : std::string_view();
  }
  std::vector<Entry> entries_;
  uint64_t key_bits_ = 0;
};
using HeaderMapPtr = std::unique_ptr<HeaderMap>;
using RequestHeaderMap = HeaderMap;
using ResponseHeaderMap = HeaderMap;
using RequestHeaderMapPtr = HeaderMapPtr;
using ResponseHeaderMapPtr = HeaderMapPtr;
using TrailerMap = HeaderMap;
using TrailerMapPtr = HeaderMapPtr;

// Header names remora uses, spelled once.
namespace headers {
inline constexpr std::string_view kMethod = ":method";
inline constexpr std::string_view kPath = ":path";
inline constexpr std::string_view kAuthority = ":authority";
inline constexpr std::string_view kScheme = ":scheme";
inline constexpr std::string_view kStatus = ":status";
inline constexpr std::string_view kProtocol = ":protocol";
inline constexpr std::string_view kHost = "host";
inline constexpr std::string_view kContentLength = "content-length";
inline constexpr std::string_view kContentType = "content-type";
inline constexpr std::string_view kTransferEncoding = "transfer-encoding";
inline constexpr std::string_view kConnection = "connection";
inline constexpr std::string_view kUpgrade = "upgrade";
inline constexpr std::string_view kKeepAlive = "keep-alive";
inline constexpr std::string_view kProxyConnection = "proxy-connection";
inline constexpr std::string_view kTe = "te";
inline constexpr std::string_view kExpect = "expect";
inline constexpr std::string_view kDate = "date";
inline constexpr std::string_view kServer = "server";
inline constexpr std::string_view kForwardedFor = "x-forwarded-for";
inline constexpr std::string_view kForwardedProto = "x-forwarded-proto";
inline constexpr std::string_view kRequestId = "x-request-id";
inline constexpr std::string_view kEnvoyOriginalPath = "x-envoy-original-path";
inline constexpr std::string_view kEnvoyUpstreamServiceTime = "x-envoy-upstream-service-time";
inline constexpr std::string_view kEnvoyExpectedRqTimeoutMs = "x-envoy-expected-rq-timeout-ms";
inline constexpr std::string_view kEnvoyUpstreamRqTimeoutMs = "x-envoy-upstream-rq-timeout-ms";
inline constexpr std::string_view kEnvoyUpstreamRqPerTryTimeoutMs =
    "x-envoy-upstream-rq-per-try-timeout-ms";
inline constexpr std::string_view kEnvoyRetryOn = "x-envoy-retry-on";
inline constexpr std::string_view kEnvoyRetryGrpcOn = "x-envoy-retry-grpc-on";
inline constexpr std::string_view kEnvoyMaxRetries = "x-envoy-max-retries";
inline constexpr std::string_view kEnvoyRetriableStatusCodes = "x-envoy-retriable-status-codes";
inline constexpr std::string_view kEnvoyAttemptCount = "x-envoy-attempt-count";
inline constexpr std::string_view kEnvoyOverloaded = "x-envoy-overloaded";
inline constexpr std::string_view kEnvoyRateLimited = "x-envoy-ratelimited";
inline constexpr std::string_view kEnvoyInternal = "x-envoy-internal";
inline constexpr std::string_view kEnvoyExternalAddress = "x-envoy-external-address";
inline constexpr std::string_view kEnvoyImmediateHealthCheckFail =
    "x-envoy-immediate-health-check-fail";
inline constexpr std::string_view kEnvoyUpstreamHealthCheckedCluster =
    "x-envoy-upstream-healthchecked-cluster";
inline constexpr std::string_view kEnvoyDegraded = "x-envoy-degraded";
}  // namespace headers

}  // namespace remora::http
