#include "filters/listener/inspect/http_request_line.h"

#include <algorithm>

namespace remora::filters::listener::inspect {

namespace {

constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// RFC 9110 5.6.2 tchar.
bool isTokenChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// A request-target byte: anything visible (obs-text included), no spaces or controls.
bool isTargetChar(unsigned char c) { return c > 0x20 && c != 0x7f; }

}  // namespace

HttpVerdict detectHttp(std::string_view data) {
  if (data.size() > kMaxHttpInspectSize) data = data.substr(0, kMaxHttpInspectSize);
  // Undecided with all the bytes the inspector looks at: not HTTP.
  const HttpVerdict more =
      data.size() >= kMaxHttpInspectSize ? HttpVerdict::NotHttp : HttpVerdict::NeedMore;
  const size_t preface_part = std::min(data.size(), kH2Preface.size());
  if (data.substr(0, preface_part) == kH2Preface.substr(0, preface_part)) {
    return preface_part == kH2Preface.size() ? HttpVerdict::H2c : more;
  }
  // method SP request-target SP HTTP-version CRLF (RFC 9112 3), checked byte by byte so that
  // garbage is rejected without waiting for a line end.
  size_t i = 0;
  while (i < data.size() && isTokenChar(data[i])) ++i;
  if (i < data.size() && (i == 0 || data[i] != ' ')) return HttpVerdict::NotHttp;
  if (i++ >= data.size()) return more;
  const size_t target_start = i;
  while (i < data.size() && isTargetChar(data[i])) ++i;
  if (i < data.size() && (i == target_start || data[i] != ' ')) return HttpVerdict::NotHttp;
  if (i++ >= data.size()) return more;
  std::string_view rest = data.substr(i);
  for (std::string_view version : {"HTTP/1.0\r\n", "HTTP/1.1\r\n"}) {
    const size_t n = std::min(rest.size(), version.size());
    if (rest.substr(0, n) != version.substr(0, n)) continue;
    if (n < version.size()) return more;
    return version[7] == '0' ? HttpVerdict::Http10 : HttpVerdict::Http11;
  }
  return HttpVerdict::NotHttp;
}

std::string_view httpVerdictProtocol(HttpVerdict verdict) {
  switch (verdict) {
    case HttpVerdict::Http10:
      return "http/1.0";
    case HttpVerdict::Http11:
      return "http/1.1";
    case HttpVerdict::H2c:
      return "h2c";
    default:
      return {};
  }
}

}  // namespace remora::filters::listener::inspect
