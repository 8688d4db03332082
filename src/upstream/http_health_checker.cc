#include "upstream/http_health_checker.h"

#include "common/assert.h"
#include "http/codec1/client_codec.h"
#include "http/http2/client_codec.h"
#include "net/connection_impl.h"
#include "upstream/upstream_connection.h"

namespace remora::upstream {

namespace h = http::headers;

namespace {
// A gRPC health answer is a few bytes; anything longer is not one.
constexpr size_t kMaxBody = 64 * 1024;
}  // namespace

// One host's checks: a connection and its client codec, one request at a time.
class CodecHealthChecker::CodecSession final : public HealthChecker::Session,
                                               public net::ConnectionCallbacks,
                                               public net::ReadFilter,
                                               public http::ResponseDecoder,
                                               public http::StreamCallbacks {
 public:
  CodecSession(CodecHealthChecker& parent, HostConstSharedPtr host, bool initially_healthy)
      : Session(parent, std::move(host), initially_healthy), checker_(parent) {}
  ~CodecSession() override { closeClient(); }

  void onInterval() override {
    response_ = {};
    if (client_ == nullptr && !openClient()) {
      handleFailure(FailureType::Network);
      return;
    }
    auto headers = std::make_unique<http::RequestHeaderMap>();
    std::string body;
    checker_.buildRequest(*headers, body);
    http::RequestEncoder& encoder = client_->codec->newStream(*this);
    stream_ = &encoder.getStream();
    stream_->addCallbacks(*this);
    encoder.encodeHeaders(*headers, body.empty());
    if (!body.empty()) {
      buffer::Buffer data;
      data.add(body);
      encoder.encodeData(data, true);
    }
  }
  void onTimeout() override { closeClient(); }

  // net::ConnectionCallbacks
  void onEvent(net::ConnectionEvent event) override {
    if (event == net::ConnectionEvent::Connected || client_ == nullptr) return;
    // Closed by the peer (or a failed connect): the codec resets the stream in flight, which
    // fails the check; a kept-alive connection closed between checks is simply replaced.
    std::unique_ptr<Client> client = std::move(client_);
    client->codec->onConnectionClosed();
    retire(std::move(client));
    handleFailure(FailureType::Network);
  }

  // net::ReadFilter
  void initializeReadFilterCallbacks(net::ReadFilterCallbacks&) override {}
  net::FilterStatus onData(buffer::Buffer& data, bool) override {
    if (client_ != nullptr) client_->codec->dispatch(data);
    return net::FilterStatus::StopIteration;
  }

  // http::ResponseDecoder
  void decode1xxHeaders(http::ResponseHeaderMapPtr) override {}
  void decodeHeaders(http::ResponseHeaderMapPtr headers, bool end_stream) override {
    response_.headers = std::move(headers);
    if (end_stream) onResponseComplete();
  }
  void decodeData(buffer::Buffer& data, bool end_stream) override {
    if (checker_.keepsBody() && response_.body.size() + data.length() <= kMaxBody) {
      response_.body += data.toString();
    }
    data.drain(data.length());
    if (end_stream) onResponseComplete();
  }
  void decodeTrailers(http::TrailerMapPtr trailers) override {
    response_.trailers = std::move(trailers);
    onResponseComplete();
  }

  // http::StreamCallbacks
  void onResetStream(http::StreamResetReason, std::string_view) override {
    stream_ = nullptr;
    handleFailure(FailureType::Network);
    closeClient();
  }
  void onAboveWriteBufferHighWatermark() override {}
  void onBelowWriteBufferLowWatermark() override {}

 private:
  // The connection and its codec, destroyed together (codec first) after the loop turn.
  struct Client : event::DeferredDeletable {
    std::unique_ptr<net::ConnectionImpl> connection;
    std::unique_ptr<http::ClientCodec> codec;
  };

  bool openClient() {
    std::string error;
    auto connection = createHostConnection(checker_.dispatcher_, *host_, *checker_.cluster_, error);
    if (connection == nullptr) return false;
    client_ = std::make_unique<Client>();
    client_->connection = std::move(connection);
    net::ConnectionImpl& c = *client_->connection;
    const Cluster& cluster = *checker_.cluster_;
    if (checker_.http2_) {
      client_->codec = std::make_unique<http::http2::ClientConnectionImpl>(
          c, cluster.http2Options(), &cluster.http2Stats());
    } else {
      http::codec1::ClientCodecOptions options;
      options.max_headers_count = cluster.maxResponseHeadersCount();
      options.buffer_limit = cluster.perConnectionBufferLimit();
      client_->codec = std::make_unique<http::codec1::ClientCodecImpl>(c, options);
    }
    c.addConnectionCallbacks(*this);
    c.addReadFilter(std::shared_ptr<net::ReadFilter>(std::shared_ptr<void>(), this));
    c.initializeReadFilters();
    return true;
  }

  void onResponseComplete() {
    if (stream_ != nullptr) stream_->removeCallbacks(*this);
    stream_ = nullptr;
    switch (checker_.judge(response_)) {
      case Verdict::Healthy:
        handleSuccess(false);
        break;
      case Verdict::Degraded:
        handleSuccess(true);
        break;
      case Verdict::Retriable:
        handleFailure(FailureType::Active, true);
        break;
      case Verdict::Failed:
        handleFailure(FailureType::Active);
        break;
      case Verdict::ImmediateFail:
        handleImmediateFail();
        break;
    }
    // Envoy closes after the answer unless the connection is to be reused and can be.
    if (!checker_.timing_.reuse_connection || client_ == nullptr || !client_->codec->reusable()) {
      closeClient();
    }
  }

  // Our own close: nothing of the connection or codec calls back into this session again.
  void closeClient() {
    if (client_ == nullptr) return;
    std::unique_ptr<Client> client = std::move(client_);
    if (stream_ != nullptr) stream_->removeCallbacks(*this);
    stream_ = nullptr;
    client->connection->removeConnectionCallbacks(*this);
    client->connection->close(net::ConnectionCloseType::NoFlush);
    retire(std::move(client));
  }
  void retire(std::unique_ptr<Client> client) {
    if (stream_ != nullptr) stream_->removeCallbacks(*this);
    stream_ = nullptr;
    checker_.dispatcher_.deferredDelete(std::move(client));
  }

  CodecHealthChecker& checker_;
  std::unique_ptr<Client> client_;
  http::Stream* stream_ = nullptr;
  Response response_;
};

CodecHealthChecker::CodecHealthChecker(event::Dispatcher& dispatcher,
                                       ClusterManager& cluster_manager,
                                       ClusterConstSharedPtr cluster,
                                       const envoy::config::core::v3::HealthCheck& proto,
                                       bool http2)
    : HealthChecker(dispatcher, cluster_manager, std::move(cluster), proto), http2_(http2) {}

HealthChecker::SessionPtr CodecHealthChecker::makeSession(HostConstSharedPtr host,
                                                          bool initially_healthy) {
  return std::make_unique<CodecSession>(*this, std::move(host), initially_healthy);
}

HttpHealthChecker::HttpHealthChecker(event::Dispatcher& dispatcher, ClusterManager& cluster_manager,
                                     ClusterConstSharedPtr cluster,
                                     const envoy::config::core::v3::HealthCheck& proto)
    : CodecHealthChecker(dispatcher, cluster_manager, cluster, proto,
                         proto.http_health_check().codec_client_type() == envoy::type::v3::HTTP2),
      path_(proto.http_health_check().path()),
      host_(proto.http_health_check().host().empty() ? cluster->name()
                                                     : proto.http_health_check().host()) {
  const auto& http = proto.http_health_check();
  auto mutations = router::HeaderMutations::create(http.request_headers_to_add(), {},
                                                   "request_headers_to_add", "");
  RELEASE_ASSERT(mutations.ok(), "health check headers were validated at load");
  headers_to_add_ = std::move(mutations).value();
  for (const auto& range : http.expected_statuses())
    expected_.emplace_back(range.start(), range.end());
  if (expected_.empty()) expected_.emplace_back(200, 201);
  for (const auto& range : http.retriable_statuses()) {
    retriable_.emplace_back(range.start(), range.end());
  }
}

void HttpHealthChecker::buildRequest(http::RequestHeaderMap& headers, std::string&) const {
  headers.set(h::kMethod, "GET");
  headers.set(h::kPath, path_);
  headers.set(h::kAuthority, host_);
  headers.set(h::kScheme, "http");
  headers.set("user-agent", "Envoy/HC");
  headers_to_add_.apply(headers, stream_info::StreamInfo{});
}

bool HttpHealthChecker::inRanges(const Ranges& ranges, uint64_t code) {
  for (const auto& [start, end] : ranges) {
    if (static_cast<int64_t>(code) >= start && static_cast<int64_t>(code) < end) return true;
  }
  return false;
}

CodecHealthChecker::Verdict HttpHealthChecker::judge(const Response& response) const {
  if (response.headers == nullptr) return Verdict::Failed;
  if (response.headers->has(h::kEnvoyImmediateHealthCheckFail)) return Verdict::ImmediateFail;
  const uint32_t code = response.headers->status();
  if (!inRanges(expected_, code)) {
    return inRanges(retriable_, code) ? Verdict::Retriable : Verdict::Failed;
  }
  return response.headers->has(h::kEnvoyDegraded) ? Verdict::Degraded : Verdict::Healthy;
}

}  // namespace remora::upstream
