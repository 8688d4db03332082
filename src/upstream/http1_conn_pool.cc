#include "upstream/http1_conn_pool.h"

#include "common/logger.h"
#include "http/codec1/client_codec.h"
#include "net/connection_impl.h"
#include "net/socket.h"
#include "net/transport_socket_factory.h"
#include "upstream/upstream_connection.h"

namespace remora::upstream {

// One upstream connection and its codec. Sits between the codec and the router's decoder to see
// the response end, so the connection goes back to the idle set (or closes) at the right time.
class Http1ConnPool::ActiveClient final : public net::ConnectionCallbacks,
                                          public net::ReadFilter,
                                          public http::ResponseDecoder {
 public:
  ActiveClient(Http1ConnPool& pool, net::ClientConnectionPtr connection)
      : pool_(pool), connection_(std::move(connection)), created_at_(pool.dispatcher_.now()) {}

  // net::ReadFilter: upstream bytes go to the codec.
  void initializeReadFilterCallbacks(net::ReadFilterCallbacks&) override {}
  net::FilterStatus onData(buffer::Buffer& data, bool end_stream) override {
    // On a protocol error the codec has closed the connection itself, and this client may
    // already be retired (onClientClosed): nothing more to do here.
    http::CodecStatus status = codec_->dispatch(data);
    if (status.ok && end_stream) {
      codec_->onPeerHalfClose();  // only an upgraded connection enables half-close
    }
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
        duration_timer_ = pool_.dispatcher_.createTimer([this] { pool_.onMaxDuration(*this); });
        duration_timer_->enableTimer(*max);
      }
      pool_.onClientReady(*this);
      return;
    }
    stats.upstream_cx_length_ms.recordMilliseconds(now - created_at_);
    bool was_connecting = connecting_;
    connecting_ = false;
    if (connect_timer_) connect_timer_->disableTimer();
    if (idle_timer_) idle_timer_->disableTimer();
    if (ready_timer_) ready_timer_->disableTimer();
    if (duration_timer_) duration_timer_->disableTimer();
    // The codec resets the stream in flight, if any (ConnectionTermination).
    codec_->onConnectionClosed();
    pool_.onClientClosed(*this, was_connecting, event);
  }
  void onAboveWriteBufferHighWatermark() override {
    codec_->onUnderlyingConnectionAboveWriteBufferHighWatermark();
  }
  void onBelowWriteBufferLowWatermark() override {
    codec_->onUnderlyingConnectionBelowWriteBufferLowWatermark();
  }

  // http::ResponseDecoder: pass everything to the request's decoder, noting the end.
  void decode1xxHeaders(http::ResponseHeaderMapPtr headers) override {
    if (decoder_) decoder_->decode1xxHeaders(std::move(headers));
  }
  void decodeHeaders(http::ResponseHeaderMapPtr headers, bool end_stream) override {
    auto* decoder = decoder_;
    // An upgrade's 101 or a CONNECT's 2xx switched the codec to raw bytes: from now on the
    // connection belongs to that exchange and never returns to the pool; it closes when both
    // sides end.
    if (codec_->upgraded()) upgraded_ = true;
    if (end_stream) onResponseComplete();
    if (decoder) decoder->decodeHeaders(std::move(headers), end_stream);
  }
  void decodeData(buffer::Buffer& data, bool end_stream) override {
    auto* decoder = decoder_;
    if (end_stream) onResponseComplete();
    if (decoder) decoder->decodeData(data, end_stream);
  }
  void decodeTrailers(http::TrailerMapPtr trailers) override {
    auto* decoder = decoder_;
    onResponseComplete();
    if (decoder) decoder->decodeTrailers(std::move(trailers));
  }

  void assign(http::ResponseDecoder& decoder, ConnectionPoolCallbacks& callbacks,
              ResourceHold rq_hold) {
    if (idle_timer_) idle_timer_->disableTimer();
    rq_hold_ = std::move(rq_hold);
    decoder_ = &decoder;
    bool reused = requests_ > 0;
    ++requests_;
    pool_.cluster_->stats().upstream_rq_total.inc();
    pool_.cluster_->stats().upstream_rq_active.inc();
    rq_active_ = true;
    http::RequestEncoder& encoder = codec_->newStream(*this);
    callbacks.onPoolReady(encoder, pool_.host_, reused);
  }

  void onResponseComplete() {
    decoder_ = nullptr;
    if (rq_active_) {
      rq_active_ = false;
      rq_hold_.release();
      pool_.cluster_->stats().upstream_rq_active.dec();
    }
    if (upgraded_) return;  // the request direction may still be open: never reused
    // Decide after the decoder has seen the end, outside the codec's dispatch: a zero timer runs
    // on this loop's next iteration without a syscall.
    if (!ready_timer_)
      ready_timer_ = pool_.dispatcher_.createTimer([this] { pool_.onClientReady(*this); });
    ready_timer_->enableTimer(std::chrono::milliseconds(0));
  }

  bool busy() const { return decoder_ != nullptr || rq_active_ || upgraded_; }

  Http1ConnPool& pool_;
  net::ClientConnectionPtr connection_;
  std::unique_ptr<http::codec1::ClientCodecImpl> codec_;
  ResourceHold cx_hold_;  // the connection's max_connections slot
  ResourceHold rq_hold_;  // the request's max_requests slot while rq_active_
  http::ResponseDecoder* decoder_ = nullptr;
  bool connecting_ = true;
  bool rq_active_ = false;
  bool timed_out_ = false;
  bool expired_ = false;  // max_connection_duration passed: no new requests
  bool upgraded_ = false;
  uint32_t requests_ = 0;
  const event::MonotonicTime created_at_;  // for upstream_cx_connect_ms and upstream_cx_length_ms
  event::TimerPtr connect_timer_;
  event::TimerPtr idle_timer_;
  event::TimerPtr ready_timer_;
  event::TimerPtr duration_timer_;
  std::list<std::unique_ptr<ActiveClient>>::iterator position_;
};

