#include "filters/http/router/shadow_request.h"

#include "common/logger.h"

namespace remora::router {

std::string shadowHost(std::string_view authority) {
  size_t colon = std::string_view::npos;
  if (!authority.empty() && authority.front() == '[') {
    const size_t bracket = authority.find(']');
    if (bracket != std::string_view::npos && bracket + 1 < authority.size() &&
        authority[bracket + 1] == ':') {
      colon = bracket + 1;
    }
  } else {
    colon = authority.rfind(':');
  }
  if (colon == std::string_view::npos) return std::string(authority) + "-shadow";
  std::string out(authority.substr(0, colon));
  out += "-shadow";
  out += authority.substr(colon);
  return out;
}

std::weak_ptr<ShadowRequest> ShadowRequest::start(server::WorkerContext& worker,
                                                  std::string_view cluster_name,
                                                  const http::RequestHeaderMap& headers,
                                                  bool end_stream, const Options& options,
                                                  const net::ConnectionInfo* downstream) {
  auto* entry = worker.clusters.get(cluster_name);
  if (entry == nullptr) return {};
  upstream::LoadBalancerContext context{downstream};
  upstream::HostConstSharedPtr host = entry->lb->chooseHost(context);
  if (host == nullptr) {
    entry->cluster->stats().upstream_cx_none_healthy.inc();
    return {};
  }
  std::shared_ptr<ShadowRequest> shadow(
      new ShadowRequest(worker, entry->cluster, headers, end_stream, options));
  shadow->self_ = shadow;
  shadow->host_ = host;
  shadow->active_ = upstream::ActiveRequest(*host);
  std::weak_ptr<ShadowRequest> handle = shadow;
  if (options.timeout) {
    shadow->timeout_timer_ = worker.dispatcher.createTimer([raw = shadow.get()] {
      raw->cluster_->stats().upstream_rq_timeout.inc();
      raw->finish();
    });
    shadow->timeout_timer_->enableTimer(*options.timeout);
  }
  // The pool may answer synchronously (an idle connection, or a failure): `shadow` keeps the
  // object alive through it, and the handle tells the caller whether it still is.
  shadow->pool_handle_ = entry->httpConnPool(host, worker.dispatcher).newStream(*shadow, *shadow);
  return handle;
}

ShadowRequest::ShadowRequest(server::WorkerContext& worker, upstream::ClusterConstSharedPtr cluster,
                             const http::RequestHeaderMap& headers, bool end_stream,
                             const Options& options)
    : worker_(worker),
      cluster_(std::move(cluster)),
      options_(options),
      headers_(headers),
      request_end_(end_stream) {}

ShadowRequest::~ShadowRequest() = default;

void ShadowRequest::encodeData(const buffer::Buffer& data, bool end_stream) {
  if (done_ || request_end_ || abandon_timer_ != nullptr) return;
  request_end_ = end_stream;
  buffer::Buffer copy;
  data.forEachSlice([&copy](std::string_view s) { copy.add(s); });
  if (encoder_ != nullptr) {
    encoder_->encodeData(copy, end_stream);
    return;
  }
  pending_.move(copy);
  if (pending_.length() > options_.buffer_limit) {
    // The mirror is still connecting and the body keeps coming: give the mirror up rather than
    // hold more of it.
    LOG_DEBUG("mirror to {} abandoned: {} body bytes waiting for a connection", cluster_->name(),
              pending_.length());
    finish();
  }
}

void ShadowRequest::encodeTrailers(const http::TrailerMap& trailers) {
  if (done_ || request_end_) return;
  request_end_ = true;
  if (encoder_ != nullptr) {
    encoder_->encodeTrailers(trailers);
    return;
  }
  trailers_ = trailers;
  has_trailers_ = true;
}

void ShadowRequest::abort() {
  if (!request_end_) finish();
}

void ShadowRequest::onPoolFailure(upstream::PoolFailureReason, std::string_view,
                                  const upstream::HostConstSharedPtr&) {
  pool_handle_ = nullptr;
  finish();
}

void ShadowRequest::onPoolReady(http::RequestEncoder& encoder, const upstream::HostConstSharedPtr&,
                                bool) {
  pool_handle_ = nullptr;
  encoder_ = &encoder;
  encoder.getStream().addCallbacks(*this);
  const bool headers_only = request_end_ && pending_.empty() && !has_trailers_;
  encoder.encodeHeaders(headers_, headers_only);
  headers_ = http::RequestHeaderMap();
  if (headers_only || encoder_ == nullptr) return;
  if (!pending_.empty() || (request_end_ && !has_trailers_)) {
    encoder.encodeData(pending_, request_end_ && !has_trailers_);
  }
  if (encoder_ != nullptr && has_trailers_) encoder_->encodeTrailers(trailers_);
}

void ShadowRequest::decodeHeaders(http::ResponseHeaderMapPtr headers, bool end_stream) {
  response_started_ = true;
  cluster_->stats().chargeResponse(headers->status(), false);
  if (end_stream) {
    encoder_ = nullptr;  // retired by the codec with the response
    finish();
  }
}

void ShadowRequest::decodeData(buffer::Buffer& data, bool end_stream) {
  data.drain(data.length());
  if (end_stream) {
    encoder_ = nullptr;
    finish();
  }
}

void ShadowRequest::decodeTrailers(http::TrailerMapPtr) {
  encoder_ = nullptr;
  finish();
}

void ShadowRequest::onResetStream(http::StreamResetReason, std::string_view) {
  encoder_ = nullptr;
  finish();
}

void ShadowRequest::onAboveWriteBufferHighWatermark() {
  // The mirror reads slower than the client sends. Pausing the client would slow the main
  // request down, and buffering more would grow without bound: drop the mirror. Not from inside
  // this callback, which runs in the middle of a write to the connection we would close.
  if (done_ || abandon_timer_ != nullptr) return;
  LOG_DEBUG("mirror to {} abandoned: the mirror is not keeping up", cluster_->name());
  abandon_timer_ = worker_.dispatcher.createTimer([this] { finish(); });
  abandon_timer_->enableTimer(std::chrono::milliseconds(0));
}

void ShadowRequest::finish() {
  if (done_) return;
  done_ = true;
  active_.release();
  if (timeout_timer_) timeout_timer_->disableTimer();
  if (abandon_timer_) abandon_timer_->disableTimer();
  if (pool_handle_ != nullptr) {
    pool_handle_->cancel();
    pool_handle_ = nullptr;
  }
  if (encoder_ != nullptr) {
    http::RequestEncoder* encoder = encoder_;
    encoder_ = nullptr;
    encoder->getStream().removeCallbacks(*this);
    encoder->getStream().resetStream(http::StreamResetReason::LocalReset);
  }
  pending_.drain(pending_.length());
  // We may be inside a pool or codec callback: delete on the next loop iteration.
  struct Holder : event::DeferredDeletable {
    std::shared_ptr<ShadowRequest> shadow;
  };
  auto holder = std::make_unique<Holder>();
  holder->shadow = std::move(self_);
  worker_.dispatcher.deferredDelete(std::move(holder));
}

}  // namespace remora::router
