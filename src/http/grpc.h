#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "http/header_map.h"

namespace remora::http {

// What the HTTP layer needs to know about gRPC (gRPC's own framing arrives with HTTP/2).

// Envoy's gRPC request test: content-type "application/grpc" or "application/grpc+<subtype>"
// (or with parameters after ';').
bool isGrpcRequest(const HeaderMap& headers);

// Envoy's mapping of an HTTP status to the gRPC status of a local reply to a gRPC request
// (Grpc::Utility::httpToGrpcStatus): 400 INTERNAL, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED,
// 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE, anything else UNKNOWN.
uint32_t grpcStatusFromHttp(uint32_t http_status);

// grpc-message's percent-encoding: bytes outside printable ASCII and '%' become %XX.
std::string percentEncodeGrpcMessage(std::string_view message);

}  // namespace remora::http
