#include "pilot/xds_hub.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <functional>

namespace remora::pilot {
namespace {

using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
using Clock = std::chrono::steady_clock;

constexpr auto kMaxDebounceDelay = std::chrono::seconds(1);

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

std::string resourceVersion(const google::protobuf::Any& any) {
  return fmt::format("{:016x}", std::hash<std::string>{}(any.value()));
}

bool endpointsOnly(const std::set<ObjectKey>& changed) {
  if (changed.empty()) return false;
  for (const auto& key : changed)
    if (key.kind != "Endpoints" && key.kind != "EndpointSlice") return false;
  return true;
}

// The resources a subscription covers.
Resources subscribed(Resources all, const TypeState& ts) {
  if (ts.wildcard) return all;
  Resources out;
  for (const auto& name : ts.names) {
    auto it = all.find(name);
    if (it != all.end()) out.emplace(name, std::move(it->second));
  }
  return out;
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

void XdsHub::pushSotw(XdsStream* stream, Connection& c, const std::string& type_url,
                      TypeState& ts) {
  Resources resources = subscribed(generate(*model_, c.proxy, type_url), ts);
  size_t hash = resources.size();
  for (const auto& [name, any] : resources)
    hash = hash * 31 + std::hash<std::string>{}(name)*7 + std::hash<std::string>{}(any.value());
  if (!ts.sent_nonce.empty() && hash == ts.sent_hash) return;  // the proxy has this already
  DiscoveryResponse response;
  response.set_type_url(type_url);
  response.set_version_info(std::to_string(model_->version()));
  response.set_nonce(std::to_string(c.next_nonce++));
  for (auto& [name, any] : resources) *response.add_resources() = std::move(any);
  ts.sent_hash = hash;
  ts.sent_version = response.version_info();
  ts.sent_nonce = response.nonce();
  ts.pushed_at = Clock::now();
  ++metrics_.pushes[shortType(type_url)];
  stream->send(std::move(response));
}

void XdsHub::pushDelta(XdsStream* stream, Connection& c, const std::string& type_url,
                       TypeState& ts) {
  Resources all = generate(*model_, c.proxy, type_url);
  Resources resources = subscribed(all, ts);
  DeltaDiscoveryResponse response;
  response.set_type_url(type_url);
  response.set_system_version_info(std::to_string(model_->version()));
  for (auto& [name, any] : resources) {
    std::string version = resourceVersion(any);
    auto it = ts.delivered.find(name);
    if (it != ts.delivered.end() && it->second == version) continue;
    auto* r = response.add_resources();
    r->set_name(name);
    r->set_version(version);
    *r->mutable_resource() = std::move(any);
    ts.delivered[name] = version;
  }
  for (auto it = ts.delivered.begin(); it != ts.delivered.end();) {
    if (resources.count(it->first)) {
      ++it;
      continue;
    }
    response.add_removed_resources(it->first);
    it = ts.delivered.erase(it);
  }
  // A named subscription to something that does not exist is answered once as removed, so the
  // client stops waiting for it.
  if (!ts.wildcard) {
    for (const auto& name : ts.names)
      if (!all.count(name) && !ts.delivered.count(name) && ts.sent_nonce.empty())
        response.add_removed_resources(name);
  }
  if (response.resources_size() == 0 && response.removed_resources_size() == 0 &&
      !ts.sent_nonce.empty())
    return;
  response.set_nonce(std::to_string(c.next_nonce++));
  ts.sent_version = response.system_version_info();
  ts.sent_nonce = response.nonce();
  ts.pushed_at = Clock::now();
  ++metrics_.pushes[shortType(type_url)];
  stream->send(std::move(response));
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
  std::set<std::string> names(request.resource_names().begin(), request.resource_names().end());
  bool wildcard = names.count("*") > 0 || (names.empty() && isWildcardType(type));
  names.erase("*");
  if (!first && !request.response_nonce().empty()) {
    if (!recordAck(c, ts, type, request.response_nonce(), request.version_info(),
                   request.has_error_detail() ? &request.error_detail() : nullptr))
      return;
  }
  const bool changed = first || names != ts.names || wildcard != ts.wildcard;
  ts.names = std::move(names);
  ts.wildcard = wildcard;
  // A first request after reconnecting, or a changed subscription, gets an answer.
  if (changed || request.response_nonce().empty()) {
    ts.sent_hash = 0;
    ts.sent_nonce.clear();
    pushSotw(stream, c, type, ts);
  }
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
  for (const auto& name : request.resource_names_subscribe()) {
    if (name == "*")
      changed |= !std::exchange(ts.wildcard, true);
    else
      changed |= ts.names.insert(name).second;
  }
  for (const auto& name : request.resource_names_unsubscribe()) {
    if (name == "*")
      changed |= std::exchange(ts.wildcard, false);
    else if (ts.names.erase(name)) {
      ts.delivered.erase(name);
      changed = true;
    }
  }
  if (changed) pushDelta(stream, c, type, ts);
}

void XdsHub::onClose(XdsStream* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = connections_.find(stream);
  if (it == connections_.end()) return;
  spdlog::info("xds: {} disconnected", it->second.id);
  connections_.erase(it);
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
