#pragma once

#include <memory>
#include <string>
#include <vector>

#include "event/dispatcher.h"
#include "http/filter_manager.h"
#include "router/route_config.h"
#include "stream_info/stream_info.h"

namespace remora::http::test {

// One stream's FilterManager for HTTP filter tests: routes come from a RouteConfig (or none),
// and what reaches the end of the encoder chain is recorded.
class FilterHarness : public FilterManagerCallbacks {
 public:
  explicit FilterHarness(std::shared_ptr<const router::RouteConfig> routes = nullptr,
                         uint32_t buffer_limit = 1024 * 1024)
      : dispatcher_(event::createDispatcher("test")),
        routes_(std::move(routes)),
        manager_(*this, *dispatcher_, info, buffer_limit) {}
  ~FilterHarness() override { manager_.destroyFilters(); }

  FilterManager& manager() { return manager_; }

  // Request helpers: headers with :method, :path, :authority and `extra`.
  static RequestHeaderMapPtr request(std::string method, std::string path,
                                     std::vector<std::pair<std::string, std::string>> extra = {}) {
    auto h = std::make_unique<RequestHeaderMap>();
    h->set(":method", method);
    h->set(":path", path);
    h->set(":authority", "example.com");
    h->set(":scheme", "http");
    for (const auto& [k, v] : extra) h->add(k, v);
    return h;
  }
  void data(std::string text, bool end_stream) {
    buffer::Buffer b;
    b.add(text);
    manager_.decodeData(b, end_stream);
  }

  // FilterManagerCallbacks
  void encode1xxHeaders(ResponseHeaderMap&) override {}
  void encodeHeaders(ResponseHeaderMap& headers, bool end_stream) override {
    response = headers;
    response_ended = end_stream;
  }
  void encodeData(buffer::Buffer& data, bool end_stream) override {
    response_body += data.toString();
    data.drain(data.length());
    response_ended = end_stream;
  }
  void encodeTrailers(TrailerMap&) override { response_ended = true; }
  const router::Route* route() override {
    if (!routes_ || manager_.requestHeaders() == nullptr) return nullptr;
    return routes_->route(*manager_.requestHeaders(), 0);
  }
  void clearRouteCache() override {}
  const net::Connection* connection() override { return nullptr; }
  uint64_t streamId() const override { return 1; }
  void resetStream() override { reset = true; }
  void onDecoderFilterAboveWriteBufferHighWatermark() override {}
  void onDecoderFilterBelowWriteBufferLowWatermark() override {}
  ResponseHeaderMapPtr makeLocalReply(uint32_t code, std::string& body,
                                      std::optional<uint32_t>) override {
    auto h = std::make_unique<ResponseHeaderMap>();
    h->set(":status", std::to_string(code));
    h->set("content-length", std::to_string(body.size()));
    return h;
  }
  void onRequestDataTooLarge() override { ++too_large; }

  stream_info::StreamInfo info;
  std::optional<ResponseHeaderMap> response;
  std::string response_body;
  bool response_ended = false;
  bool reset = false;
  int too_large = 0;

 private:
  event::DispatcherPtr dispatcher_;
  std::shared_ptr<const router::RouteConfig> routes_;
  FilterManager manager_;
};

// A decoder filter at the end of a chain that records what it receives (the router's seat).
class RecordingFilter : public StreamDecoderFilter {
 public:
  FilterHeadersStatus decodeHeaders(RequestHeaderMap& headers, bool end_stream) override {
    this->headers = headers;
    headers_end = end_stream;
    return FilterHeadersStatus::StopIteration;
  }
  FilterDataStatus decodeData(buffer::Buffer& data, bool end_stream) override {
    chunks.push_back(data.toString());
    data.drain(data.length());
    data_end = end_stream;
    return FilterDataStatus::StopIterationNoBuffer;
  }
  FilterTrailersStatus decodeTrailers(TrailerMap&) override {
    saw_trailers = true;
    return FilterTrailersStatus::Continue;
  }
  void setDecoderFilterCallbacks(StreamDecoderFilterCallbacks& callbacks) override {
    this->callbacks = &callbacks;
  }

  std::optional<RequestHeaderMap> headers;
  bool headers_end = false;
  std::vector<std::string> chunks;
  bool data_end = false;
  bool saw_trailers = false;
  StreamDecoderFilterCallbacks* callbacks = nullptr;
};

}  // namespace remora::http::test
