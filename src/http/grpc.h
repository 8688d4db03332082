#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "buffer/buffer.h"
#include "http/header_map.h"

namespace remora::http {

// What the HTTP layer needs to know about gRPC. Protocol-independent: everything here reads
// headers, trailers and body bytes, so it works the same over HTTP/1.1 (chunked trailers) and
// HTTP/2.

namespace grpc_headers {
inline constexpr std::string_view kStatus = "grpc-status";
inline constexpr std::string_view kMessage = "grpc-message";
inline constexpr std::string_view kTimeout = "grpc-timeout";
inline constexpr std::string_view kAcceptEncoding = "grpc-accept-encoding";
inline constexpr std::string_view kContentTypeGrpc = "application/grpc";
}  // namespace grpc_headers

// gRPC's status codes (google.rpc.Code), and Envoy's InvalidCode for a grpc-status that is not
// one of them.
namespace grpc_status {
inline constexpr uint32_t kOk = 0;
inline constexpr uint32_t kCanceled = 1;
inline constexpr uint32_t kUnknown = 2;
inline constexpr uint32_t kInvalidArgument = 3;
inline constexpr uint32_t kDeadlineExceeded = 4;
inline constexpr uint32_t kNotFound = 5;
inline constexpr uint32_t kAlreadyExists = 6;
inline constexpr uint32_t kPermissionDenied = 7;
inline constexpr uint32_t kResourceExhausted = 8;
inline constexpr uint32_t kFailedPrecondition = 9;
inline constexpr uint32_t kAborted = 10;
inline constexpr uint32_t kOutOfRange = 11;
inline constexpr uint32_t kUnimplemented = 12;
inline constexpr uint32_t kInternal = 13;
inline constexpr uint32_t kUnavailable = 14;
inline constexpr uint32_t kDataLoss = 15;
inline constexpr uint32_t kUnauthenticated = 16;
inline constexpr uint32_t kMaximumKnown = kUnauthenticated;
inline constexpr uint32_t kInvalidCode = std::numeric_limits<uint32_t>::max();
}  // namespace grpc_status

// Envoy's gRPC request test: content-type "application/grpc" or "application/grpc+<subtype>"
// (or with parameters after ';').
bool isGrpcRequest(const HeaderMap& headers);

// The grpc-status of a response's headers (a trailers-only response) or trailers, as Envoy's
// Grpc::Common::getGrpcStatus: nullopt when absent; kInvalidCode when not a known code.
std::optional<uint32_t> grpcStatusOf(const HeaderMap& headers);

// Envoy's mapping of an HTTP status to the gRPC status of a local reply to a gRPC request
// (Grpc::Utility::httpToGrpcStatus): 400 INTERNAL, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED,
// 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE, anything else UNKNOWN.
uint32_t grpcStatusFromHttp(uint32_t http_status);

// The reverse (Grpc::Utility::grpcToHttpStatus), used where Envoy judges a gRPC response by the
// HTTP status it stands for: OK 200, CANCELLED 499, DEADLINE_EXCEEDED 504, UNAVAILABLE 503, ...;
// unknown codes 500.
uint32_t httpStatusFromGrpc(uint32_t grpc_status);

// grpc-message's percent-encoding: bytes outside printable ASCII and '%' become %XX.
std::string percentEncodeGrpcMessage(std::string_view message);

// Turns a local reply to a gRPC request into Envoy's trailers-only gRPC response: HTTP 200,
// content-type application/grpc, grpc-status (`grpc_status`, else mapped from `http_status`),
// grpc-message (the percent-encoded body, when any) and no body.
void makeTrailersOnlyGrpcReply(ResponseHeaderMap& headers, uint32_t http_status,
                               std::string_view message, std::optional<uint32_t> grpc_status);

// grpc-timeout (gRPC over HTTP/2: "TimeoutValue TimeoutUnit", at most 8 digits, unit one of
// H M S m u n) in milliseconds, sub-millisecond values rounded up as Envoy does; nullopt when
// absent or malformed.
std::optional<std::chrono::milliseconds> parseGrpcTimeout(std::string_view value);
std::optional<std::chrono::milliseconds> grpcTimeoutOf(const RequestHeaderMap& headers);
// Envoy's Grpc::Common::toGrpcTimeout: milliseconds, or the smallest of S, M, H whose value
// fits in 8 digits (truncated); 99999999H past that.
std::string formatGrpcTimeout(std::chrono::milliseconds timeout);

// gRPC's length-prefixed message framing: 1 flag byte, 4-byte big-endian length, the message.
inline constexpr size_t kGrpcFrameHeaderSize = 5;

// Counts the messages (frames) in a gRPC body fed to it in arbitrary chunks, as Envoy's
// Grpc::FrameInspector: a frame counts when its first byte arrives. Holds no bytes.
class GrpcFrameCounter {
 public:
  // Scans `data` (not consumed); returns how many frames started in it.
  uint64_t inspect(const buffer::Buffer& data);
  uint64_t frameCount() const { return count_; }

 private:
  uint64_t count_ = 0;
  uint32_t header_bytes_seen_ = 0;  // 0: at a frame boundary; 1-4: inside the header
  uint32_t length_ = 0;             // the frame's length, filled in as header bytes arrive
  uint64_t payload_left_ = 0;
};

}  // namespace remora::http
