#include "pilot/xds_hub.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>

namespace remora::pilot {
namespace {

using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
using Clock = std::chrono::steady_clock;

constexpr auto kMaxDebounceDelay = std::chrono::seconds(1);
// A response with this many resources counts against the throttle; pushes of a few changed
// resources never wait.
constexpr int kLargeResponse = 64;
constexpr size_t kMaxLargeInFlight = 100;

// The order Envoy wants a full push in: clusters before their endpoints, listeners before routes.
const std::vector<std::string>& pushOrder() {
  static const std::vector<std::string> order{kClusterType, kEndpointType, kListenerType,
                                              kRouteType};
  return order;
}

// LDS and CDS subscriptions with no names are wildcard; "*" is wildcard for any type.
bool isWildcardType(const std::string& type_url) {
  return type_url == kListenerType || type_url == kClusterType;
}

bool endpointsOnly(const std::set<ObjectKey>& changed) {
  if (changed.empty()) return false;
  for (const auto& key : changed)
    if (key.kind != "Endpoints" && key.kind != "EndpointSlice") return false;
  return true;
}

}  // namespace

XdsHub::XdsHub(std::chrono::milliseconds debounce) : debounce_(debounce) {
  model_ = std::make_shared<Model>(std::map<ObjectKey, Object>{}, std::vector<SourceError>{}, 0);
  debounce_thread_ = std::thread([this] { debounceLoop(); });
}

XdsHub::~XdsHub() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  debounce_thread_.join();
}

void XdsHub::onSourceChange(SourceSnapshot snapshot) {
  for (const auto& e : snapshot.errors) spdlog::warn("config: {}: {}", e.file, e.message);
  std::lock_guard<std::mutex> lock(mu_);
  const bool first = model_version_ == 0;
  auto model = std::make_shared<Model>(std::move(snapshot.objects), std::move(snapshot.errors),
                                       ++model_version_);
  if (first)
    for (const auto& key : model->unsupported())
      spdlog::info("config: {} is accepted but not yet supported", key.str());
  model_ = std::move(model);
  if (first || snapshot.changed.empty()) return;
  if (endpointsOnly(snapshot.changed)) {
    ++metrics_.eds_only_pushes;
    pushAll(true);
    return;
  }
  const auto now = Clock::now();
  if (!pending_since_) pending_since_ = now;
  last_change_ = now;
  cv_.notify_all();
}

void XdsHub::debounceLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (!pending_since_) {
      cv_.wait(lock);
      continue;
    }
    // Quiet for the debounce interval, or pending for too long: push.
    const auto due = std::min(*last_change_ + debounce_, *pending_since_ + kMaxDebounceDelay);
    if (Clock::now() < due) {
      cv_.wait_until(lock, due);
      continue;
    }
    pending_since_.reset();
    ++metrics_.full_pushes;
    pushAll(false);
  }
}

void XdsHub::pushAll(bool endpoints_only) {
  for (auto& [stream, c] : connections_) {
    for (const auto& type : pushOrder()) {
      if (endpoints_only && type != kEndpointType) continue;
      if (c.types.count(type)) push(stream, c, type);
    }
  }
}

void XdsHub::push(XdsStream* stream, Connection& c, const std::string& type_url) {
  TypeState& ts = c.types[type_url];
  if (c.delta)
    pushDelta(stream, c, type_url, ts);
  else
    pushSotw(stream, c, type_url, ts);
}

void XdsHub::pushSotw(XdsStream* stream, Connection& c, const std::string& type_url, TypeState& ts,
                      bool full) {
  const ResourceSetPtr set = cache_.get(*model_, c.proxy, type_url);
  if (!full && ts.sent_set == set->id) return;  // nothing new for this proxy
  auto subscribedTo = [&](const std::string& name) {
    return ts.wildcard || ts.names->contains(name);
  };
  DiscoveryResponse response;
  // EDS and RDS may carry only what changed; a set that follows the one the proxy has says what.
  const bool partial = !full && ts.sent_set != 0 && ts.sent_set == set->previous_id &&
                       (type_url == kEndpointType || type_url == kRouteType);
  if (partial) {
    for (const auto& name : set->changed) {
      auto it = set->resources.find(name);
      if (it != set->resources.end() && subscribedTo(name)) *response.add_resources() = it->second;
    }
    ts.sent_set = set->id;
    if (response.resources_size() == 0) return;
    ts.sent_hash = 0;  // the proxy's whole state is no longer one response
  } else {
    size_t hash = 0, count = 0;
    auto add = [&](const std::string& name) {
      auto it = set->hashes.find(name);
      if (it == set->hashes.end()) return;
      hash = hash * 31 + std::hash<std::string>{}(name)*7 + it->second;
      ++count;
    };
    if (ts.wildcard)
      for (const auto& [name, h] : set->hashes) add(name);
    else
      for (const auto& name : *ts.names) add(name);
    hash = hash * 31 + count;
    if (!full && !ts.sent_nonce.empty() && hash == ts.sent_hash) {  // the proxy has this
      ts.sent_set = set->id;
      return;
    }
    if (count >= kLargeResponse && large_in_flight_ >= kMaxLargeInFlight) {
      auto [it, added] = c.deferred.try_emplace(type_url, full);
      it->second = it->second || full;
      deferred_streams_.push_back(stream);
      return;
    }
    ts.sent_set = set->id;
    if (ts.wildcard) {
      for (const auto& [name, any] : set->resources) *response.add_resources() = any;
    } else {
      for (const auto& name : *ts.names) {
        auto it = set->resources.find(name);
        if (it != set->resources.end()) *response.add_resources() = it->second;
      }
    }
    ts.sent_hash = hash;
  }
  c.deferred.erase(type_url);
  response.set_type_url(type_url);
  response.set_version_info(std::to_string(model_->version()));
  response.set_nonce(std::to_string(c.next_nonce++));
  ts.sent_version = response.version_info();
  ts.sent_nonce = response.nonce();
  ts.pushed_at = Clock::now();
  ++metrics_.pushes[shortType(type_url)];
  const bool large = response.resources_size() >= kLargeResponse;
  sendCounted(stream, c, std::move(response), large);
}

