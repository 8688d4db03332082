#pragma once

#include <string>
#include <string_view>

#include "buffer/buffer.h"
#include "http/filter.h"
#include "stats/store.h"

namespace remora::filters::http::grpc_web {

inline constexpr std::string_view kFilterName = "envoy.filters.http.grpc_web";

// The gRPC-web wire format (grpc/doc/PROTOCOL-WEB.md), apart from the filter so it can be
// tested alone.
namespace wire {
// "application/grpc-web" or "application/grpc-web-text", alone, with "+<subtype>" or with
// parameters.
bool isGrpcWebContentType(std::string_view content_type);
bool isGrpcWebTextContentType(std::string_view content_type);
// The frame that carries trailers in the body: flag 0x80, the 4-byte big-endian length, then
// "name:value\r\n" per trailer (Envoy's form).
std::string trailerFrame(const remora::http::TrailerMap& trailers);
}  // namespace wire

// envoy.filters.http.grpc_web (config envoy.extensions.filters.http.grpc_web.v3.GrpcWeb): lets a
// gRPC-web client (a browser, over HTTP/1.1 or HTTP/2) call a gRPC service. A request with a
// grpc-web content type goes upstream as application/grpc with te: trailers and
// grpc-accept-encoding, its content-length dropped and, for grpc-web-text, its body base64-decoded
// as it streams. The response goes back as application/grpc-web+proto (or grpc-web-text+proto
// when the client accepts that, base64-encoded as it streams) with its trailers as the body's
// last frame. Other requests pass untouched. Nothing is buffered beyond a partial base64 group.
// Calls count, as Envoy's, in `cluster.<c>.grpc-web.<service>.<method>.` (success, failure,
// total, and the grpc-status value).
class GrpcWebFilter final : public remora::http::StreamFilter {
 public:
  explicit GrpcWebFilter(stats::Store& stats) : stats_(stats) {}

  remora::http::FilterHeadersStatus decodeHeaders(remora::http::RequestHeaderMap& headers,
                                                  bool end_stream) override;
  remora::http::FilterDataStatus decodeData(::remora::buffer::Buffer& data,
                                            bool end_stream) override;
  void setDecoderFilterCallbacks(remora::http::StreamDecoderFilterCallbacks& callbacks) override {
    decoder_callbacks_ = &callbacks;
  }
  remora::http::FilterHeadersStatus encodeHeaders(remora::http::ResponseHeaderMap& headers,
                                                  bool end_stream) override;
  remora::http::FilterDataStatus encodeData(::remora::buffer::Buffer& data,
                                            bool end_stream) override;
  remora::http::FilterTrailersStatus encodeTrailers(remora::http::TrailerMap& trailers) override;
  void setEncoderFilterCallbacks(remora::http::StreamEncoderFilterCallbacks& callbacks) override {
    encoder_callbacks_ = &callbacks;
  }

 private:
  // Base64-encodes the whole 3-byte groups of pending + data (all of it at the end), keeping
  // the rest for the next call.
  void encodeText(::remora::buffer::Buffer& data, bool end);
  void chargeStatus(const remora::http::HeaderMap& headers_or_trailers);

  stats::Store& stats_;
  std::string method_prefix_;  // "<service>.<method>.", empty when the path names none

  remora::http::StreamDecoderFilterCallbacks* decoder_callbacks_ = nullptr;
  remora::http::StreamEncoderFilterCallbacks* encoder_callbacks_ = nullptr;
  bool grpc_web_ = false;
  bool text_request_ = false;
  bool text_response_ = false;
  std::string decode_pending_;  // base64 characters short of a 4-character group
  std::string encode_pending_;  // response bytes short of a 3-byte group
};

}  // namespace remora::filters::http::grpc_web