Http1ConnPool::Http1ConnPool(event::Dispatcher& dispatcher, HostConstSharedPtr host,
                             ClusterConstSharedPtr cluster, ResourcePriority priority)
    : ConnPoolBase(dispatcher, std::move(host), std::move(cluster), priority) {}

Http1ConnPool::~Http1ConnPool() {
  failPending(PoolFailureReason::LocalConnectionFailure, "pool destroyed");
  while (!clients_.empty()) clients_.front()->connection_->close(net::ConnectionCloseType::NoFlush);
}

bool Http1ConnPool::idle() const { return clients_.empty() && !hasPending(); }

Cancellable* Http1ConnPool::newStream(http::ResponseDecoder& decoder,
                                      ConnectionPoolCallbacks& callbacks) {
  for (auto& client : clients_) {
    if (!client->connecting_ && !client->busy() && !client->expired_ &&
        client->connection_->state() == net::Connection::State::Open) {
      assign(*client, decoder, callbacks);
      return nullptr;
    }
  }
  PendingRequest* pending = queuePending(decoder, callbacks);
  if (pending == nullptr) return nullptr;
  maybeCreateClient();
  // createClient may have failed the request synchronously.
  return isPending(pending) ? pending : nullptr;
}

bool Http1ConnPool::assign(ActiveClient& client, http::ResponseDecoder& decoder,
                           ConnectionPoolCallbacks& callbacks) {
  ResourceHold rq_hold = acquireRequest(callbacks);
  if (!rq_hold.held()) return false;
  client.assign(decoder, callbacks, std::move(rq_hold));
  return true;
}

void Http1ConnPool::maybeCreateClient() {
  // One connection per waiting request, at most (HTTP/1 carries one request at a time).
  size_t connecting = 0;
  for (auto& c : clients_) connecting += c->connecting_ ? 1 : 0;
  if (connecting < pendingCount()) createClient();
}

void Http1ConnPool::createClient() {
  std::string error;
  ResourceHold cx_hold;
  auto connection = openConnection(!clients_.empty(), cx_hold, error);
  if (connection == nullptr) return;  // over max_connections the requests wait
  cluster_->stats().upstream_cx_http1_total.inc();
  auto client = std::make_unique<ActiveClient>(*this, std::move(connection));
  ActiveClient& ref = *client;
  ref.cx_hold_ = std::move(cx_hold);
  clients_.push_back(std::move(client));
  ref.position_ = std::prev(clients_.end());
  http::codec1::ClientCodecOptions codec_options;
  codec_options.max_headers_count = cluster_->maxResponseHeadersCount();
  codec_options.enable_trailers = cluster_->enableTrailers();
  codec_options.buffer_limit = cluster_->perConnectionBufferLimit();
  ref.codec_ = std::make_unique<http::codec1::ClientCodecImpl>(*ref.connection_, codec_options);
  ref.connection_->addConnectionCallbacks(ref);
  // The read filter is the client itself; the connection must not own it.
  ref.connection_->addReadFilter(std::shared_ptr<net::ReadFilter>(std::shared_ptr<void>(), &ref));
  ref.connection_->initializeReadFilters();
  ref.connect_timer_ = dispatcher_.createTimer([this, &ref] { onConnectTimeout(ref); });
  ref.connect_timer_->enableTimer(cluster_->connectTimeout());
}

