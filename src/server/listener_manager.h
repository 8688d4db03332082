#pragma once

#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "envoy/admin/v3/config_dump_shared.pb.h"
#include "envoy/admin/v3/listeners.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "init/manager.h"
#include "router/rds.h"
#include "server/listener_config.h"
#include "server/options.h"
#include "server/worker.h"

namespace remora::server {

// Envoy's ListenerManager: every listener's lifecycle on the main thread — static ones from the
// bootstrap and those LDS adds, updates and removes at run time — and the listen sockets they
// own until the workers take them.
//
//  - A new listener binds (one SO_REUSEPORT socket per worker) and warms: it serves only once
//    its init targets (RDS's first response) are ready. Before the workers start, warming is
//    part of the server's init (its targets hold /ready); after, a listener warms on its own.
//  - An update with the same address keeps the listen sockets — closing a SO_REUSEPORT socket
//    would drop the connections queued on it — and, once warm, applies in place: new connections
//    get the new filter chains, open ones drain (Connection: close, GOAWAY) and are closed after
//    --drain-time-s. An update to another address binds anew and replaces the old listener.
//  - A removed listener stops accepting at once and its connections drain the same way.
//
// Stats: listener_manager.listener_added / listener_modified / listener_removed /
// listener_create_success / listener_create_failure / listener_in_place_updated and the gauges
// total_listeners_warming / total_listeners_active / total_listeners_draining.
class ListenerManager {
 public:
  ListenerManager(event::Dispatcher& dispatcher, stats::Store& stats, const Options& options,
                  init::Manager& server_init, std::vector<std::unique_ptr<Worker>>& workers,
                  router::RouteConfigProviderManager& route_providers,
                  std::function<std::set<std::string, std::less<>>()> cluster_names);
  ~ListenerManager();

  // A bootstrap listener: built (and bound unless `bind` is false, for --mode validate); an
  // error stops startup.
  Status addStaticListener(const envoy::config::listener::v3::Listener& proto, bool bind);
  // LDS: adds the listener, or updates the one of that name. An error (does not validate or
  // build, cannot bind, another listener has the address, a static listener has the name)
  // changes nothing.
  Status addOrUpdateListener(const envoy::config::listener::v3::Listener& proto,
                             const std::string& version_info);
  // LDS: removes a listener it added; false when there is none of that name.
  bool removeListener(const std::string& name);
  // The names of the listeners LDS added (active or warming), for State-of-the-World removal.
  std::vector<std::string> apiListenerNames() const;

  // The workers are running and the server's init is done: hand them every active listener.
  // From now on changes reach them as they happen.
  void startWorkers();
  // The server drains (SIGTERM, or /drain_listeners): every listener's connections wind down;
  // `stop_accepting` closes the listen sockets too. `inbound_only` as /drain_listeners?inboundonly.
  void drainListeners(bool inbound_only);
  void stopListeners(bool inbound_only);

  // What the last LDS response refused, per listener: /config_dump shows it as each dynamic
  // listener's error_state (as Envoy's), until the next response replaces the list.
  struct UpdateFailure {
    std::string name;
    envoy::config::listener::v3::Listener proto;
    std::chrono::system_clock::time_point attempted;
    std::string details;
    std::string version_info;
  };
  void setUpdateFailures(std::vector<UpdateFailure> failures) {
    update_failures_ = std::move(failures);
  }

  envoy::admin::v3::Listeners statuses() const;
  void dumpConfig(envoy::admin::v3::ListenersConfigDump& out,
                  std::chrono::system_clock::time_point static_time) const;
  size_t activeCount() const { return active_.size(); }

 private:
  // One listener generation: its config, where it listens, and the sockets it has not yet
  // handed to the workers.
  struct ListenSockets {
    std::vector<int> fds;  // per worker; -1 once a worker owns it, or when not bound
    ~ListenSockets();
  };
  struct Entry {
    envoy::config::listener::v3::Listener proto;
    ListenerConfigConstSharedPtr config;
    std::string version_info;
    std::chrono::system_clock::time_point last_updated;
    bool added_via_api = false;
    net::Address bound_address;
    std::shared_ptr<ListenSockets> sockets;
    std::unique_ptr<init::Manager> init_manager;
    std::unique_ptr<init::Target> server_target;  // warming as part of the server's init
  };
  using EntryPtr = std::unique_ptr<Entry>;
  struct Draining {
    EntryPtr entry;
    event::TimerPtr timer;
  };

  StatusOr<EntryPtr> build(const envoy::config::listener::v3::Listener& proto,
                           const Entry* existing, bool bind);
  void onWarmed(const std::string& name);
  // Hands `entry` to the workers in place of `previous` (null: a new listener).
  void activate(Entry& entry, EntryPtr previous);
  // The old generation's connections drain, then close after the drain time.
  void drainGeneration(EntryPtr entry);
  void postToWorkers(std::function<void(ConnectionHandler&, uint32_t worker)> cb);
  void updateGauges();
  const Entry* find(const std::string& name) const;

  event::Dispatcher& dispatcher_;
  stats::Store& stats_;
  const Options& options_;
  init::Manager& server_init_;
  std::vector<std::unique_ptr<Worker>>& workers_;
  router::RouteConfigProviderManager& route_providers_;
  std::function<std::set<std::string, std::less<>>()> cluster_names_;
  std::vector<std::string> order_;  // names in the order added, for stable listings
  std::map<std::string, EntryPtr> active_;
  std::map<std::string, EntryPtr> warming_;
  std::list<Draining> draining_;
  std::vector<UpdateFailure> update_failures_;
  bool workers_started_ = false;
};

}  // namespace remora::server
