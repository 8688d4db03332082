#pragma once

#include <cstddef>
#include <string_view>

// What envoy.filters.listener.http_inspector decides from a connection's first bytes: an HTTP/1.0
// or HTTP/1.1 request line, the HTTP/2 prior-knowledge preface (h2c), or neither. No protobuf, no
// runtime: the fuzz build links it.
namespace remora::filters::listener::inspect {

// Envoy's bound on the bytes the inspector waits for (a request line longer than this is not HTTP
// to the inspector).
inline constexpr size_t kMaxHttpInspectSize = 8192;

enum class HttpVerdict { NeedMore, Http10, Http11, H2c, NotHttp };

// `data`: the bytes received so far (peeked). Decides as soon as the bytes allow: a prefix that no
// request line or preface can start with is NotHttp at once.
HttpVerdict detectHttp(std::string_view data);

// The application protocol name http_inspector records ("http/1.0", "http/1.1", "h2c"), or empty.
std::string_view httpVerdictProtocol(HttpVerdict verdict);

}  // namespace remora::filters::listener::inspect
