#pragma once

#include <google/protobuf/message.h>

#include <functional>
#include <memory>

#include "common/status.h"
#include "event/dispatcher.h"
#include "net/connection.h"

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
// Filters peek at bytes without consuming them.
class ListenerFilter {
 public:
  virtual ~ListenerFilter() = default;
  // Continue to go on now; StopIteration to wait (e.g. for bytes) and call continueFilterChain.
  virtual net::FilterStatus onAccept(ListenerFilterCallbacks& callbacks) = 0;
};
using ListenerFilterPtr = std::unique_ptr<ListenerFilter>;
using ListenerFilterFactoryCb = std::function<ListenerFilterPtr()>;

// One listener filter extension: builds its factory once, on the main thread.
class NamedListenerFilterConfigFactory {
 public:
  virtual ~NamedListenerFilterConfigFactory() = default;
  virtual StatusOr<ListenerFilterFactoryCb> createFilterFactory(
      const google::protobuf::Message& config) const = 0;
};

}  // namespace remora::filters::listener
