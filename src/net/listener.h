#pragma once

#include <functional>

#include "event/dispatcher.h"
#include "net/address.h"

namespace remora::net {

// Accepts connections on one listen socket within one dispatcher. Each accepted fd (non-blocking,
// close-on-exec) goes to `on_accept`, which takes ownership.
class TcpListener {
 public:
  using AcceptCb = std::function<void(int fd)>;
  // Does not take ownership of listen_fd: the listener's owner closes it.
  TcpListener(event::Dispatcher& dispatcher, int listen_fd, AcceptCb on_accept);
  // Stops accepting (the fd stays open until its owner closes it).
  void disable();
  void enable();

 private:
  void onAcceptReady();

  event::Dispatcher& dispatcher_;
  const int fd_;
  AcceptCb on_accept_;
  event::FileEventPtr file_event_;
  bool enabled_ = true;
};

}  // namespace remora::net
