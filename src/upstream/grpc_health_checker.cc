#include "upstream/grpc_health_checker.h"

#include "common/assert.h"
#include "http/grpc.h"

namespace remora::upstream {

namespace h = http::headers;

namespace {
// grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING
constexpr int kServing = 1;

void appendVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

bool readVarint(std::string_view& in, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
    const auto byte = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}
}  // namespace

std::string GrpcHealthChecker::encodeRequest(std::string_view service) {
  std::string message;
  if (!service.empty()) {
    message.push_back(0x0a);  // field 1 (service), length-delimited
    appendVarint(message, service.size());
    message.append(service);
  }
  std::string frame(5, '\0');  // uncompressed flag, then the big-endian length
  const auto length = static_cast<uint32_t>(message.size());
  for (int i = 0; i < 4; ++i) frame[1 + i] = static_cast<char>(length >> (8 * (3 - i)));
  return frame + message;
}

int GrpcHealthChecker::decodeResponseStatus(std::string_view body) {
  if (body.size() < 5 || body[0] != 0) return -1;
  uint32_t length = 0;
  for (int i = 1; i <= 4; ++i) length = length << 8 | static_cast<uint8_t>(body[i]);
  if (body.size() != 5 + static_cast<size_t>(length)) return -1;
  std::string_view message = body.substr(5);
  int status = 0;  // proto3 default: UNKNOWN
  while (!message.empty()) {
    uint64_t key = 0;
    if (!readVarint(message, key)) return -1;
    const uint64_t field = key >> 3;
    switch (key & 7) {
      case 0: {
        uint64_t value = 0;
        if (!readVarint(message, value)) return -1;
        if (field == 1) status = static_cast<int>(value);
        break;
      }
      case 2: {
        uint64_t size = 0;
        if (!readVarint(message, size) || size > message.size()) return -1;
        message.remove_prefix(size);
        break;
      }
      case 1:
        if (message.size() < 8) return -1;
        message.remove_prefix(8);
        break;
      case 5:
        if (message.size() < 4) return -1;
        message.remove_prefix(4);
        break;
      default:
        return -1;
    }
  }
  return status;
}

GrpcHealthChecker::GrpcHealthChecker(event::Dispatcher& dispatcher, ClusterManager& cluster_manager,
                                     ClusterConstSharedPtr cluster,
                                     const envoy::config::core::v3::HealthCheck& proto)
    : CodecHealthChecker(dispatcher, cluster_manager, cluster, proto, true),
      service_name_(proto.grpc_health_check().service_name()),
      authority_(proto.grpc_health_check().authority().empty()
                     ? cluster->name()
                     : proto.grpc_health_check().authority()) {
  auto mutations = router::HeaderMutations::create(proto.grpc_health_check().initial_metadata(), {},
                                                   "initial_metadata", "");
  RELEASE_ASSERT(mutations.ok(), "health check metadata was validated at load");
  initial_metadata_ = std::move(mutations).value();
}

void GrpcHealthChecker::buildRequest(http::RequestHeaderMap& headers, std::string& body) const {
  headers.set(h::kMethod, "POST");
  headers.set(h::kPath, "/grpc.health.v1.Health/Check");
  headers.set(h::kAuthority, authority_);
  headers.set(h::kScheme, "http");
  headers.set(h::kContentType, http::grpc_headers::kContentTypeGrpc);
  headers.set(h::kTe, "trailers");
  headers.set("user-agent", "Envoy/HC");
  initial_metadata_.apply(headers, stream_info::StreamInfo{});
  body = encodeRequest(service_name_);
}

CodecHealthChecker::Verdict GrpcHealthChecker::judge(const Response& response) const {
  if (response.headers == nullptr || response.headers->status() != 200) return Verdict::Failed;
  // A trailers-only answer carries grpc-status in its headers.
  const http::HeaderMap& trailers =
      response.trailers != nullptr ? *response.trailers : *response.headers;
  const auto grpc_status = http::grpcStatusOf(trailers);
  if (!grpc_status || *grpc_status != 0) return Verdict::Failed;
  return decodeResponseStatus(response.body) == kServing ? Verdict::Healthy : Verdict::Failed;
}

}  // namespace remora::upstream
