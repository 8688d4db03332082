#pragma once

#include <google/protobuf/message.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>

#include "common/status.h"
#include "event/dispatcher.h"
#include "net/connection.h"
#include "stats/store.h"

namespace remora::filters::listener {

// Handed to a listener filter while an accepted socket is being inspected.
class ListenerFilterCallbacks {
 public:
  virtual ~ListenerFilterCallbacks() = default;
  virtual int fd() const = 0;
  virtual net::ConnectionInfo& info() = 0;
  virtual event::Dispatcher& dispatcher() = 0;
  // Resumes after onAccept returned StopIteration; success == false drops the socket.
  virtual void continueFilterChain(bool success) = 0;
};

// Runs on an accepted socket before a filter chain is chosen (Envoy's Network::ListenerFilter).
// Filters peek at bytes without consuming them: the chosen chain's connection reads them all.
class ListenerFilter {
 public:
  virtual ~ListenerFilter() = default;
  // Continue to go on now. StopIteration to wait: for bytes (maxReadBytes() > 0; onData follows)
  // or for the filter's own event, after which it calls continueFilterChain.
  virtual net::FilterStatus onAccept(ListenerFilterCallbacks& callbacks) = 0;
  // How many of the connection's first bytes the filter looks at, at most (Envoy's maxReadBytes).
  virtual size_t maxReadBytes() const { return 0; }
  // After onAccept stopped: the bytes received so far (peeked, at most maxReadBytes()), each time
  // more arrive. Continue when decided; StopIteration to wait for more. A peer that closes first
  // drops the socket (downstream_listener_filter_remote_close), as in Envoy.
  virtual net::FilterStatus onData(std::string_view peeked) { return net::FilterStatus::Continue; }
};
using ListenerFilterPtr = std::unique_ptr<ListenerFilter>;
using ListenerFilterFactoryCb = std::function<ListenerFilterPtr()>;

// One listener filter extension: builds its factory once, on the main thread.
class NamedListenerFilterConfigFactory {
 public:
  virtual ~NamedListenerFilterConfigFactory() = default;
  // `store`: the server's stats (listener filters' stats are rooted there, e.g. tls_inspector.*).
  virtual StatusOr<ListenerFilterFactoryCb> createFilterFactory(
      const google::protobuf::Message& config, stats::Store& store) const = 0;
};

}  // namespace remora::filters::listener
