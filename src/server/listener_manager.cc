#include "server/listener_manager.h"

#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>
#include <unistd.h>

#include <algorithm>

#include "common/logger.h"
#include "net/socket.h"

namespace remora::server {

namespace {

google::protobuf::Timestamp toTimestamp(std::chrono::system_clock::time_point t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

}  // namespace

ListenerManager::ListenSockets::~ListenSockets() {
  for (int fd : fds) {
    if (fd >= 0) ::close(fd);
  }
}

ListenerManager::ListenerManager(event::Dispatcher& dispatcher, stats::Store& stats,
                                 const Options& options, init::Manager& server_init,
                                 std::vector<std::unique_ptr<Worker>>& workers,
                                 router::RouteConfigProviderManager& route_providers,
                                 std::function<std::set<std::string, std::less<>>()> cluster_names)
    : dispatcher_(dispatcher),
      stats_(stats),
      options_(options),
      server_init_(server_init),
      workers_(workers),
      route_providers_(route_providers),
      cluster_names_(std::move(cluster_names)) {
  // Envoy's listener_manager stats exist from the start, zero until something happens.
  for (const char* name :
       {"listener_added", "listener_modified", "listener_removed", "listener_create_success",
        "listener_create_failure", "listener_in_place_updated"}) {
    stats_.counter(std::string("listener_manager.") + name);
  }
  updateGauges();
}

ListenerManager::~ListenerManager() = default;

const ListenerManager::Entry* ListenerManager::find(const std::string& name) const {
  if (auto it = warming_.find(name); it != warming_.end()) return it->second.get();
  if (auto it = active_.find(name); it != active_.end()) return it->second.get();
  return nullptr;
}

StatusOr<ListenerManager::EntryPtr> ListenerManager::build(
    const envoy::config::listener::v3::Listener& proto, const Entry* existing, bool bind) {
  auto entry = std::make_unique<Entry>();
  entry->proto = proto;
  entry->last_updated = std::chrono::system_clock::now();
  entry->init_manager = std::make_unique<init::Manager>("Listener " + proto.name());
  auto config = ListenerConfig::create(proto, stats_, cluster_names_(), &route_providers_,
                                       entry->init_manager.get());
  if (!config.ok()) return config.status();
  entry->config = std::move(config).value();
  entry->bound_address = entry->config->address();

  // Another listener already listening there would share its connections (SO_REUSEPORT).
  auto sameAddress = [](const net::Address& a, const net::Address& b) {
    return a == b && a.port() != 0;
  };
  for (const auto* table : {&active_, &warming_}) {
    for (const auto& [name, other] : *table) {
      if (name != proto.name() && other->config->bindToPort() && entry->config->bindToPort() &&
          (sameAddress(other->config->address(), entry->config->address()) ||
           sameAddress(other->bound_address, entry->config->address()))) {
        return Status::error("listener '" + proto.name() + "' has the same address " +
                             entry->config->address().asString() + " as listener '" + name + "'");
      }
    }
  }
  // Same address as the generation it replaces: its sockets carry over (port 0 included: the
  // port the kernel chose stays).
  if (existing != nullptr && existing->config->address() == entry->config->address() &&
      existing->config->bindToPort() == entry->config->bindToPort()) {
    entry->sockets = existing->sockets;
    entry->bound_address = existing->bound_address;
    return entry;
  }
  entry->sockets = std::make_shared<ListenSockets>();
  entry->sockets->fds.assign(options_.concurrency, -1);
  if (!bind || !entry->config->bindToPort()) return entry;
  for (uint32_t w = 0; w < options_.concurrency; ++w) {
    // Bound now (a taken port fails at once), listening once activated: during the server's
    // init a connection is refused, as Envoy's.
    auto fd = net::createBoundSocket(entry->bound_address, true,
                                     proto.address().socket_address().ipv4_compat());
    if (!fd.ok()) return Status::error("listener '" + proto.name() + "': " + fd.status().message());
    entry->sockets->fds[w] = *fd;
    // Port 0: the kernel chose one; the other workers must share it.
    if (w == 0 && entry->bound_address.port() == 0) entry->bound_address = net::localAddress(*fd);
  }
  return entry;
}

Status ListenerManager::addStaticListener(const envoy::config::listener::v3::Listener& proto,
                                          bool bind) {
  auto entry = build(proto, nullptr, bind);
  if (!entry.ok()) return entry.status();
  Entry& ref = **entry;
  // Static listeners warm with the server: their RDS holds /ready.
  ref.server_target = std::make_unique<init::Target>(
      "Listener " + proto.name(), [manager = ref.init_manager.get(), &ref] {
        manager->initialize([&ref] { ref.server_target->ready(); });
      });
  server_init_.add(*ref.server_target);
  order_.push_back(proto.name());
  active_[proto.name()] = std::move(*entry);
  stats_.counter("listener_manager.listener_added").inc();
  updateGauges();
  return Status();
}

Status ListenerManager::addOrUpdateListener(const envoy::config::listener::v3::Listener& proto,
                                            const std::string& version_info) {
  const Entry* existing = find(proto.name());
  if (existing != nullptr && !existing->added_via_api) {
    return Status::error("listener '" + proto.name() + "': cannot update a static listener");
  }
  if (existing != nullptr &&
      google::protobuf::util::MessageDifferencer::Equals(existing->proto, proto)) {
    return Status();  // unchanged: Envoy skips it
  }
  // The active generation is the one whose sockets an update can keep.
  const Entry* socket_source = existing;
  if (auto it = active_.find(proto.name()); it != active_.end()) socket_source = it->second.get();
  auto built = build(proto, socket_source, true);
  if (!built.ok()) return built.status();
  EntryPtr entry = std::move(built).value();
  entry->added_via_api = true;
  entry->version_info = version_info;
  const std::string name = proto.name();
  stats_
      .counter(existing == nullptr ? "listener_manager.listener_added"
                                   : "listener_manager.listener_modified")
      .inc();
  if (existing == nullptr) order_.push_back(name);
  LOG_INFO("lds: {} listener '{}' (version {})", existing == nullptr ? "adding" : "updating", name,
           version_info);

  if (!workers_started_) {
    // Still starting: it warms as part of the server's init and starts with the others.
    Entry& ref = *entry;
    ref.server_target = std::make_unique<init::Target>(
        "Listener " + name, [manager = ref.init_manager.get(), &ref] {
          manager->initialize([&ref] { ref.server_target->ready(); });
        });
    active_[name] = std::move(entry);
    server_init_.add(*active_[name]->server_target);
    updateGauges();
    return Status();
  }
  Entry* raw = entry.get();
  warming_[name] = std::move(entry);  // replaces a generation still warming
  updateGauges();
  raw->init_manager->initialize([this, name, raw] {
    auto it = warming_.find(name);
    if (it == warming_.end() || it->second.get() != raw) return;  // replaced meanwhile
    onWarmed(name);
  });
  return Status();
}

void ListenerManager::onWarmed(const std::string& name) {
  auto it = warming_.find(name);
  EntryPtr entry = std::move(it->second);
  warming_.erase(it);
  EntryPtr previous;
  if (auto old = active_.find(name); old != active_.end()) previous = std::move(old->second);
  Entry& ref = *entry;
  active_[name] = std::move(entry);
  activate(ref, std::move(previous));
  updateGauges();
}

void ListenerManager::activate(Entry& entry, EntryPtr previous) {
  ListenerConfigConstSharedPtr config = entry.config;
  if (previous != nullptr && previous->sockets == entry.sockets) {
    // Same sockets: the workers swap the filter chains in place.
    postToWorkers(
        [config](ConnectionHandler& handler, uint32_t) { handler.updateListener(config); });
    stats_.counter("listener_manager.listener_in_place_updated").inc();
    drainGeneration(std::move(previous));
    return;
  }
  if (previous != nullptr) {
    const std::string name = previous->proto.name();
    postToWorkers([name](ConnectionHandler& handler, uint32_t) { handler.removeListener(name); });
    drainGeneration(std::move(previous));
  }
  std::vector<int> fds = entry.sockets->fds;
  std::fill(entry.sockets->fds.begin(), entry.sockets->fds.end(), -1);  // the workers own them
  for (int fd : fds) {
    if (fd < 0) continue;
    if (Status listening = net::startListening(fd); !listening.ok()) {
      LOG_ERROR("listener '{}': cannot listen: {}", entry.proto.name(), listening.message());
    }
  }
  postToWorkers([config, fds](ConnectionHandler& handler, uint32_t worker) {
    handler.addListener(config, fds[worker]);
  });
  stats_.counter("listener_manager.listener_create_success").inc(workers_.size());
}

void ListenerManager::drainGeneration(EntryPtr entry) {
  entry->config->drainDecision().startDraining();
  postToWorkers([](ConnectionHandler& handler, uint32_t) { handler.onDrainStarted(); });
  draining_.push_back(Draining{std::move(entry), nullptr});
  auto position = std::prev(draining_.end());
  position->timer = dispatcher_.createTimer([this, position] {
    const ListenerConfig* config = position->entry->config.get();
    // The connections still open after the drain time are closed, as Envoy's.
    postToWorkers(
        [config](ConnectionHandler& handler, uint32_t) { handler.closeConnectionsOf(config); });
    // Not from inside its own timer: the entry (and the timer) go on the next loop turn.
    dispatcher_.post([this, position] {
      draining_.erase(position);
      route_providers_.collectUnused();
      updateGauges();
    });
  });
  position->timer->enableTimer(
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.drain_time));
  updateGauges();
}

bool ListenerManager::removeListener(const std::string& name) {
  if (auto it = warming_.find(name); it != warming_.end()) {
    if (!it->second->added_via_api) return false;
    warming_.erase(it);
    if (active_.count(name) == 0) {
      order_.erase(std::remove(order_.begin(), order_.end(), name), order_.end());
      stats_.counter("listener_manager.listener_removed").inc();
      updateGauges();
      return true;
    }
  }
  auto it = active_.find(name);
  if (it == active_.end() || !it->second->added_via_api) return false;
  EntryPtr entry = std::move(it->second);
  active_.erase(it);
  order_.erase(std::remove(order_.begin(), order_.end(), name), order_.end());
  stats_.counter("listener_manager.listener_removed").inc();
  LOG_INFO("lds: removing listener '{}'", name);
  if (workers_started_) {
    postToWorkers([name](ConnectionHandler& handler, uint32_t) { handler.removeListener(name); });
    drainGeneration(std::move(entry));
  }
  updateGauges();
  return true;
}

std::vector<std::string> ListenerManager::apiListenerNames() const {
  std::vector<std::string> names;
  for (const auto* table : {&active_, &warming_}) {
    for (const auto& [name, entry] : *table) {
      if (entry->added_via_api && std::find(names.begin(), names.end(), name) == names.end()) {
        names.push_back(name);
      }
    }
  }
  return names;
}

void ListenerManager::startWorkers() {
  workers_started_ = true;
  for (const auto& name : order_) {
    auto it = active_.find(name);
    if (it != active_.end()) activate(*it->second, nullptr);
  }
  updateGauges();
}

void ListenerManager::drainListeners(bool inbound_only) {
  for (const auto& [name, entry] : active_) {
    if (!inbound_only || entry->config->inbound()) entry->config->drainDecision().startDraining();
  }
  postToWorkers([](ConnectionHandler& handler, uint32_t) { handler.onDrainStarted(); });
}

void ListenerManager::stopListeners(bool inbound_only) {
  postToWorkers([inbound_only](ConnectionHandler& handler, uint32_t) {
    handler.stopListeners(inbound_only);
  });
}

void ListenerManager::postToWorkers(std::function<void(ConnectionHandler&, uint32_t)> cb) {
  for (uint32_t w = 0; w < workers_.size(); ++w) {
    workers_[w]->post([cb, w](ConnectionHandler& handler, upstream::ThreadLocalClusterManager&) {
      cb(handler, w);
    });
  }
}

void ListenerManager::updateGauges() {
  stats_.gauge("listener_manager.total_listeners_active").set(static_cast<int64_t>(active_.size()));
  stats_.gauge("listener_manager.total_listeners_warming")
      .set(static_cast<int64_t>(warming_.size()));
  stats_.gauge("listener_manager.total_listeners_draining")
      .set(static_cast<int64_t>(draining_.size()));
}

envoy::admin::v3::Listeners ListenerManager::statuses() const {
  envoy::admin::v3::Listeners out;
  for (const auto& name : order_) {
    auto it = active_.find(name);
    if (it == active_.end()) continue;
    auto* status = out.add_listener_statuses();
    status->set_name(name);
    auto* sa = status->mutable_local_address()->mutable_socket_address();
    sa->set_address(it->second->bound_address.ip());
    sa->set_port_value(it->second->bound_address.port());
  }
  return out;
}

void ListenerManager::dumpConfig(envoy::admin::v3::ListenersConfigDump& out,
                                 std::chrono::system_clock::time_point static_time) const {
  std::map<std::string, envoy::admin::v3::ListenersConfigDump::DynamicListener> dynamic;
  auto fill = [](envoy::admin::v3::ListenersConfigDump::DynamicListenerState& state,
                 const Entry& entry) {
    state.set_version_info(entry.version_info);
    state.mutable_listener()->PackFrom(entry.proto);
    *state.mutable_last_updated() = toTimestamp(entry.last_updated);
  };
  for (const auto& name : order_) {
    auto it = active_.find(name);
    if (it == active_.end() || it->second->added_via_api) continue;
    auto* l = out.add_static_listeners();
    l->mutable_listener()->PackFrom(it->second->proto);
    *l->mutable_last_updated() = toTimestamp(static_time);
  }
  for (const auto& [name, entry] : active_) {
    if (!entry->added_via_api) continue;
    dynamic[name].set_name(name);
    fill(*dynamic[name].mutable_active_state(), *entry);
  }
  for (const auto& [name, entry] : warming_) {
    dynamic[name].set_name(name);
    fill(*dynamic[name].mutable_warming_state(), *entry);
  }
  for (const auto& draining : draining_) {
    if (!draining.entry->added_via_api) continue;
    const std::string& name = draining.entry->proto.name();
    dynamic[name].set_name(name);
    fill(*dynamic[name].mutable_draining_state(), *draining.entry);
  }
  for (const auto& failure : update_failures_) {
    auto& listener = dynamic[failure.name];
    listener.set_name(failure.name);
    auto* error = listener.mutable_error_state();
    error->mutable_failed_configuration()->PackFrom(failure.proto);
    *error->mutable_last_update_attempt() = toTimestamp(failure.attempted);
    error->set_details(failure.details);
    error->set_version_info(failure.version_info);
  }
  for (auto& [name, listener] : dynamic) *out.add_dynamic_listeners() = std::move(listener);
}

}  // namespace remora::server