void XdsHub::pushDelta(XdsStream* stream, Connection& c, const std::string& type_url,
                       TypeState& ts) {
  const ResourceSetPtr set = cache_.get(*model_, c.proxy, type_url);
  auto subscribedTo = [&](const std::string& name) {
    return ts.wildcard || ts.names->contains(name);
  };
  DeltaDiscoveryResponse response;
  response.set_type_url(type_url);
  response.set_system_version_info(std::to_string(model_->version()));
  for (const auto& [name, any] : set->resources) {
    if (!subscribedTo(name)) continue;
    std::string version = fmt::format("{:016x}", set->hashes.at(name));
    auto it = ts.delivered.find(name);
    if (it != ts.delivered.end() && it->second == version) continue;
    auto* r = response.add_resources();
    r->set_name(name);
    r->set_version(version);
    *r->mutable_resource() = any;
    ts.delivered[name] = std::move(version);
  }
  for (auto it = ts.delivered.begin(); it != ts.delivered.end();) {
    if (set->resources.count(it->first) && subscribedTo(it->first)) {
      ++it;
      continue;
    }
    response.add_removed_resources(it->first);
    it = ts.delivered.erase(it);
  }
  // A named subscription to something that does not exist is answered once as removed, so the
  // client stops waiting for it.
  if (!ts.wildcard) {
    for (const auto& name : *ts.names)
      if (!set->resources.count(name) && !ts.delivered.count(name) && ts.sent_nonce.empty())
        response.add_removed_resources(name);
  }
  ts.sent_set = set->id;
  if (response.resources_size() == 0 && response.removed_resources_size() == 0 &&
      !ts.sent_nonce.empty())
    return;
  response.set_nonce(std::to_string(c.next_nonce++));
  ts.sent_version = response.system_version_info();
  ts.sent_nonce = response.nonce();
  ts.pushed_at = Clock::now();
  ++metrics_.pushes[shortType(type_url)];
  const bool large = response.resources_size() >= kLargeResponse;
  sendCounted(stream, c, std::move(response), large);
}

template <typename R>
void XdsHub::sendCounted(XdsStream* stream, Connection& c, R response, bool large) {
  c.writes.push_back(large);
  if (large) ++large_in_flight_;
  stream->send(std::move(response));
}

void XdsHub::onWriteDone(XdsStream* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = connections_.find(stream);
  if (it == connections_.end() || it->second.writes.empty()) return;
  if (it->second.writes.front()) --large_in_flight_;
  it->second.writes.pop_front();
  runDeferred();
}

void XdsHub::runDeferred() {
  while (large_in_flight_ < kMaxLargeInFlight && !deferred_streams_.empty()) {
    XdsStream* stream = deferred_streams_.front();
    deferred_streams_.pop_front();
    auto it = connections_.find(stream);
    if (it == connections_.end() || it->second.deferred.empty()) continue;
    Connection& c = it->second;
    auto deferred = std::exchange(c.deferred, {});
    // Envoy's order: clusters before endpoints, listeners before routes.
    for (const auto& type : pushOrder()) {
      auto d = deferred.find(type);
      if (d != deferred.end()) pushSotw(stream, c, type, c.types[type], d->second);
    }
  }
}

bool XdsHub::recordAck(Connection& c, TypeState& ts, const std::string& type_url,
                       const std::string& nonce, const std::string& version,
                       const google::rpc::Status* error) {
  if (nonce != ts.sent_nonce) {
    ++metrics_.expired_nonce;
    return false;
  }
  if (error != nullptr) {
    ++ts.nacks;
    ts.last_nack = error->message();
    ++metrics_.rejects[shortType(type_url)];
    spdlog::warn("xds: {} rejected {} nonce {}: {}", c.proxy.id, shortType(type_url), nonce,
                 error->message());
  } else {
    ++ts.acks;
    ts.acked_version = version;
    ts.acked_nonce = nonce;
    ts.last_nack.clear();  // an ACK supersedes it, as istiod's syncz clears the NACK error
  }
  if (ts.pushed_at) {
    metrics_.observeConvergence(
        std::chrono::duration<double>(Clock::now() - *ts.pushed_at).count());
    ts.pushed_at.reset();
  }
  return true;
}

