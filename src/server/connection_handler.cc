#include "server/connection_handler.h"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/logger.h"
#include "net/connection_impl.h"
#include "net/socket.h"
#include "server/drain_decision.h"

namespace remora::server {

struct ConnectionHandler::ActiveListener {
  ListenerConfigConstSharedPtr config;
  int fd = -1;
  std::unique_ptr<net::TcpListener> listener;
  std::list<std::unique_ptr<ActiveConnection>> connections;
  bool removed = false;
  std::list<std::unique_ptr<ActiveListener>>::iterator removed_position;

  ~ActiveListener() {
    listener.reset();
    if (fd >= 0) ::close(fd);
  }
};

// A downstream connection and its bookkeeping; removed when the connection closes.
struct ConnectionHandler::ActiveConnection : public net::ConnectionCallbacks {
  ActiveConnection(ConnectionHandler& handler, ActiveListener& listener,
                   net::ConnectionPtr connection)
      : handler_(handler),
        listener_(listener),
        config_(listener.config),
        connection_(std::move(connection)),
        connected_at_(handler.worker_.dispatcher.now()) {}
  void onEvent(net::ConnectionEvent event) override {
    if (event == net::ConnectionEvent::Connected) return;
    handler_.removeConnection(*this);
  }
  ConnectionHandler& handler_;
  ActiveListener& listener_;
  // The config it was made under: an in-place update leaves it on its filter chain.
  const ListenerConfigConstSharedPtr config_;
  net::ConnectionPtr connection_;
  const event::MonotonicTime connected_at_;  // for downstream_cx_length_ms
  std::list<std::unique_ptr<ActiveConnection>>::iterator position_;
};

// An accepted socket while its listener filters run.
class ConnectionHandler::ActiveSocket : public filters::listener::ListenerFilterCallbacks {
 public:
  ActiveSocket(ConnectionHandler& handler, ActiveListener& listener, int fd, bool hand_off)
      : handler_(handler), listener_(&listener), fd_(fd), hand_off_(hand_off) {
    info_.local_address = net::localAddress(fd);
    info_.remote_address = net::peerAddress(fd);
    info_.transport_protocol = "raw_buffer";
    for (const auto& factory : listener.config->listenerFilters()) filters_.push_back(factory());
  }
  ~ActiveSocket() override {
    // Unregister before closing: the fd number may be reused by the next accept.
    file_event_.reset();
    if (fd_ >= 0) ::close(fd_);
  }

  int fd() const override { return fd_; }
  net::ConnectionInfo& info() override { return info_; }
  event::Dispatcher& dispatcher() override { return handler_.worker_.dispatcher; }
  void continueFilterChain(bool success) override {
    if (done_) return;
    if (!success) {
      listener_->config->stats().downstream_listener_filter_error.inc();
      finish(false);
      return;
    }
    runFrom(next_filter_);
  }

  // Runs filters from `index`; finishes when all have continued.
  void runFrom(size_t index) {
    for (next_filter_ = index; next_filter_ < filters_.size();) {
      auto& filter = filters_[next_filter_++];
      if (filter->onAccept(*this) == net::FilterStatus::StopIteration) {
        if (done_) return;
        armTimeout();
        if (filter->maxReadBytes() > 0) waitForData();
        return;
      }
    }
    finish(true);
  }

  int releaseFd() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  ActiveListener& listener() { return *listener_; }
  bool handOff() const { return hand_off_; }
  std::list<std::unique_ptr<ActiveSocket>>::iterator position_;

 private:
  // One deadline for the whole listener filter chain, as Envoy: armed when a filter first stops.
  void armTimeout() {
    auto timeout = listener_->config->listenerFiltersTimeout();
    if (timeout.count() == 0) return;  // 0 disables the timeout, as in Envoy
    if (timer_ && timer_->enabled()) return;
    if (!timer_) {
      timer_ = handler_.worker_.dispatcher.createTimer([this] {
        listener_->config->stats().downstream_pre_cx_timeout.inc();
        // The filter that was waiting is skipped: it decided nothing.
        if (resume_) resume_->disableTimer();
        file_event_.reset();
        if (listener_->config->continueOnListenerFiltersTimeout()) {
          runFrom(next_filter_);
        } else {
          finish(false);
        }
      });
    }
    timer_->enableTimer(timeout);
  }

  // The filter that stopped (filters_[next_filter_ - 1]) wants bytes: peek whenever more arrive.
  void waitForData() {
    file_event_ = handler_.worker_.dispatcher.createFileEvent(
        fd_, [this](uint32_t) { onReadable(); },
        event::FileReadyType::Read | event::FileReadyType::Closed);
  }

