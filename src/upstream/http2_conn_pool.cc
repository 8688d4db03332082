#include "upstream/http2_conn_pool.h"

#include <algorithm>
#include <chrono>

#include "http/alpn.h"
#include "http/http2/client_codec.h"
#include "net/connection_impl.h"
#include "net/socket.h"
#include "net/transport_socket_factory.h"
#include "upstream/upstream_connection.h"

namespace remora::upstream {

// One upstream connection, its codec and the streams it carries.
class Http2ConnPool::ActiveClient final : public net::ConnectionCallbacks,
                                          public net::ReadFilter,
                                          public http::http2::ClientConnectionCallbacks {
 public:
  ActiveClient(Http2ConnPool& pool, net::ClientConnectionPtr connection)
      : pool_(pool), connection_(std::move(connection)), created_at_(pool.dispatcher_.now()) {}

  // net::ReadFilter
  void initializeReadFilterCallbacks(net::ReadFilterCallbacks&) override {}
  net::FilterStatus onData(buffer::Buffer& data, bool) override {
    // A connection error makes the codec send GOAWAY and close the connection itself.
    codec_->dispatch(data);
    return net::FilterStatus::StopIteration;
  }

  // net::ConnectionCallbacks
  void onEvent(net::ConnectionEvent event) override {
    auto& stats = pool_.cluster_->stats();
    const event::MonotonicTime now = pool_.dispatcher_.now();
    if (event == net::ConnectionEvent::Connected) {
      stats.upstream_cx_connect_ms.recordMilliseconds(now - created_at_);
      connecting_ = false;
      connect_timer_->disableTimer();
      if (auto max = pool_.cluster_->maxConnectionDuration()) {
        duration_timer_ = pool_.dispatcher_.createTimer([this] {
          pool_.cluster_->stats().upstream_cx_max_duration_reached.inc();
          drain();
        });
        duration_timer_->enableTimer(*max);
      }
      pool_.schedule();
      return;
    }
    stats.upstream_cx_length_ms.recordMilliseconds(now - created_at_);
    // A peer that closes before its SETTINGS is no HTTP/2 server: a failed connect, which fails
    // the waiting requests instead of opening connection after connection to it.
    const bool was_connecting = connecting_ || !settings_received_;
    connecting_ = false;
    if (connect_timer_) connect_timer_->disableTimer();
    if (idle_timer_) idle_timer_->disableTimer();
    if (duration_timer_) duration_timer_->disableTimer();
    closed_ = true;
    // The codec resets every stream in flight (ConnectionTermination); the wrappers see it.
    codec_->onConnectionClosed();
    pool_.onClientClosed(*this, was_connecting, event);
  }
  void onAboveWriteBufferHighWatermark() override {
    codec_->onUnderlyingConnectionAboveWriteBufferHighWatermark();
  }
  void onBelowWriteBufferLowWatermark() override {
    codec_->onUnderlyingConnectionBelowWriteBufferLowWatermark();
  }

  // http2::ClientConnectionCallbacks
  void onGoAway() override {
    draining_ = true;
    pool_.schedule();  // waiting requests need another connection
  }
  void onSettings(uint32_t) override {
    settings_received_ = true;
    pool_.schedule();
  }
  void onStreamClosed(http::Stream& stream) override;

  // Streams go to a connection once the peer's SETTINGS say how many it takes.
  bool ready() const { return !connecting_ && settings_received_; }

  // How many more streams this connection takes now.
  size_t capacity() const {
    if (draining_ || closed_) return 0;
    if (ready() && !codec_->reusable()) return 0;
    uint64_t limit = pool_.cluster_->http2Options().max_concurrent_streams;
    if (ready()) limit = std::min<uint64_t>(limit, codec_->peerMaxConcurrentStreams());
    uint64_t room = limit > active_ ? limit - active_ : 0;
    if (uint32_t max = pool_.cluster_->maxRequestsPerConnection(); max > 0) {
      room = std::min<uint64_t>(room, max > total_ ? max - total_ : 0);
    }
    return static_cast<size_t>(room);
  }

  void assign(http::ResponseDecoder& decoder, ConnectionPoolCallbacks& callbacks,
              ResourceHold rq_hold);
  void onStreamDone(StreamWrapper& stream);

  // No new streams; close once the last one ends.
  void drain() {
    draining_ = true;
    if (active_ == 0 && !closed_) connection_->close(net::ConnectionCloseType::FlushWrite);
  }

  Http2ConnPool& pool_;
  net::ClientConnectionPtr connection_;
  std::unique_ptr<http::http2::ClientConnectionImpl> codec_;
  std::list<std::unique_ptr<StreamWrapper>> streams_;
  ResourceHold cx_hold_;  // the connection's max_connections slot
  uint64_t active_ = 0;
  uint64_t total_ = 0;
  bool connecting_ = true;
  bool settings_received_ = false;
  bool draining_ = false;
  bool closed_ = false;
  bool timed_out_ = false;
  const event::MonotonicTime created_at_;
  event::TimerPtr connect_timer_;
  event::TimerPtr idle_timer_;
  event::TimerPtr close_timer_;  // closes a drained connection once its last frames are out
  event::TimerPtr duration_timer_;
  std::list<std::unique_ptr<ActiveClient>>::iterator position_;
};

// Between a stream and the router's decoder: notes when the stream ends (its response complete,
// or a reset), so the connection's stream count stays true.
class Http2ConnPool::StreamWrapper final : public http::ResponseDecoder,
                                           public http::StreamCallbacks,
                                           public event::DeferredDeletable {
 public:
  StreamWrapper(ActiveClient& client, http::ResponseDecoder& decoder)
      : client_(client), decoder_(decoder) {}

  void decode1xxHeaders(http::ResponseHeaderMapPtr headers) override {
    if (!done_) decoder_.decode1xxHeaders(std::move(headers));
  }
  void decodeHeaders(http::ResponseHeaderMapPtr headers, bool end_stream) override {
    if (done_) return;
    if (end_stream) onResponseEnd();
    decoder_.decodeHeaders(std::move(headers), end_stream);
  }
  void decodeData(buffer::Buffer& data, bool end_stream) override {
    if (done_) return;
    if (end_stream) onResponseEnd();
    decoder_.decodeData(data, end_stream);
  }
  void decodeTrailers(http::TrailerMapPtr trailers) override {
    if (done_) return;
    onResponseEnd();
    decoder_.decodeTrailers(std::move(trailers));
  }
  // A tunnel (an upgrade or CONNECT) still carries the client's bytes after its response: it
  // counts against the connection until the codec retires it (or it is reset).
  void onResponseEnd() {
    if (stream_ != nullptr && http::http2::ClientConnectionImpl::tunnelStillOpen(*stream_)) {
      awaiting_close_ = true;
      return;
    }
    onDone();
  }
  void onResetStream(http::StreamResetReason, std::string_view) override { onDone(); }
  void onAboveWriteBufferHighWatermark() override {}
  void onBelowWriteBufferLowWatermark() override {}

  void onDone() {
    if (done_) return;
    done_ = true;
    if (stream_ != nullptr) stream_->removeCallbacks(*this);
    client_.onStreamDone(*this);
  }

  ActiveClient& client_;
  http::ResponseDecoder& decoder_;
  ResourceHold rq_hold_;  // the stream's max_requests slot until it ends
  http::Stream* stream_ = nullptr;
  bool done_ = false;
  bool awaiting_close_ = false;  // a tunnel whose response ended
  std::list<std::unique_ptr<StreamWrapper>>::iterator position_;
};

void Http2ConnPool::ActiveClient::assign(http::ResponseDecoder& decoder,
                                         ConnectionPoolCallbacks& callbacks, ResourceHold rq_hold) {
  if (idle_timer_) idle_timer_->disableTimer();
  auto wrapper = std::make_unique<StreamWrapper>(*this, decoder);
  StreamWrapper& ref = *wrapper;
  ref.rq_hold_ = std::move(rq_hold);
  streams_.push_back(std::move(wrapper));
  ref.position_ = std::prev(streams_.end());
  ++active_;
  ++total_;
  auto& stats = pool_.cluster_->stats();
  stats.upstream_rq_total.inc();
  stats.upstream_rq_active.inc();
  if (uint32_t max = pool_.cluster_->maxRequestsPerConnection(); max > 0 && total_ >= max) {
    stats.upstream_cx_max_requests.inc();
    draining_ = true;  // closes after its last stream
  }
  http::RequestEncoder& encoder = codec_->newStream(ref);
  ref.stream_ = &encoder.getStream();
  // Ours first: the wrapper hears a reset before the router acts on it.
  encoder.getStream().addCallbacks(ref);
  callbacks.onPoolReady(encoder, pool_.host_, total_ > 1);
}

void Http2ConnPool::ActiveClient::onStreamClosed(http::Stream& stream) {
  for (auto& wrapper : streams_) {
    if (wrapper->stream_ == &stream) {
      if (wrapper->awaiting_close_) wrapper->onDone();
      return;
    }
  }
}

void Http2ConnPool::ActiveClient::onStreamDone(StreamWrapper& stream) {
  --active_;
  stream.rq_hold_.release();
  pool_.cluster_->stats().upstream_rq_active.dec();
  std::unique_ptr<StreamWrapper> owned = std::move(*stream.position_);
  streams_.erase(stream.position_);
  pool_.dispatcher_.deferredDelete(std::move(owned));
  if (closed_) return;
  if (active_ == 0) {
    if (draining_) {
      // Not now: a stream usually ends inside the codec's send loop, after nghttp2 serialized
      // its last frame but before the codec hands those bytes to the connection; closing here
      // would drop them (a tunnel's final DATA with END_STREAM, say). The next loop turn
      // closes after they are written.
      if (!close_timer_) {
        close_timer_ = pool_.dispatcher_.createTimer([this] {
          if (!closed_) connection_->close(net::ConnectionCloseType::FlushWrite);
        });
      }
      close_timer_->enableTimer(std::chrono::milliseconds(0));
      return;
    }
    if (auto idle = pool_.cluster_->idleTimeout()) {
      if (!idle_timer_) {
        idle_timer_ = pool_.dispatcher_.createTimer([this] {
          pool_.cluster_->stats().upstream_cx_idle_timeout.inc();
          connection_->close(net::ConnectionCloseType::FlushWrite);
        });
      }
      idle_timer_->enableTimer(*idle);
    }
  }
  pool_.schedule();
}

Http2ConnPool::Http2ConnPool(event::Dispatcher& dispatcher, HostConstSharedPtr host,
                             ClusterConstSharedPtr cluster, ResourcePriority priority)
    : ConnPoolBase(dispatcher, std::move(host), std::move(cluster), priority) {
  process_timer_ = dispatcher_.createTimer([this] { processPending(); });
}

Http2ConnPool::~Http2ConnPool() {
  process_timer_.reset();
  failPending(PoolFailureReason::LocalConnectionFailure, "pool destroyed");
  while (!clients_.empty()) clients_.front()->connection_->close(net::ConnectionCloseType::NoFlush);
}

bool Http2ConnPool::idle() const { return clients_.empty() && !hasPending(); }

void Http2ConnPool::schedule() { process_timer_->enableTimer(std::chrono::milliseconds(0)); }

Cancellable* Http2ConnPool::newStream(http::ResponseDecoder& decoder,
                                      ConnectionPoolCallbacks& callbacks) {
  // A connection with room takes it at once (unless others wait first): only a request that
  // must wait counts against max_pending_requests.
  if (!hasPending()) {
    if (ActiveClient* ready = readyClient()) {
      assign(*ready, decoder, callbacks);
      return nullptr;
    }
  }
  PendingRequest* pending = queuePending(decoder, callbacks);
  if (pending == nullptr) return nullptr;
  processPending();
  return isPending(pending) ? pending : nullptr;
}

Http2ConnPool::ActiveClient* Http2ConnPool::readyClient() {
  for (auto& client : clients_) {
    if (client->ready() && client->capacity() > 0) return client.get();
  }
  return nullptr;
}

bool Http2ConnPool::assign(ActiveClient& client, http::ResponseDecoder& decoder,
                           ConnectionPoolCallbacks& callbacks) {
  ResourceHold rq_hold = acquireRequest(callbacks);
  if (!rq_hold.held()) return false;
  client.assign(decoder, callbacks, std::move(rq_hold));
  return true;
}

void Http2ConnPool::processPending() {
  while (hasPending()) {
    ActiveClient* ready = readyClient();
    if (ready == nullptr) break;
    PendingRequestPtr next = popPending();
    assign(*ready, next->decoder_, next->callbacks_);  // max_requests may refuse it
  }
  if (!hasPending()) return;
  // Open another connection only when the ones still connecting cannot take every waiter.
  size_t room = 0;
  for (auto& client : clients_) {
    if (!client->ready()) room += client->capacity();
  }
  if (room < pendingCount()) createClient();
}

void Http2ConnPool::createClient() {
  std::string error;
  ResourceHold cx_hold;
  // ALPN "h2" for when the cluster's transport socket negotiates (TLS); raw sockets ignore it.
  net::TransportSocketOptions transport_options;
  transport_options.application_protocols = {std::string(http::kAlpnHttp2)};
  auto connection = openConnection(!clients_.empty(), cx_hold, error, transport_options);
  if (connection == nullptr) return;  // over max_connections the requests wait
  cluster_->stats().upstream_cx_http2_total.inc();
  auto client = std::make_unique<ActiveClient>(*this, std::move(connection));
  ActiveClient& ref = *client;
  ref.cx_hold_ = std::move(cx_hold);
  clients_.push_back(std::move(client));
  ref.position_ = std::prev(clients_.end());
  ref.connection_->addConnectionCallbacks(ref);
  // The read filter is the client itself; the connection must not own it.
  ref.connection_->addReadFilter(std::shared_ptr<net::ReadFilter>(std::shared_ptr<void>(), &ref));
  ref.connection_->initializeReadFilters();
  // The preface and SETTINGS wait in the connection's buffer until the connect completes.
  ref.codec_ = std::make_unique<http::http2::ClientConnectionImpl>(
      *ref.connection_, cluster_->http2Options(), &cluster_->http2Stats(), &ref);
  ref.connect_timer_ = dispatcher_.createTimer([this, &ref] {
    cluster_->stats().upstream_cx_connect_timeout.inc();
    ref.timed_out_ = true;
    ref.connection_->close(net::ConnectionCloseType::NoFlush);
  });
  ref.connect_timer_->enableTimer(cluster_->connectTimeout());
}

void Http2ConnPool::onClientClosed(ActiveClient& client, bool was_connecting,
                                   net::ConnectionEvent event) {
  chargeConnectionClosed(event, client.active_ > 0, client.cx_hold_);
  const bool timed_out = client.timed_out_;
  std::string failure_reason(client.connection_->transportFailureReason());
  struct Holder : event::DeferredDeletable {
    std::unique_ptr<ActiveClient> client;
  };
  auto holder = std::make_unique<Holder>();
  holder->client = std::move(*client.position_);
  clients_.erase(client.position_);
  dispatcher_.deferredDelete(std::move(holder));
  if (was_connecting) {
    onConnectFailed(timed_out, failure_reason);
  } else if (hasPending()) {
    schedule();
  }
}

void Http2ConnPool::drainConnections() {
  std::vector<ActiveClient*> all;
  for (auto& c : clients_) all.push_back(c.get());
  for (auto* c : all) c->drain();
}

}  // namespace remora::upstream
