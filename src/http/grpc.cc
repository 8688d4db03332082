#include "http/grpc.h"

namespace remora::http {

bool isGrpcRequest(const HeaderMap& headers) {
  const std::string* type = headers.get(headers::kContentType);
  if (type == nullptr) return false;
  constexpr std::string_view kGrpc = "application/grpc";
  if (type->compare(0, kGrpc.size(), kGrpc) != 0) return false;
  return type->size() == kGrpc.size() || (*type)[kGrpc.size()] == '+' ||
         (*type)[kGrpc.size()] == ';';
}

uint32_t grpcStatusFromHttp(uint32_t http_status) {
  switch (http_status) {
    case 400:
      return 13;  // INTERNAL
    case 401:
      return 16;  // UNAUTHENTICATED
    case 403:
      return 7;  // PERMISSION_DENIED
    case 404:
      return 12;  // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14;  // UNAVAILABLE
    default:
      return 2;  // UNKNOWN
  }
}

std::string percentEncodeGrpcMessage(std::string_view message) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(message.size());
  for (char c : message) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte > 0x7e || c == '%') {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace remora::http