  void onReadable() {
    auto& filter = filters_[next_filter_ - 1];
    // Peek only what is there, up to what the filter looks at: no buffer of the maximum per socket.
    int available = 0;
    if (::ioctl(fd_, FIONREAD, &available) != 0) available = 0;
    const size_t want = std::min<size_t>(std::max(available, 1), filter->maxReadBytes());
    peek_buffer_.resize(want);
    const ssize_t n = ::recv(fd_, peek_buffer_.data(), want, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n <= 0) {
      // The peer closed (or the socket failed) before the filters decided: Envoy drops it.
      (n == 0 ? listener_->config->stats().downstream_listener_filter_remote_close
              : listener_->config->stats().downstream_listener_filter_error)
          .inc();
      finish(false);
      return;
    }
    if (static_cast<size_t>(n) == peeked_) return;  // an edge without new bytes
    peeked_ = static_cast<size_t>(n);
    const net::FilterStatus status = filter->onData(std::string_view(peek_buffer_.data(), peeked_));
    if (done_) return;  // the filter gave up on the socket
    if (status == net::FilterStatus::StopIteration) {
      if (peeked_ < filter->maxReadBytes()) return;
      // Undecided with all it looks at: a filter bug; go on rather than hang until the timeout.
      LOG_DEBUG("listener {}: a listener filter did not decide within {} bytes",
                listener_->config->name(), peeked_);
    }
    // The file event is running this callback: leave it, and go on from the next loop turn.
    peeked_ = 0;
    if (!resume_) {
      resume_ = handler_.worker_.dispatcher.createTimer([this] {
        file_event_.reset();
        peek_buffer_ = std::string();
        runFrom(next_filter_);
      });
    }
    resume_->enableTimer(std::chrono::milliseconds(0));
  }

  void finish(bool success) {
    if (timer_) timer_->disableTimer();
    if (resume_) resume_->disableTimer();
    done_ = true;
    // The connection registers the fd next: ours must be gone (only a closed fd may keep it).
    if (success) file_event_.reset();
    handler_.onSocketDone(*this, success);
  }

