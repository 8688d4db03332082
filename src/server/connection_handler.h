#pragma once

#include <list>
#include <map>
#include <memory>
#include <string>

#include "net/connection.h"
#include "net/listener.h"
#include "server/listener_config.h"
#include "server/worker_context.h"

namespace remora::server {

// A worker's listeners and the connections they accepted. Runs listener filters on each accepted
// socket, hands connections off to the listener of their original destination (use_original_dst),
// picks the filter chain and builds its network filters. Lives on one worker thread.
class ConnectionHandler {
 public:
  explicit ConnectionHandler(WorkerContext& worker);
  ~ConnectionHandler();

  // Adds a listener; listen_fd (owned from now on) is -1 for a listener that does not bind.
  void addListener(ListenerConfigConstSharedPtr config, int listen_fd);
  // A new config for a listener of the same name and address, applied in place: its listen
  // socket (and the connections queued on it) stays; new connections get the new filter chains,
  // open ones keep theirs (the listener manager drains them).
  void updateListener(ListenerConfigConstSharedPtr config);
  // Stops accepting on the named listener and closes its socket; its connections stay until
  // they close or closeConnectionsOf() ends them.
  void removeListener(const std::string& name);
  // Closes the connections made under `config` (a replaced or removed listener's, when its
  // drain time is up).
  void closeConnectionsOf(const ListenerConfig* config);
  // Stops accepting on the listeners that match (all, or only inbound ones); open connections stay.
  void stopListeners(bool inbound_only);
  // Connections still open on this worker.
  size_t numConnections() const { return connection_count_; }
  // Closes every connection (end of the drain period).
  void closeConnections();
  // Some listeners started draining (their DrainDecision says so): tell the connections that
  // wind down at once.
  void onDrainStarted();

 private:
  struct ActiveListener;
  struct ActiveConnection;
  class ActiveSocket;

  void onAccept(ActiveListener& listener, int fd);
  void runListenerFilters(std::unique_ptr<ActiveSocket> socket);
  void onSocketDone(ActiveSocket& socket, bool success);
  ActiveListener* findHandOffTarget(const net::Address& original_destination);
  void newConnection(ActiveListener& listener, int fd, net::ConnectionInfo info);
  void removeConnection(ActiveConnection& connection);

  WorkerContext& worker_;
  std::map<std::string, std::unique_ptr<ActiveListener>> listeners_;
  // Removed listeners whose connections are still open; dropped when the last one closes.
  std::list<std::unique_ptr<ActiveListener>> removed_listeners_;
  std::list<std::unique_ptr<ActiveSocket>> pending_sockets_;
  size_t connection_count_ = 0;
};

}  // namespace remora::server
