#include "admin/http_response.h"

#include <fmt/format.h>

namespace remora::admin {

std::string_view reasonPhrase(uint16_t code) {
  switch (code) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

void encodeResponse(const AdminResponse& response, bool head_only, bool close,
                    buffer::Buffer& out) {
  // Lower-case names as Envoy's HTTP/1 codec writes them.
  std::string head = fmt::format(
      "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncache-control: no-cache, max-age=0\r\n"
      "x-content-type-options: nosniff\r\ncontent-length: {}\r\n{}\r\n",
      response.code, reasonPhrase(response.code), response.content_type, response.body.size(),
      close ? "connection: close\r\n" : "");
  out.add(head);
  if (!head_only) out.add(response.body);
}

}  // namespace remora::admin