void Http1ConnPool::onConnectTimeout(ActiveClient& client) {
  // Envoy counts a connect timeout as a connect failure too (below, in onClientClosed).
  cluster_->stats().upstream_cx_connect_timeout.inc();
  client.timed_out_ = true;
  client.connection_->close(net::ConnectionCloseType::NoFlush);
}

void Http1ConnPool::onClientReady(ActiveClient& client) {
  if (client.busy() || client.connection_->state() != net::Connection::State::Open) return;
  if (client.expired_) {
    client.connection_->close(net::ConnectionCloseType::NoFlush);
    return;
  }
  uint32_t max_requests = cluster_->maxRequestsPerConnection();
  if (max_requests > 0 && client.requests_ >= max_requests) {
    cluster_->stats().upstream_cx_max_requests.inc();
    client.connection_->close(net::ConnectionCloseType::NoFlush);
    return;
  }
  if (client.requests_ > 0 && !client.codec_->reusable()) {
    client.connection_->close(net::ConnectionCloseType::NoFlush);
    return;
  }
  // A request max_requests refuses is failed; the next one may try.
  while (PendingRequestPtr next = popPending()) {
    if (assign(client, next->decoder_, next->callbacks_)) return;
  }
  if (auto idle = cluster_->idleTimeout()) {
    if (!client.idle_timer_) {
      client.idle_timer_ = dispatcher_.createTimer([this, &client] {
        cluster_->stats().upstream_cx_idle_timeout.inc();
        client.connection_->close(net::ConnectionCloseType::NoFlush);
      });
    }
    client.idle_timer_->enableTimer(*idle);
  }
}

void Http1ConnPool::onMaxDuration(ActiveClient& client) {
  cluster_->stats().upstream_cx_max_duration_reached.inc();
  client.expired_ = true;
  // A request in flight finishes first (onClientReady closes the connection after it).
  if (!client.busy()) client.connection_->close(net::ConnectionCloseType::NoFlush);
}

void Http1ConnPool::onClientClosed(ActiveClient& client, bool was_connecting,
                                   net::ConnectionEvent event) {
  const bool had_active_request = client.rq_active_;
  if (client.rq_active_) {
    client.rq_active_ = false;
    client.rq_hold_.release();
    cluster_->stats().upstream_rq_active.dec();
  }
  chargeConnectionClosed(event, had_active_request, client.cx_hold_);
  bool timed_out = client.timed_out_;
  // Envoy's transport failure reason ("delayed connect error: Connection refused"); a connect
  // timeout has none.
  std::string failure_reason(client.connection_->transportFailureReason());
  std::unique_ptr<ActiveClient> owned = std::move(*client.position_);
  clients_.erase(client.position_);
  // Deferred: we are inside the connection's close callback. The client owns its connection, so
  // a caller further up the stack still finds both intact.
  struct Holder : event::DeferredDeletable {
    std::unique_ptr<ActiveClient> client;
  };
  auto holder = std::make_unique<Holder>();
  holder->client = std::move(owned);
  dispatcher_.deferredDelete(std::move(holder));
  if (was_connecting) {
    onConnectFailed(timed_out, failure_reason);
  } else {
    // Under max_connections requests may wait for a connection that was never opened for
    // them: this closed one's slot lets one open now.
    maybeCreateClient();
  }
}

void Http1ConnPool::drainConnections() {
  std::vector<ActiveClient*> idle;
  for (auto& c : clients_) {
    if (!c->busy() && !c->connecting_) idle.push_back(c.get());
    // A busy connection closes after its response; a connecting one still serves the waiting
    // requests it was opened for.
    if (c->busy()) c->expired_ = true;
  }
  for (auto* c : idle) c->connection_->close(net::ConnectionCloseType::NoFlush);
}

}  // namespace remora::upstream
