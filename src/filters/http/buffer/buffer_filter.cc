#include "filters/http/buffer/buffer_filter.h"

namespace remora::filters::http::buffer {

using remora::http::FilterDataStatus;
using remora::http::FilterHeadersStatus;
using remora::http::FilterTrailersStatus;

std::shared_ptr<const BufferSettings> BufferSettings::create(
    const envoy::extensions::filters::http::buffer::v3::Buffer& proto) {
  auto settings = std::make_shared<BufferSettings>();
  settings->max_request_bytes_ = proto.max_request_bytes().value();  // required, > 0 (PGV)
  return settings;
}

std::shared_ptr<const BufferSettings> BufferSettings::create(
    const envoy::extensions::filters::http::buffer::v3::BufferPerRoute& proto) {
  if (proto.has_buffer()) return create(proto.buffer());
  auto settings = std::make_shared<BufferSettings>();
  settings->disabled_ = true;  // the oneof is required: `disabled: true` is the other choice
  return settings;
}

FilterHeadersStatus BufferFilter::decodeHeaders(remora::http::RequestHeaderMap& headers,
                                                bool end_stream) {
  if (end_stream) return FilterHeadersStatus::Continue;  // no body to wait for
  // The most specific typed_per_filter_config (route, virtual host, route configuration) wins.
  const router::Route* route = callbacks_->route();
  const BufferSettings* override =
      route ? route->perFilterConfigAs<BufferSettings>(kFilterName) : nullptr;
  const BufferSettings& settings = override ? *override : *settings_;
  if (settings.disabled()) return FilterHeadersStatus::Continue;
  limit_ = settings.maxRequestBytes();
  callbacks_->setDecoderBufferLimit(limit_);
  request_headers_ = &headers;
  return FilterHeadersStatus::StopIteration;
}

FilterDataStatus BufferFilter::decodeData(::remora::buffer::Buffer& data, bool end_stream) {
  if (request_headers_ == nullptr) return FilterDataStatus::Continue;
  body_bytes_ += data.length();
  // Envoy's HTTP/1 codec ends a body with an empty end_stream chunk, so the whole body is always
  // held against the limit there. Here the last chunk may carry end_stream itself: a body over
  // the limit is held all the same, which makes the filter manager answer 413.
  if (!end_stream || body_bytes_ > limit_) return FilterDataStatus::StopIterationAndBuffer;
  setContentLengthIfMissing();
  return FilterDataStatus::Continue;
}

FilterTrailersStatus BufferFilter::decodeTrailers(remora::http::TrailerMap&) {
  if (request_headers_ != nullptr) setContentLengthIfMissing();
  return FilterTrailersStatus::Continue;
}

void BufferFilter::setContentLengthIfMissing() {
  if (!request_headers_->has(remora::http::headers::kContentLength)) {
    request_headers_->set(remora::http::headers::kContentLength, std::to_string(body_bytes_));
  }
}

}  // namespace remora::filters::http::buffer
