#include "grpc/async_client.h"

#include "common/logger.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb.h"
#include "http/grpc.h"
#include "http/http2/client_codec.h"
#include "upstream/cluster_manager.h"
#include "upstream/upstream_connection.h"

namespace remora::grpc {

namespace h = http::headers;
namespace gs = http::grpc_status;

namespace {
// xDS responses carry whole configurations; Envoy bounds nothing by default. This is a guard
// against a runaway peer, far above any real response.
constexpr size_t kMaxMessageBytes = 256 * 1024 * 1024;

// The connection, its codec and what they hold, destroyed together (codec first) after the loop
// turn: frames up the stack may still be inside them.
struct Transport : event::DeferredDeletable {
  ~Transport() override { codec.reset(); }
  std::unique_ptr<net::ConnectionImpl> connection;
  std::unique_ptr<http::http2::ClientConnectionImpl> codec;
  event::TimerPtr connect_timer;
};

class AsyncStreamImpl final : public AsyncStream,
                              public net::ConnectionCallbacks,
                              public net::ReadFilter,
                              public http::ResponseDecoder,
                              public http::StreamCallbacks {
 public:
  AsyncStreamImpl(event::Dispatcher& dispatcher, AsyncStreamCallbacks& callbacks)
      : dispatcher_(dispatcher), callbacks_(callbacks), decoder_(kMaxMessageBytes) {}
  ~AsyncStreamImpl() override { teardown(); }

  // Connects to `host` and sends the request headers; a failure is reported on the next turn.
  void start(upstream::ClusterConstSharedPtr cluster, upstream::HostConstSharedPtr host,
             const http::RequestHeaderMap& headers) {
    cluster_ = std::move(cluster);
    host_ = std::move(host);
    std::string error;
    auto connection = cluster_ != nullptr && host_ != nullptr
                          ? upstream::openUpstreamConnection(dispatcher_, *host_, *cluster_, error)
                          : nullptr;
    if (connection == nullptr) {
      failLater(error.empty() ? "no host to connect to" : error);
      return;
    }
    transport_ = std::make_unique<Transport>();
    net::ConnectionImpl& c = *connection;
    transport_->connection = std::move(connection);
    c.addConnectionCallbacks(*this);
    c.addReadFilter(std::shared_ptr<net::ReadFilter>(std::shared_ptr<void>(), this));
    c.initializeReadFilters();
    // The preface, SETTINGS and our headers wait in the write buffer until the connect completes.
    transport_->codec = std::make_unique<http::http2::ClientConnectionImpl>(
        c, cluster_->http2Options(), &cluster_->http2Stats());
    transport_->connect_timer = dispatcher_.createTimer([this] {
      cluster_->stats().upstream_cx_connect_timeout.inc();
      finish(gs::kUnavailable, "upstream connect timeout");
    });
    transport_->connect_timer->enableTimer(cluster_->connectTimeout());
    http::RequestEncoder& encoder = transport_->codec->newStream(*this);
    stream_ = &encoder.getStream();
    stream_->addCallbacks(*this);
    encoder_ = &encoder;
    encoder.encodeHeaders(headers, false);
  }

  // AsyncStream
  void sendMessage(const google::protobuf::Message& message) override {
    if (encoder_ == nullptr || done_) return;
    buffer::Buffer data;
    data.add(frameGrpcMessage(message));
    encoder_->encodeData(data, false);
  }

  // net::ConnectionCallbacks
  void onEvent(net::ConnectionEvent event) override {
    if (event == net::ConnectionEvent::Connected) {
      if (transport_ != nullptr) transport_->connect_timer.reset();
      return;
    }
    if (done_ || transport_ == nullptr) return;
    std::string reason(transport_->connection->transportFailureReason());
    upstream::chargeUpstreamConnectionClosed(*host_, *cluster_, event);
    charged_ = true;
    finish(gs::kUnavailable, reason.empty() ? "upstream connection closed" : reason);
  }

  // net::ReadFilter
  void initializeReadFilterCallbacks(net::ReadFilterCallbacks&) override {}
  net::FilterStatus onData(buffer::Buffer& data, bool) override {
    if (transport_ != nullptr) transport_->codec->dispatch(data);
    return net::FilterStatus::StopIteration;
  }

  // http::ResponseDecoder
  void decode1xxHeaders(http::ResponseHeaderMapPtr) override {}
  void decodeHeaders(http::ResponseHeaderMapPtr headers, bool end_stream) override {
    if (done_) return;
    if (headers->status() != 200) {
      // Not a gRPC answer: its status stands for the gRPC status (Envoy's httpToGrpcStatus).
      const auto status = http::grpcStatusOf(*headers);
      finish(status.value_or(http::grpcStatusFromHttp(headers->status())),
             "HTTP status " + std::to_string(headers->status()));
      return;
    }
    if (end_stream) {  // trailers-only: the status is in the headers
      onTrailers(*headers);
      return;
    }
    callbacks_.onReceiveInitialMetadata();
  }
  void decodeData(buffer::Buffer& data, bool end_stream) override {
    if (done_) return;
    std::vector<std::string> messages;
    const Status decoded = decoder_.decode(data, messages);
    bool alive = true;
    alive_ = &alive;
    for (const std::string& message : messages) {
      callbacks_.onReceiveMessage(message);
      // The callback may have destroyed this stream.
      if (!alive) return;
      if (done_) break;
    }
    alive_ = nullptr;
    if (!decoded.ok()) {
      finish(gs::kInternal, decoded.message());
    } else if (end_stream) {
      finish(gs::kInternal, "the stream ended without grpc-status");
    }
  }
  void decodeTrailers(http::TrailerMapPtr trailers) override {
    if (!done_) onTrailers(*trailers);
  }

  // http::StreamCallbacks
  void onResetStream(http::StreamResetReason reason, std::string_view details) override {
    stream_ = nullptr;
    encoder_ = nullptr;
    if (done_) return;
    std::string message(http::resetReasonString(reason));
    if (!details.empty()) message += ": " + std::string(details);
    finish(gs::kUnavailable, message);
  }
  void onAboveWriteBufferHighWatermark() override {}
  void onBelowWriteBufferLowWatermark() override {}

 private:
  void onTrailers(const http::HeaderMap& trailers) {
    const auto status = http::grpcStatusOf(trailers);
    const std::string* message = trailers.get(http::grpc_headers::kMessage);
    if (!status) {
      finish(gs::kInternal, "no grpc-status in the trailers");
      return;
    }
    finish(*status == gs::kInvalidCode ? gs::kUnknown : *status,
           message != nullptr ? *message : std::string());
  }

  void failLater(std::string message) {
    fail_timer_ = dispatcher_.createTimer([this, message] {
      // The owner may destroy this stream, and so this timer, from finish(): use a copy.
      const std::string reason = message;
      finish(gs::kUnavailable, reason);
    });
    fail_timer_->enableTimer(std::chrono::milliseconds(0));
  }

  // Reports the end once, after letting go of the connection: the callback may destroy us.
  void finish(uint32_t status, const std::string& message) {
    if (done_) return;
    done_ = true;
    if (alive_ != nullptr) *alive_ = false;
    teardown();
    callbacks_.onRemoteClose(status, message);
  }

  void teardown() {
    if (alive_ != nullptr) *alive_ = false;
    if (stream_ != nullptr) {
      stream_->removeCallbacks(*this);
      stream_ = nullptr;
    }
    encoder_ = nullptr;
    if (transport_ == nullptr) return;
    std::unique_ptr<Transport> transport = std::move(transport_);
    transport->connect_timer.reset();
    transport->connection->removeConnectionCallbacks(*this);
    if (transport->connection->state() != net::Connection::State::Closed) {
      transport->connection->close(net::ConnectionCloseType::NoFlush);
    }
    if (!charged_)
      upstream::chargeUpstreamConnectionClosed(*host_, *cluster_, net::ConnectionEvent::LocalClose);
    charged_ = true;
    dispatcher_.deferredDelete(std::move(transport));
  }

  event::Dispatcher& dispatcher_;
  AsyncStreamCallbacks& callbacks_;
  GrpcMessageDecoder decoder_;
  upstream::ClusterConstSharedPtr cluster_;
  upstream::HostConstSharedPtr host_;
  std::unique_ptr<Transport> transport_;
  http::Stream* stream_ = nullptr;
  http::RequestEncoder* encoder_ = nullptr;
  event::TimerPtr fail_timer_;
  bool* alive_ = nullptr;  // set while a message callback runs, cleared if it destroys us
  bool done_ = false;
  bool charged_ = false;
};

}  // namespace

std::string frameGrpcMessage(const google::protobuf::Message& message) {
  const std::string bytes = message.SerializeAsString();
  std::string frame(http::kGrpcFrameHeaderSize, '\0');
  const auto length = static_cast<uint32_t>(bytes.size());
  for (int i = 0; i < 4; ++i) frame[1 + i] = static_cast<char>(length >> (8 * (3 - i)));
  return frame + bytes;
}

Status GrpcMessageDecoder::decode(buffer::Buffer& data, std::vector<std::string>& messages) {
  pending_ += data.toString();
  data.drain(data.length());
  size_t offset = 0;
  while (pending_.size() - offset >= http::kGrpcFrameHeaderSize) {
    const auto* p = reinterpret_cast<const uint8_t*>(pending_.data() + offset);
    if (p[0] != 0) return Status::error("compressed gRPC messages are not supported");
    const size_t length = static_cast<size_t>(p[1]) << 24 | static_cast<size_t>(p[2]) << 16 |
                          static_cast<size_t>(p[3]) << 8 | p[4];
    if (length > max_message_bytes_) return Status::error("gRPC message too large");
    if (pending_.size() - offset - http::kGrpcFrameHeaderSize < length) break;
    messages.push_back(pending_.substr(offset + http::kGrpcFrameHeaderSize, length));
    offset += http::kGrpcFrameHeaderSize + length;
  }
  pending_.erase(0, offset);
  return Status();
}

StatusOr<std::unique_ptr<AsyncClient>> AsyncClient::create(
    const envoy::config::core::v3::GrpcService& service,
    const google::protobuf::RepeatedPtrField<envoy::config::cluster::v3::Cluster>& static_clusters,
    upstream::ClusterManager& clusters, event::Dispatcher& dispatcher, const std::string& path) {
  using envoy::config::cluster::v3::Cluster;
  if (service.has_google_grpc()) {
    return Status::error(path + ".google_grpc: not supported by remora (use envoy_grpc)");
  }
  if (!service.has_envoy_grpc()) return Status::error(path + ": envoy_grpc is required");
  const std::string& name = service.envoy_grpc().cluster_name();
  const Cluster* cluster = nullptr;
  for (const auto& proto : static_clusters) {
    if (proto.name() == name) cluster = &proto;
  }
  const std::string at = path + ".envoy_grpc.cluster_name";
  if (cluster == nullptr) return Status::error(at + ": unknown static cluster '" + name + "'");
  const auto type =
      cluster->cluster_discovery_type_case() == Cluster::kType ? cluster->type() : Cluster::STATIC;
  if (type != Cluster::STATIC && type != Cluster::STRICT_DNS && type != Cluster::LOGICAL_DNS) {
    return Status::error(at + ": cluster '" + name +
                         "' must have its endpoints in the bootstrap (STATIC or DNS)");
  }
  // As Envoy: the cluster must be configured for HTTP/2.
  envoy::extensions::upstreams::http::v3::HttpProtocolOptions options;
  auto found = cluster->typed_extension_protocol_options().find(
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions");
  if (found == cluster->typed_extension_protocol_options().end() ||
      !found->second.UnpackTo(&options) ||
      !options.explicit_http_config().has_http2_protocol_options()) {
    return Status::error(at + ": cluster '" + name +
                         "' must speak HTTP/2 (typed_extension_protocol_options "
                         "explicit_http_config.http2_protocol_options)");
  }
  std::string authority = service.envoy_grpc().authority();
  if (authority.empty()) authority = name;
  return std::unique_ptr<AsyncClient>(
      new AsyncClient(dispatcher, clusters, name, std::move(authority)));
}

AsyncClient::AsyncClient(event::Dispatcher& dispatcher, upstream::ClusterManager& clusters,
                         std::string cluster_name, std::string authority)
    : dispatcher_(dispatcher),
      clusters_(clusters),
      cluster_name_(std::move(cluster_name)),
      authority_(std::move(authority)) {}

AsyncStreamPtr AsyncClient::startStream(std::string_view method_path,
                                        AsyncStreamCallbacks& callbacks) {
  auto stream = std::make_unique<AsyncStreamImpl>(dispatcher_, callbacks);
  upstream::ClusterConstSharedPtr cluster = clusters_.get(cluster_name_);
  upstream::HostConstSharedPtr host;
  if (cluster != nullptr && !cluster->hosts().empty()) {
    host = cluster->hosts()[next_host_++ % cluster->hosts().size()];
  }
  http::RequestHeaderMap headers;
  headers.set(h::kMethod, "POST");
  headers.set(h::kPath, std::string(method_path));
  headers.set(h::kAuthority, authority_);
  headers.set(h::kScheme, "http");
  headers.set(h::kContentType, http::grpc_headers::kContentTypeGrpc);
  headers.set(h::kTe, "trailers");
  stream->start(std::move(cluster), std::move(host), headers);
  return stream;
}

}  // namespace remora::grpc
