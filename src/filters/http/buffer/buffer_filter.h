#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "common/status.h"
#include "envoy/extensions/filters/http/buffer/v3/buffer.pb.h"
#include "http/filter.h"
#include "router/route.h"

namespace remora::filters::http::buffer {

inline constexpr std::string_view kFilterName = "envoy.filters.http.buffer";

// What the filter does for a request: the filter's own config (Buffer), or a route's override
// (BufferPerRoute: disabled, or another max_request_bytes).
class BufferSettings final : public router::RouteSpecificFilterConfig {
 public:
  static std::shared_ptr<const BufferSettings> create(
      const envoy::extensions::filters::http::buffer::v3::Buffer& proto);
  static std::shared_ptr<const BufferSettings> create(
      const envoy::extensions::filters::http::buffer::v3::BufferPerRoute& proto);

  bool disabled() const { return disabled_; }
  uint32_t maxRequestBytes() const { return max_request_bytes_; }

 private:
  bool disabled_ = false;
  uint32_t max_request_bytes_ = 0;
};

// envoy.filters.http.buffer: holds the request until its whole body has arrived, up to
// max_request_bytes (more is answered with 413 by the filter manager, counted as
// downstream_rq_too_large), then passes it on with a content-length, so the upstream receives a
// complete, length-delimited request even when the client sent it chunked.
class BufferFilter final : public remora::http::StreamDecoderFilter {
 public:
  explicit BufferFilter(std::shared_ptr<const BufferSettings> settings)
      : settings_(std::move(settings)) {}

  remora::http::FilterHeadersStatus decodeHeaders(remora::http::RequestHeaderMap& headers,
                                                  bool end_stream) override;
  remora::http::FilterDataStatus decodeData(::remora::buffer::Buffer& data,
                                            bool end_stream) override;
  remora::http::FilterTrailersStatus decodeTrailers(remora::http::TrailerMap& trailers) override;
  void setDecoderFilterCallbacks(remora::http::StreamDecoderFilterCallbacks& callbacks) override {
    callbacks_ = &callbacks;
  }

 private:
  void setContentLengthIfMissing();

  const std::shared_ptr<const BufferSettings> settings_;
  remora::http::StreamDecoderFilterCallbacks* callbacks_ = nullptr;
  remora::http::RequestHeaderMap* request_headers_ = nullptr;  // set while buffering
  uint64_t body_bytes_ = 0;
  uint32_t limit_ = 0;
};

}  // namespace remora::filters::http::buffer
