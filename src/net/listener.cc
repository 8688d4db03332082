#include "net/listener.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/logger.h"

namespace remora::net {

namespace {
// Accepts per event before yielding, so one busy listener can't starve the loop.
constexpr int kAcceptsPerEvent = 64;
}  // namespace

TcpListener::TcpListener(event::Dispatcher& dispatcher, int listen_fd, AcceptCb on_accept)
    : dispatcher_(dispatcher), fd_(listen_fd), on_accept_(std::move(on_accept)) {
  file_event_ = dispatcher_.createFileEvent(
      fd_, [this](uint32_t) { onAcceptReady(); }, event::FileReadyType::Read);
}

void TcpListener::disable() { enabled_ = false; }

void TcpListener::enable() {
  if (enabled_) return;
  enabled_ = true;
  file_event_->activate(event::FileReadyType::Read);
}

void TcpListener::onAcceptReady() {
  for (int i = 0; enabled_ && i < kAcceptsPerEvent; ++i) {
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      LOG_WARN("accept failed: {}", std::strerror(errno));
      return;
    }
    on_accept_(fd);
  }
  if (enabled_) file_event_->activate(event::FileReadyType::Read);
}

}  // namespace remora::net