void XdsHub::onRequest(XdsStream* stream, const DiscoveryRequest& request) {
  std::lock_guard<std::mutex> lock(mu_);
  Connection& c = connections_[stream];
  if (!c.identified) {
    c.identified = true;
    c.proxy = proxyFromNode(request.node());
    c.id = c.proxy.id + "-" + std::to_string(next_connection_++);
    c.connected_at = std::chrono::system_clock::now();
    spdlog::info("xds: {} connected (SotW)", c.id);
  }
  const std::string& type = request.type_url();
  auto [it, first] = c.types.try_emplace(type);
  TypeState& ts = it->second;
  if (!first && !request.response_nonce().empty()) {
    if (!recordAck(c, ts, type, request.response_nonce(), request.version_info(),
                   request.has_error_detail() ? &request.error_detail() : nullptr))
      return;
  }
  // Every ACK repeats the whole subscription (thousands of EDS names in a large mesh): compare it
  // in place first, and build a new set only when it differs.
  const auto& requested = request.resource_names();
  bool changed = first;
  if (first || static_cast<size_t>(requested.size()) != ts.names->size() ||
      !std::equal(requested.begin(), requested.end(), ts.names->begin())) {
    std::vector<std::string> names;
    bool star = false;
    for (const auto& name : requested) {
      if (name == "*")
        star = true;
      else
        names.push_back(name);
    }
    bool wildcard = star || (names.empty() && isWildcardType(type));
    NameSet::Ptr set = names_.intern(std::move(names));
    changed = first || set->names() != ts.names->names() || wildcard != ts.wildcard;
    ts.names = std::move(set);
    ts.wildcard = wildcard;
  }
  // A first request after reconnecting, or a changed subscription, gets an answer.
  if (changed || request.response_nonce().empty()) pushSotw(stream, c, type, ts, /*full=*/true);
}

void XdsHub::onRequest(XdsStream* stream, const DeltaDiscoveryRequest& request) {
  std::lock_guard<std::mutex> lock(mu_);
  Connection& c = connections_[stream];
  if (!c.identified) {
    c.identified = true;
    c.delta = true;
    c.proxy = proxyFromNode(request.node());
    c.id = c.proxy.id + "-" + std::to_string(next_connection_++);
    c.connected_at = std::chrono::system_clock::now();
    spdlog::info("xds: {} connected (Delta)", c.id);
  }
  const std::string& type = request.type_url();
  auto [it, first] = c.types.try_emplace(type);
  TypeState& ts = it->second;
  if (!request.response_nonce().empty()) {
    if (!recordAck(c, ts, type, request.response_nonce(), ts.sent_version,
                   request.has_error_detail() ? &request.error_detail() : nullptr))
      return;
    // A NACKed resource is not installed: forget its version so a later push resends it.
    if (request.has_error_detail()) ts.delivered.clear();
  }
  bool changed = first;
  if (first) {
    ts.wildcard = isWildcardType(type) && request.resource_names_subscribe().empty();
    // Resources the client kept from an earlier stream: resend only what differs.
    for (const auto& [name, version] : request.initial_resource_versions())
      ts.delivered[name] = version;
  }
  std::vector<std::string> names = ts.names->names();
  bool names_changed = false;
  for (const auto& name : request.resource_names_subscribe()) {
    if (name == "*") {
      changed |= !std::exchange(ts.wildcard, true);
    } else if (!ts.names->contains(name)) {
      names.push_back(name);
      names_changed = true;
    }
  }
  for (const auto& name : request.resource_names_unsubscribe()) {
    if (name == "*") {
      changed |= std::exchange(ts.wildcard, false);
    } else if (auto it = std::find(names.begin(), names.end(), name); it != names.end()) {
      names.erase(it);
      ts.delivered.erase(name);
      names_changed = true;
    }
  }
  if (names_changed) {
    ts.names = names_.intern(std::move(names));
    changed = true;
  }
  if (changed) pushDelta(stream, c, type, ts);
}

void XdsHub::onClose(XdsStream* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = connections_.find(stream);
  if (it == connections_.end()) return;
  spdlog::info("xds: {} disconnected", it->second.id);
  for (bool large : it->second.writes)
    if (large) --large_in_flight_;
  connections_.erase(it);
  runDeferred();
}

ModelPtr XdsHub::model() const {
  std::lock_guard<std::mutex> lock(mu_);
  return model_;
}

size_t XdsHub::connectionCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connections_.size();
}

std::string XdsHub::metrics() const {
  std::lock_guard<std::mutex> lock(mu_);
  return metrics_.render(connections_.size());
}

}  // namespace remora::pilot