  ConnectionHandler& handler_;
  ActiveListener* listener_;
  int fd_;
  bool hand_off_;
  net::ConnectionInfo info_;
  std::vector<filters::listener::ListenerFilterPtr> filters_;
  size_t next_filter_ = 0;
  event::TimerPtr timer_;
  event::FileEventPtr file_event_;
  event::TimerPtr resume_;
  std::string peek_buffer_;
  size_t peeked_ = 0;
  bool done_ = false;
};

ConnectionHandler::ConnectionHandler(WorkerContext& worker) : worker_(worker) {}

ConnectionHandler::~ConnectionHandler() {
  pending_sockets_.clear();
  closeConnections();
}

void ConnectionHandler::addListener(ListenerConfigConstSharedPtr config, int listen_fd) {
  auto active = std::make_unique<ActiveListener>();
  active->config = std::move(config);
  active->fd = listen_fd;
  ActiveListener* raw = active.get();
  if (listen_fd >= 0) {
    active->listener = std::make_unique<net::TcpListener>(
        worker_.dispatcher, listen_fd, [this, raw](int fd) { onAccept(*raw, fd); });
  }
  listeners_[active->config->name()] = std::move(active);
}

void ConnectionHandler::updateListener(ListenerConfigConstSharedPtr config) {
  auto it = listeners_.find(config->name());
  if (it == listeners_.end()) return;
  it->second->config = std::move(config);
}

void ConnectionHandler::removeListener(const std::string& name) {
  auto it = listeners_.find(name);
  if (it == listeners_.end()) return;
  std::unique_ptr<ActiveListener> listener = std::move(it->second);
  listeners_.erase(it);
  listener->listener.reset();
  if (listener->fd >= 0) {
    ::close(listener->fd);
    listener->fd = -1;
  }
  // Sockets still in its listener filters go with it (they are not connections yet).
  for (auto it = pending_sockets_.begin(); it != pending_sockets_.end();) {
    if (&(*it)->listener() == listener.get()) {
      listener->config->stats().downstream_pre_cx_active.dec();
      it = pending_sockets_.erase(it);
    } else {
      ++it;
    }
  }
  if (listener->connections.empty()) return;
  listener->removed = true;
  removed_listeners_.push_front(std::move(listener));
  removed_listeners_.front()->removed_position = removed_listeners_.begin();
}

void ConnectionHandler::closeConnectionsOf(const ListenerConfig* config) {
  auto closeIn = [config](ActiveListener& listener) {
    std::vector<ActiveConnection*> due;
    for (auto& connection : listener.connections) {
      if (connection->config_.get() == config) due.push_back(connection.get());
    }
    for (ActiveConnection* connection : due) {
      connection->connection_->close(net::ConnectionCloseType::NoFlush);
    }
  };
  for (auto& [name, listener] : listeners_) closeIn(*listener);
  // Closing the last connection of a removed listener erases it: walk a copy.
  std::vector<ActiveListener*> removed;
  for (auto& listener : removed_listeners_) removed.push_back(listener.get());
  for (ActiveListener* listener : removed) closeIn(*listener);
}

void ConnectionHandler::stopListeners(bool inbound_only) {
  for (auto& [name, listener] : listeners_) {
    if (inbound_only && !listener->config->inbound()) continue;
    listener->listener.reset();
    if (listener->fd >= 0) {
      ::close(listener->fd);
      listener->fd = -1;
    }
  }
}

void ConnectionHandler::onDrainStarted() { worker_.drain_callbacks.notify(); }

void ConnectionHandler::closeConnections() {
  for (auto& [name, listener] : listeners_) {
    while (!listener->connections.empty()) {
      // Closing raises LocalClose, whose callback removes the entry.
      listener->connections.front()->connection_->close(net::ConnectionCloseType::NoFlush);
    }
  }
  while (!removed_listeners_.empty()) {
    // The last close erases the removed listener.
    removed_listeners_.front()->connections.front()->connection_->close(
        net::ConnectionCloseType::NoFlush);
  }
}

void ConnectionHandler::onAccept(ActiveListener& listener, int fd) {
  auto socket =
      std::make_unique<ActiveSocket>(*this, listener, fd, listener.config->useOriginalDst());
  runListenerFilters(std::move(socket));
}

void ConnectionHandler::runListenerFilters(std::unique_ptr<ActiveSocket> socket) {
  ActiveSocket& ref = *socket;
  ref.listener().config->stats().downstream_pre_cx_active.inc();
  pending_sockets_.push_front(std::move(socket));
  ref.position_ = pending_sockets_.begin();
  ref.runFrom(0);
}

void ConnectionHandler::onSocketDone(ActiveSocket& socket, bool success) {
  ActiveListener& listener = socket.listener();
  listener.config->stats().downstream_pre_cx_active.dec();
  std::unique_ptr<ActiveSocket> owned = std::move(*socket.position_);
  pending_sockets_.erase(socket.position_);
  // The socket may be running inside its own callback: destroy it after this event.
  struct Holder : event::DeferredDeletable {
    std::unique_ptr<ActiveSocket> socket;
  };
  auto holder = std::make_unique<Holder>();
  if (success) {
    net::ConnectionInfo info = owned->info();
    ActiveListener* target = &listener;
    if (owned->handOff() && info.local_address_restored) {
      ActiveListener* found = findHandOffTarget(info.local_address);
      if (found != nullptr && found != &listener) {
        // Envoy runs the target listener's own listener filters, without a second hand-off.
        auto moved = std::make_unique<ActiveSocket>(*this, *found, owned->releaseFd(), false);
        moved->info() = info;
        holder->socket = std::move(owned);
        worker_.dispatcher.deferredDelete(std::move(holder));
        runListenerFilters(std::move(moved));
        return;
      }
    }
    newConnection(*target, owned->releaseFd(), std::move(info));
  }
  holder->socket = std::move(owned);
  worker_.dispatcher.deferredDelete(std::move(holder));
}

ConnectionHandler::ActiveListener* ConnectionHandler::findHandOffTarget(
    const net::Address& destination) {
  ActiveListener* wildcard = nullptr;
  for (auto& [name, listener] : listeners_) {
    const net::Address& address = listener->config->address();
    if (address == destination) return listener.get();
    if (wildcard == nullptr && address.port() == destination.port() &&
        address.family() == destination.family() && address.isAnyAddress()) {
      wildcard = listener.get();
    }
  }
  return wildcard;
}

void ConnectionHandler::newConnection(ActiveListener& listener, int fd, net::ConnectionInfo info) {
  const ListenerConfig& config = *listener.config;
  const FilterChainConfig* chain = config.findFilterChain(info);
  if (chain == nullptr) {
    config.stats().no_filter_chain_match.inc();
    LOG_DEBUG("listener {}: no filter chain matches {} -> {}", config.name(),
              info.remote_address.asString(), info.local_address.asString());
    ::close(fd);
    return;
  }
  net::setNoDelay(fd);
  auto connection = std::make_unique<net::ConnectionImpl>(
      worker_.dispatcher, fd, chain->transport_socket_factory->create(), true);
  connection->info() = std::move(info);
  connection->setBufferLimits(config.bufferLimit());
  config.stats().downstream_cx_total.inc();
  config.stats().downstream_cx_active.inc();
  ++connection_count_;

  auto active = std::make_unique<ActiveConnection>(*this, listener, std::move(connection));
  ActiveConnection& ref = *active;
  listener.connections.push_front(std::move(active));
  ref.position_ = listener.connections.begin();
  ref.connection_->addConnectionCallbacks(ref);
  for (const auto& factory : chain->filter_factories) factory(*ref.connection_, worker_);
  if (!ref.connection_->initializeReadFilters()) {
    // A chain without filters has nothing to do with the bytes.
    ref.connection_->close(net::ConnectionCloseType::NoFlush);
  }
}

void ConnectionHandler::removeConnection(ActiveConnection& active) {
  const ListenerConfig& config = *active.config_;
  config.stats().downstream_cx_length_ms.recordMilliseconds(worker_.dispatcher.now() -
                                                            active.connected_at_);
  config.stats().downstream_cx_active.dec();
  config.stats().downstream_cx_destroy.inc();
  --connection_count_;
  worker_.dispatcher.deferredDelete(std::move(active.connection_));
  ActiveListener& listener = active.listener_;
  listener.connections.erase(active.position_);  // destroys `active`
  if (listener.removed && listener.connections.empty()) {
    removed_listeners_.erase(listener.removed_position);
  }
}

}  // namespace remora::server
