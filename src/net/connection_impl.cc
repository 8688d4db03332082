#include "net/connection_impl.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include "common/logger.h"
#include "net/socket.h"
#include "stats/store.h"

namespace remora::net {

namespace {
std::atomic<uint64_t> next_connection_id{1};

// Bytes read per event before yielding to other connections on the loop; the event is
// re-activated so an edge is never lost.
constexpr size_t kReadBudgetPerEvent = 1024 * 1024;
constexpr size_t kReadChunk = 64 * 1024;
// Envoy's default delayed_close_timeout.
constexpr std::chrono::milliseconds kDelayedCloseTimeout{1000};
}  // namespace

ConnectionImpl::ConnectionImpl(event::Dispatcher& dispatcher, int fd, TransportSocketPtr transport,
                               bool connected)
    : id_(next_connection_id.fetch_add(1, std::memory_order_relaxed)),
      dispatcher_(dispatcher),
      fd_(fd),
      transport_(std::move(transport)),
      connecting_(!connected) {
  transport_->setFd(fd_);
  info_.local_address = localAddress(fd_);
  if (connected) info_.remote_address = peerAddress(fd_);
  info_.transport_protocol = "raw_buffer";
  write_buffer_.setWatermarks(buffer_limit_, this);
  file_event_ = dispatcher_.createFileEvent(
      fd_, [this](uint32_t events) { onFileEvent(events); },
      event::FileReadyType::Read | event::FileReadyType::Write);
  if (connected) transport_->onConnected();
}

ConnectionImpl::~ConnectionImpl() {
  if (fd_ >= 0) {
    file_event_.reset();
    ::close(fd_);
  }
}

void ConnectionImpl::addConnectionCallbacks(ConnectionCallbacks& callbacks) {
  callbacks_.push_back(&callbacks);
}

void ConnectionImpl::removeConnectionCallbacks(ConnectionCallbacks& callbacks) {
  for (auto& cb : callbacks_) {
    if (cb == &callbacks) cb = nullptr;  // erased lazily: we may be iterating
  }
}

void ConnectionImpl::addReadFilter(ReadFilterSharedPtr filter) {
  filter->initializeReadFilterCallbacks(*this);
  filters_.push_back(std::move(filter));
}

bool ConnectionImpl::initializeReadFilters() {
  if (filters_.empty()) return false;
  filters_initialized_ = true;
  next_filter_ = 0;
  continueReading();
  return true;
}

void ConnectionImpl::continueReading() {
  while (next_filter_ < filters_.size() && state_ != State::Closed) {
    FilterStatus status = filters_[next_filter_++]->onNewConnection();
    if (status == FilterStatus::StopIteration) return;
  }
  // Data may have arrived while a filter held the chain.
  if (state_ != State::Closed && !read_buffer_.empty()) dispatchRead(read_end_stream_);
}

void ConnectionImpl::setBufferLimits(uint32_t limit) {
  buffer_limit_ = limit;
  write_buffer_.setWatermarks(limit, this);
}

void ConnectionImpl::connect(const Address& remote) {
  // getpeername() has nothing to say until the connect completes, so keep the target.
  info_.remote_address = remote;
  // Completion (or failure) arrives as a Write event.
}

void ConnectionImpl::onFileEvent(uint32_t events) {
  if (state_ == State::Closed) return;
  if (connecting_) {
    if (events & (event::FileReadyType::Write | event::FileReadyType::Closed)) onConnectComplete();
    if (state_ == State::Closed || connecting_) return;
  }
  if (discarding_input_) {
    if (events & (event::FileReadyType::Read | event::FileReadyType::Closed)) discardInput();
    return;
  }
  if (events & event::FileReadyType::Write) onWriteReady();
  if (state_ == State::Closed) return;
  if (events & event::FileReadyType::Closed) peer_closed_seen_ = true;
  if (events & (event::FileReadyType::Read | event::FileReadyType::Closed)) onReadReady();
}

void ConnectionImpl::onConnectComplete() {
  int err = socketError(fd_);
  if (err != 0) {
    LOG_DEBUG("[C{}] connect to {} failed: {}", id_, info_.remote_address.asString(),
              strerror(err));
    failure_reason_ = std::string("delayed connect error: ") + strerror(err);
    closeSocket(ConnectionEvent::RemoteClose);
    return;
  }
  connecting_ = false;
  info_.remote_address = peerAddress(fd_);
  info_.local_address = localAddress(fd_);
  transport_->onConnected();
  raiseEvent(ConnectionEvent::Connected);
  if (state_ != State::Closed) flushWrites();
}

void ConnectionImpl::onReadReady() {
  if (read_disable_count_ > 0 || read_end_stream_ || state_ != State::Open) return;
  size_t budget = kReadBudgetPerEvent;
  while (state_ == State::Open && read_disable_count_ == 0) {
    size_t max = std::min<size_t>(kReadChunk, buffer_limit_ > 0 ? buffer_limit_ : kReadChunk);
    buffer::IoResult result = transport_->doRead(read_buffer_, max);
    if (result.bytes > 0 && byte_stats_.rx_total) byte_stats_.rx_total->inc(result.bytes);
    if (result.failed()) {
      LOG_DEBUG("[C{}] read error: {}", id_, strerror(result.error));
      closeSocket(ConnectionEvent::RemoteClose);
      return;
    }
    if (result.end_of_stream) {
      read_end_stream_ = true;
      if (!half_close_) {
        if (!read_buffer_.empty()) dispatchRead(false);
        if (state_ != State::Closed) closeSocket(ConnectionEvent::RemoteClose);
        return;
      }
      dispatchRead(true);
      maybeFinishHalfClose(ConnectionEvent::RemoteClose);
      return;
    }
    if (result.bytes > 0) dispatchRead(false);
    if (result.wouldBlock()) return;
    // A short read emptied the socket: data arriving later raises a new edge, so a read that
    // would only return EAGAIN is skipped (one syscall per event saved on small requests).
    if (result.bytes < result.requested && !peer_closed_seen_) return;
    if (result.bytes >= budget) {
      file_event_->activate(event::FileReadyType::Read);  // yield; resume next iteration
      return;
    }
    budget -= result.bytes;
  }
}

void ConnectionImpl::dispatchRead(bool end_stream) {
  if (!filters_initialized_ || next_filter_ < filters_.size()) return;  // chain still held
  for (auto& filter : filters_) {
    if (state_ == State::Closed) return;
    if (filter->onData(read_buffer_, end_stream) == FilterStatus::StopIteration) return;
  }
}

void ConnectionImpl::write(buffer::Buffer& data, bool end_stream) {
  if (state_ != State::Open || write_end_stream_) {
    data.drain(data.length());
    return;
  }
  write_buffer_.move(data);
  // A watermark callback fired by the move may have closed the connection.
  if (state_ == State::Closed) return;
  if (end_stream) write_end_stream_ = true;
  // Flushed once the current event batch is done, so a response's headers and body written in
  // separate calls leave in one writev.
  if (!connecting_) file_event_->activate(event::FileReadyType::Write);
}

void ConnectionImpl::onWriteReady() { flushWrites(); }

void ConnectionImpl::flushWrites() {
  while (!write_buffer_.empty()) {
    buffer::IoResult result = transport_->doWrite(write_buffer_);
    bytes_sent_ += result.bytes;
    if (result.bytes > 0 && byte_stats_.tx_total) byte_stats_.tx_total->inc(result.bytes);
    if (result.failed()) {
      LOG_DEBUG("[C{}] write error: {}", id_, strerror(result.error));
      readBeforeReset();
      closeSocket(ConnectionEvent::RemoteClose);
      return;
    }
    if (result.bytes > 0 && state_ == State::Closing && delayed_close_timer_) {
      delayed_close_timer_->enableTimer(kDelayedCloseTimeout);
    }
    if (result.wouldBlock()) return;  // EPOLLOUT will call us again
  }
  if (state_ == State::Closing) {
    if (delay_close_) {
      startDelayedClose();
    } else {
      closeSocket(ConnectionEvent::LocalClose);
    }
    return;
  }
  if (write_end_stream_ && !write_shutdown_) {
    ::shutdown(fd_, SHUT_WR);
    write_shutdown_ = true;
    maybeFinishHalfClose(ConnectionEvent::LocalClose);
  }
}

void ConnectionImpl::readBeforeReset() {
  // A peer that answers early and resets (an HTTP server refusing an upload with 413, then
  // closing with the body unread) leaves its answer readable in our socket: the kernel keeps
  // received bytes across the RST. Deliver them before reporting the close, or the answer is lost
  // to the write error. Bounded: one buffer limit's worth, and only while reading is enabled.
  size_t budget = buffer_limit_ > 0 ? buffer_limit_ : kReadChunk;
  while (state_ == State::Open && read_disable_count_ == 0 && !read_end_stream_ && budget > 0) {
    buffer::IoResult result = transport_->doRead(read_buffer_, std::min(kReadChunk, budget));
    if (result.bytes > 0 && byte_stats_.rx_total) byte_stats_.rx_total->inc(result.bytes);
    if (result.bytes > 0) dispatchRead(false);
    if (result.failed() || result.end_of_stream || result.wouldBlock() || result.bytes == 0) return;
    budget -= std::min(budget, result.bytes);
  }
}

void ConnectionImpl::maybeFinishHalfClose(ConnectionEvent event) {
  if (state_ == State::Open && read_end_stream_ && write_shutdown_) closeSocket(event);
}

void ConnectionImpl::close(ConnectionCloseType type) {
  if (state_ == State::Closed) return;
  if (type == ConnectionCloseType::NoFlush || connecting_) {
    closeSocket(ConnectionEvent::LocalClose);
    return;
  }
  if (state_ == State::Closing) return;  // already flushing towards a close
  // Flush first; reading stops so nothing new arrives for filters that are done.
  state_ = State::Closing;
  ++read_disable_count_;
  delay_close_ = type == ConnectionCloseType::FlushWriteAndDelay;
  if (write_buffer_.empty()) {
    flushWrites();
  } else {
    // As Envoy's delayed_close_timeout bounds the flush: a peer that stops reading cannot hold
    // the connection open; every write that makes progress restarts the wait.
    delayed_close_timer_ =
        dispatcher_.createTimer([this] { closeSocket(ConnectionEvent::LocalClose); });
    delayed_close_timer_->enableTimer(kDelayedCloseTimeout);
    file_event_->activate(event::FileReadyType::Write);
  }
}

void ConnectionImpl::startDelayedClose() {
  if (!write_shutdown_) {
    ::shutdown(fd_, SHUT_WR);
    write_shutdown_ = true;
  }
  if (read_end_stream_) {  // the peer is gone already: nothing to wait for
    closeSocket(ConnectionEvent::LocalClose);
    return;
  }
  discarding_input_ = true;
  delayed_close_timer_ =
      dispatcher_.createTimer([this] { closeSocket(ConnectionEvent::LocalClose); });
  delayed_close_timer_->enableTimer(kDelayedCloseTimeout);
  discardInput();  // input that arrived before now raised its edge already
}

void ConnectionImpl::discardInput() {
  char scratch[16 * 1024];
  for (int i = 0; i < 64; ++i) {  // bounded per event; the edge re-arms on new data
    ssize_t n = ::recv(fd_, scratch, sizeof(scratch), 0);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    closeSocket(ConnectionEvent::LocalClose);  // EOF or error: the peer has what we sent
    return;
  }
  file_event_->activate(event::FileReadyType::Read);
}

void ConnectionImpl::readDisable(bool disable) {
  if (state_ == State::Closed) return;
  if (disable) {
    ++read_disable_count_;
    return;
  }
  if (read_disable_count_ == 0) return;
  if (--read_disable_count_ == 0 && state_ == State::Open) {
    // Edge-triggered: data that arrived while disabled raised its edge already.
    file_event_->activate(event::FileReadyType::Read);
  }
}

void ConnectionImpl::onAboveHighWatermark() {
  for (auto* cb : callbacks_) {
    if (cb) cb->onAboveWriteBufferHighWatermark();
  }
}

void ConnectionImpl::onBelowLowWatermark() {
  for (auto* cb : callbacks_) {
    if (cb) cb->onBelowWriteBufferLowWatermark();
  }
}

void ConnectionImpl::closeSocket(ConnectionEvent event) {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  discarding_input_ = false;
  delayed_close_timer_.reset();
  file_event_.reset();
  ::close(fd_);
  fd_ = -1;
  // Drop buffered bytes without watermark callbacks: nobody may act on a closed connection.
  write_buffer_.setWatermarks(0, nullptr);
  write_buffer_.drain(write_buffer_.length());
  raiseEvent(event);
}

void ConnectionImpl::raiseEvent(ConnectionEvent event) {
  for (auto* cb : callbacks_) {
    if (cb) cb->onEvent(event);
  }
  callbacks_.remove(nullptr);
}

}  // namespace remora::net
