#include "filters/listener/inspect/tls_client_hello.h"

#include <cstdint>
#include <optional>
#include <set>

namespace remora::filters::listener::inspect {

namespace {

constexpr uint8_t kContentTypeHandshake = 22;
constexpr uint8_t kHandshakeClientHello = 1;
constexpr size_t kRecordHeaderSize = 5;
constexpr size_t kHandshakeHeaderSize = 4;
constexpr size_t kMaxRecordPayload = 16384;  // RFC 8446 5.1: 2^14
constexpr uint16_t kExtServerName = 0;
constexpr uint16_t kExtAlpn = 16;
constexpr uint8_t kServerNameHostName = 0;

// Bounds-checked big-endian reads over one byte range; a failed read poisons the reader.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool ok() const { return ok_; }
  bool empty() const { return data_.empty(); }
  size_t size() const { return data_.size(); }

  uint32_t u8() { return number(1); }
  uint32_t u16() { return number(2); }
  uint32_t u24() { return number(3); }
  std::string_view bytes(size_t n) {
    if (!ok_ || data_.size() < n) {
      ok_ = false;
      return {};
    }
    std::string_view out = data_.substr(0, n);
    data_.remove_prefix(n);
    return out;
  }
  // A vector with a length prefix of `width` bytes, as a sub-reader.
  Reader prefixed(size_t width) {
    uint32_t n = number(width);
    Reader sub(bytes(n));
    sub.ok_ = ok_;
    return sub;
  }

 private:
  uint32_t number(size_t width) {
    std::string_view b = bytes(width);
    uint32_t v = 0;
    for (unsigned char c : b) v = (v << 8) | c;
    return v;
  }

  std::string_view data_;
  bool ok_ = true;
};

// server_name (RFC 6066 3): exactly one host_name, non-empty, without NUL bytes.
bool parseServerNameExtension(std::string_view body, ClientHello& out) {
  Reader ext(body);
  Reader list = ext.prefixed(2);
  if (!ext.ok() || !ext.empty() || list.empty()) return false;
  if (list.u8() != kServerNameHostName) return false;
  uint32_t length = list.u16();
  std::string_view name = list.bytes(length);
  if (!list.ok() || !list.empty() || name.empty()) return false;
  if (name.find('\0') != std::string_view::npos) return false;
  out.server_name.assign(name);
  return true;
}

// application_layer_protocol_negotiation (RFC 7301 3.1): a non-empty list of non-empty names.
bool parseAlpnExtension(std::string_view body, ClientHello& out) {
  Reader ext(body);
  Reader list = ext.prefixed(2);
  if (!ext.ok() || !ext.empty() || list.empty()) return false;
  while (!list.empty()) {
    uint32_t length = list.u8();
    std::string_view name = list.bytes(length);
    if (!list.ok() || name.empty()) return false;
    out.application_protocols.emplace_back(name);
  }
  return true;
}

// The ClientHello body (RFC 8446 4.1.2), after the handshake header.
bool parseBody(std::string_view body, ClientHello& out) {
  Reader r(body);
  r.u16();      // legacy_version
  r.bytes(32);  // random
  Reader session_id = r.prefixed(1);
  if (session_id.size() > 32) return false;
  Reader ciphers = r.prefixed(2);
  if (!r.ok() || ciphers.size() < 2 || ciphers.size() % 2 != 0) return false;
  Reader compression = r.prefixed(1);
  if (!r.ok() || compression.empty()) return false;
  if (r.empty()) return true;  // no extensions (SSL 3.0 / early TLS)
  Reader extensions = r.prefixed(2);
  if (!r.ok() || !r.empty()) return false;
  std::set<uint16_t> seen;
  while (!extensions.empty()) {
    uint16_t type = static_cast<uint16_t>(extensions.u16());
    uint32_t length = extensions.u16();
    std::string_view data = extensions.bytes(length);
    if (!extensions.ok()) return false;
    if (!seen.insert(type).second) return false;  // RFC 8446 4.2: at most one of each
    if (type == kExtServerName && !parseServerNameExtension(data, out)) return false;
    if (type == kExtAlpn && !parseAlpnExtension(data, out)) return false;
  }
  return true;
}

}  // namespace

ClientHello parseClientHello(std::string_view data) {
  ClientHello out;
  if (data.size() > kMaxClientHelloSize) data = data.substr(0, kMaxClientHelloSize);
  // The handshake message may span several records: gather their payloads.
  std::string handshake;
  size_t offset = 0;
  std::optional<size_t> hello_size;  // handshake header + body, once known
  for (;;) {
    if (hello_size && handshake.size() >= *hello_size) break;
    if (data.size() - offset < kRecordHeaderSize) {
      // Reject early what cannot become a handshake record.
      if (offset < data.size() && static_cast<uint8_t>(data[offset]) != kContentTypeHandshake) {
        out.verdict = ClientHello::Verdict::NotTls;
      } else if (data.size() - offset >= 2 && static_cast<uint8_t>(data[offset + 1]) != 3) {
        out.verdict = ClientHello::Verdict::NotTls;
      } else if (data.size() >= kMaxClientHelloSize) {
        out.verdict = ClientHello::Verdict::TooLarge;
      }
      return out;
    }
    Reader header(data.substr(offset, kRecordHeaderSize));
    uint32_t type = header.u8();
    uint32_t major = header.u8();
    header.u8();  // minor: any; the record version is legacy
    uint32_t length = header.u16();
    if (type != kContentTypeHandshake || major != 3 || length == 0 || length > kMaxRecordPayload) {
      out.verdict = ClientHello::Verdict::NotTls;
      return out;
    }
    const size_t available = data.size() - offset - kRecordHeaderSize;
    handshake.append(data.substr(offset + kRecordHeaderSize, std::min<size_t>(length, available)));
    if (!hello_size && handshake.size() >= kHandshakeHeaderSize) {
      Reader h(handshake);
      if (h.u8() != kHandshakeClientHello) {
        out.verdict = ClientHello::Verdict::NotTls;
        return out;
      }
      hello_size = kHandshakeHeaderSize + h.u24();
      // Every record of the hello brings its own header: at least this many bytes in all.
      if (*hello_size + kRecordHeaderSize > kMaxClientHelloSize) {
        out.verdict = ClientHello::Verdict::TooLarge;
        return out;
      }
    }
    if (available < length) {
      if (data.size() >= kMaxClientHelloSize) out.verdict = ClientHello::Verdict::TooLarge;
      return out;  // NeedMore: the record is incomplete
    }
    offset += kRecordHeaderSize + length;
  }
  if (!parseBody(std::string_view(handshake).substr(kHandshakeHeaderSize,
                                                    *hello_size - kHandshakeHeaderSize),
                 out)) {
    out = ClientHello{};
    out.verdict = ClientHello::Verdict::NotTls;
    return out;
  }
  out.verdict = ClientHello::Verdict::Tls;
  out.bytes_used = offset;
  return out;
}

}  // namespace remora::filters::listener::inspect
