#include "filters/http/grpc_web/grpc_web_filter.h"

#include "common/base64.h"
#include "filters/http/grpc_stats/call_stats.h"
#include "http/grpc.h"

namespace remora::filters::http::grpc_web {

namespace h = remora::http::headers;

namespace {
constexpr std::string_view kGrpcWeb = "application/grpc-web";
constexpr std::string_view kGrpcWebText = "application/grpc-web-text";
constexpr std::string_view kGrpcWebProto = "application/grpc-web+proto";
constexpr std::string_view kGrpcWebTextProto = "application/grpc-web-text+proto";
constexpr unsigned char kTrailerFlag = 0x80;

// `type` is `base` alone, or followed by "+<subtype>" or ";<parameters>".
bool isType(std::string_view type, std::string_view base) {
  if (type.substr(0, base.size()) != base) return false;
  return type.size() == base.size() || type[base.size()] == '+' || type[base.size()] == ';';
}
}  // namespace

namespace wire {
bool isGrpcWebContentType(std::string_view content_type) {
  return isType(content_type, kGrpcWeb) || isType(content_type, kGrpcWebText);
}

bool isGrpcWebTextContentType(std::string_view content_type) {
  return isType(content_type, kGrpcWebText);
}

std::string trailerFrame(const remora::http::TrailerMap& trailers) {
  std::string block;
  for (const auto& entry : trailers) {
    block += entry.key;
    block += ':';
    block += entry.value;
    block += "\r\n";
  }
  std::string frame;
  frame.reserve(remora::http::kGrpcFrameHeaderSize + block.size());
  frame += static_cast<char>(kTrailerFlag);
  const auto length = static_cast<uint32_t>(block.size());
  for (int shift = 24; shift >= 0; shift -= 8) frame += static_cast<char>((length >> shift) & 0xff);
  frame += block;
  return frame;
}
}  // namespace wire

remora::http::FilterHeadersStatus GrpcWebFilter::decodeHeaders(
    remora::http::RequestHeaderMap& headers, bool) {
  const std::string* type = headers.get(h::kContentType);
  if (type == nullptr || !wire::isGrpcWebContentType(*type)) {
    return remora::http::FilterHeadersStatus::Continue;
  }
  grpc_web_ = true;
  if (auto names = grpc_stats::serviceAndMethod(headers.path())) {
    method_prefix_ = std::string(names->first) + "." + std::string(names->second) + ".";
  }
  text_request_ = wire::isGrpcWebTextContentType(*type);
  // The length described the gRPC-web body, which the decoding below may change.
  headers.remove(h::kContentLength);
  headers.set(h::kContentType, remora::http::grpc_headers::kContentTypeGrpc);
  if (const std::string* accept = headers.get("accept");
      accept != nullptr && (*accept == kGrpcWebText || *accept == kGrpcWebTextProto)) {
    text_response_ = true;
  }
  // What a gRPC server expects of its clients.
  headers.set(h::kTe, "trailers");
  headers.set(remora::http::grpc_headers::kAcceptEncoding, "identity,deflate,gzip");
  return remora::http::FilterHeadersStatus::Continue;
}

remora::http::FilterDataStatus GrpcWebFilter::decodeData(::remora::buffer::Buffer& data,
                                                         bool end_stream) {
  if (!text_request_) return remora::http::FilterDataStatus::Continue;
  std::string text = std::move(decode_pending_);
  decode_pending_.clear();
  text += data.toString();
  data.drain(data.length());
  const size_t whole = end_stream ? text.size() : text.size() / 4 * 4;
  decode_pending_ = text.substr(whole);
  text.resize(whole);
  auto decoded = base64Decode(text);
  if (!decoded) {
    decoder_callbacks_->sendLocalReply(400, "Bad gRPC-web request, invalid base64 data.", nullptr,
                                       "grpc_base64_decode_failed");
    return remora::http::FilterDataStatus::StopIterationNoBuffer;
  }
  data.add(*decoded);
  return remora::http::FilterDataStatus::Continue;
}

remora::http::FilterHeadersStatus GrpcWebFilter::encodeHeaders(
    remora::http::ResponseHeaderMap& headers, bool) {
  if (!grpc_web_) return remora::http::FilterHeadersStatus::Continue;
  chargeStatus(headers);
  headers.set(h::kContentType, text_response_ ? kGrpcWebTextProto : kGrpcWebProto);
  // A text body is longer than what the upstream counted.
  if (text_response_) headers.remove(h::kContentLength);
  return remora::http::FilterHeadersStatus::Continue;
}

remora::http::FilterDataStatus GrpcWebFilter::encodeData(::remora::buffer::Buffer& data,
                                                         bool end_stream) {
  if (grpc_web_ && text_response_) encodeText(data, end_stream);
  return remora::http::FilterDataStatus::Continue;
}

remora::http::FilterTrailersStatus GrpcWebFilter::encodeTrailers(
    remora::http::TrailerMap& trailers) {
  if (!grpc_web_) return remora::http::FilterTrailersStatus::Continue;
  chargeStatus(trailers);
  ::remora::buffer::Buffer frame;
  frame.add(wire::trailerFrame(trailers));
  // The trailers now travel in the body; the codec ends the response without any.
  trailers.clear();
  if (text_response_) encodeText(frame, true);
  encoder_callbacks_->addEncodedData(frame, true);
  return remora::http::FilterTrailersStatus::Continue;
}

void GrpcWebFilter::chargeStatus(const remora::http::HeaderMap& headers_or_trailers) {
  // Tracked only with a cluster (the router names it) and a /<service>/<method> path, as Envoy.
  const std::string& cluster = encoder_callbacks_->streamInfo().upstream_cluster;
  if (method_prefix_.empty() || cluster.empty()) return;
  grpc_stats::chargeCallStatus(stats_, "cluster." + cluster + ".grpc-web." + method_prefix_,
                               headers_or_trailers);
}

void GrpcWebFilter::encodeText(::remora::buffer::Buffer& data, bool end) {
  std::string bytes = std::move(encode_pending_);
  encode_pending_.clear();
  bytes += data.toString();
  data.drain(data.length());
  const size_t whole = end ? bytes.size() : bytes.size() / 3 * 3;
  encode_pending_ = bytes.substr(whole);
  bytes.resize(whole);
  if (!bytes.empty()) data.add(base64Encode(bytes));
}

}  // namespace remora::filters::http::grpc_web
