#include "http/grpc.h"

#include <algorithm>
#include <charconv>

namespace remora::http {

namespace {
constexpr uint64_t kMaxGrpcTimeoutValue = 99999999;  // grpc-timeout allows 8 digits
}  // namespace

bool isGrpcRequest(const HeaderMap& headers) {
  const std::string* type = headers.get(headers::kContentType);
  if (type == nullptr) return false;
  constexpr std::string_view kGrpc = grpc_headers::kContentTypeGrpc;
  if (type->compare(0, kGrpc.size(), kGrpc) != 0) return false;
  return type->size() == kGrpc.size() || (*type)[kGrpc.size()] == '+' ||
         (*type)[kGrpc.size()] == ';';
}

std::optional<uint32_t> grpcStatusOf(const HeaderMap& headers) {
  const std::string* value = headers.get(grpc_headers::kStatus);
  if (value == nullptr) return std::nullopt;
  uint32_t code = 0;
  auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), code);
  if (ec != std::errc() || end != value->data() + value->size() || value->empty() ||
      code > grpc_status::kMaximumKnown) {
    return grpc_status::kInvalidCode;
  }
  return code;
}

uint32_t grpcStatusFromHttp(uint32_t http_status) {
  switch (http_status) {
    case 400:
      return grpc_status::kInternal;
    case 401:
      return grpc_status::kUnauthenticated;
    case 403:
      return grpc_status::kPermissionDenied;
    case 404:
      return grpc_status::kUnimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return grpc_status::kUnavailable;
    default:
      return grpc_status::kUnknown;
  }
}

uint32_t httpStatusFromGrpc(uint32_t grpc_status) {
  switch (grpc_status) {
    case grpc_status::kOk:
      return 200;
    case grpc_status::kCanceled:
      return 499;
    case grpc_status::kUnknown:
      return 500;
    case grpc_status::kInvalidArgument:
      return 400;
    case grpc_status::kDeadlineExceeded:
      return 504;
    case grpc_status::kNotFound:
      return 404;
    case grpc_status::kAlreadyExists:
      return 409;
    case grpc_status::kPermissionDenied:
      return 403;
    case grpc_status::kResourceExhausted:
      return 429;
    case grpc_status::kFailedPrecondition:
      return 400;
    case grpc_status::kAborted:
      return 409;
    case grpc_status::kOutOfRange:
      return 400;
    case grpc_status::kUnimplemented:
      return 501;
    case grpc_status::kInternal:
      return 500;
    case grpc_status::kUnavailable:
      return 503;
    case grpc_status::kDataLoss:
      return 500;
    case grpc_status::kUnauthenticated:
      return 401;
    default:
      return 500;
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

void makeTrailersOnlyGrpcReply(ResponseHeaderMap& headers, uint32_t http_status,
                               std::string_view message, std::optional<uint32_t> grpc_status) {
  headers.set(headers::kStatus, "200");
  headers.set(headers::kContentType, grpc_headers::kContentTypeGrpc);
  headers.set(grpc_headers::kStatus,
              std::to_string(grpc_status ? *grpc_status : grpcStatusFromHttp(http_status)));
  if (!message.empty()) headers.set(grpc_headers::kMessage, percentEncodeGrpcMessage(message));
  // No body: HTTP/1.1 needs the zero length said; HTTP/2 ends the stream with the headers.
  headers.set(headers::kContentLength, "0");
}

std::optional<std::chrono::milliseconds> parseGrpcTimeout(std::string_view value) {
  if (value.size() < 2) return std::nullopt;
  const char unit = value.back();
  std::string_view digits = value.substr(0, value.size() - 1);
  // As Envoy: the value must be at most 99999999 (leading zeros do not count against it).
  uint64_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
    if (n > kMaxGrpcTimeoutValue) return std::nullopt;
  }
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  switch (unit) {
    case 'H':
      return duration_cast<milliseconds>(std::chrono::hours(n));
    case 'M':
      return duration_cast<milliseconds>(std::chrono::minutes(n));
    case 'S':
      return duration_cast<milliseconds>(std::chrono::seconds(n));
    case 'm':
      return milliseconds(n);
    case 'u':
      return milliseconds((n + 999) / 1000);  // rounded up: a deadline is never extended
    case 'n':
      return milliseconds((n + 999999) / 1000000);
    default:
      return std::nullopt;
  }
}

std::optional<std::chrono::milliseconds> grpcTimeoutOf(const RequestHeaderMap& headers) {
  const std::string* value = headers.get(grpc_headers::kTimeout);
  if (value == nullptr) return std::nullopt;
  return parseGrpcTimeout(*value);
}

std::string formatGrpcTimeout(std::chrono::milliseconds timeout) {
  uint64_t value = timeout.count() > 0 ? static_cast<uint64_t>(timeout.count()) : 0;
  static constexpr char kUnits[] = {'m', 'S', 'M', 'H'};
  size_t unit = 0;
  if (value > kMaxGrpcTimeoutValue) {
    value /= 1000;
    unit = 1;
  }
  while (value > kMaxGrpcTimeoutValue) {
    if (kUnits[unit] == 'H') {
      value = kMaxGrpcTimeoutValue;  // no larger unit: clip
    } else {
      value /= 60;
      ++unit;
    }
  }
  return std::to_string(value) + kUnits[unit];
}

uint64_t GrpcFrameCounter::inspect(const buffer::Buffer& data) {
  const uint64_t before = count_;
  data.forEachSlice([this](std::string_view slice) {
    size_t i = 0;
    while (i < slice.size()) {
      if (payload_left_ > 0) {
        const uint64_t skip = std::min<uint64_t>(payload_left_, slice.size() - i);
        payload_left_ -= skip;
        i += skip;
        continue;
      }
      if (header_bytes_seen_ == 0) {
        ++count_;  // the flag byte: a new frame
        length_ = 0;
      } else {
        length_ = (length_ << 8) | static_cast<unsigned char>(slice[i]);
      }
      ++i;
      if (++header_bytes_seen_ == kGrpcFrameHeaderSize) {
        header_bytes_seen_ = 0;
        payload_left_ = length_;
      }
    }
  });
  return count_ - before;
}

}  // namespace remora::http
