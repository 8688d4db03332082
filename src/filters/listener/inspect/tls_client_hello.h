#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

// A TLS ClientHello reader for envoy.filters.listener.tls_inspector: decides from the first bytes
// of a connection whether it starts a TLS handshake and, if so, which server name (SNI) and
// application protocols (ALPN) the client offers. No protobuf, no runtime: the fuzz build links it.
namespace remora::filters::listener::inspect {

// Envoy's bound: a ClientHello (its records, headers included) larger than this is not waited for.
inline constexpr size_t kMaxClientHelloSize = 64 * 1024;

struct ClientHello {
  enum class Verdict {
    NeedMore,  // a valid prefix of a ClientHello: peek again when more bytes arrive
    Tls,       // a complete, well-formed ClientHello
    NotTls,    // anything else (plaintext, another record type, a malformed hello)
    TooLarge,  // a ClientHello that would not fit in kMaxClientHelloSize
  };
  Verdict verdict = Verdict::NeedMore;
  std::string server_name;                         // host_name of server_name; empty: none
  std::vector<std::string> application_protocols;  // ALPN, in the client's order
  size_t bytes_used = 0;                           // record bytes the hello took (Tls only)
};

// Parses `data`, the bytes received so far (peeked, never consumed). Only a prefix of at most
// kMaxClientHelloSize bytes is looked at. Deterministic: the same bytes give the same answer.
ClientHello parseClientHello(std::string_view data);

}  // namespace remora::filters::listener::inspect
