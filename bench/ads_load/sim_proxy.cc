#include "sim_proxy.h"

#include <fmt/format.h>

#include <algorithm>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "mesh_config.h"

namespace remora::bench {
namespace {

using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

const std::string kClusterType = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const std::string kEndpointType =
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
const std::string kListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener";
const std::string kRouteType = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";

// Unpacks every resource of `response` as T; a resource of another type is a failure.
template <typename T, typename Fn>
bool forEachResource(const DiscoveryResponse& response, Fn fn) {
  T message;
  for (const auto& any : response.resources()) {
    if (!any.UnpackTo(&message)) return false;
    fn(message);
  }
  return true;
}

}  // namespace

void LoadState::startChange(int index) {
  std::lock_guard<std::mutex> lock(mu_);
  acked_ = 0;
  current_.store(index, std::memory_order_release);
}

void LoadState::onSynced(int proxy) {
  std::lock_guard<std::mutex> lock(mu_);
  if (std::exchange(synced_by_proxy_[proxy], 1)) return;
  ++synced_;
  last_event_ = Clock::now();
  cv_.notify_all();
}

void LoadState::onChangeAcked(int proxy, int change) {
  std::lock_guard<std::mutex> lock(mu_);
  if (acked_by_proxy_[proxy] >= change) return;
  acked_by_proxy_[proxy] = change;
  ++acked_;
  last_event_ = Clock::now();
  cv_.notify_all();
}

void LoadState::onStreamFailed(const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  if (failures_++ < 5) fmt::print(stderr, "ads_load: stream failed (reconnecting): {}\n", why);
  failed_since_wait_ = true;
  cv_.notify_all();
}

bool LoadState::waitSynced(int want, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  failed_since_wait_ = false;
  return cv_.wait_for(lock, timeout, [&] { return synced_ >= want || failed_since_wait_; }) &&
         synced_ >= want;
}

bool LoadState::waitAcked(int want, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  failed_since_wait_ = false;
  return cv_.wait_for(lock, timeout, [&] { return acked_ >= want || failed_since_wait_; }) &&
         acked_ >= want;
}

Clock::time_point LoadState::lastEvent() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_event_;
}

int LoadState::synced() const {
  std::lock_guard<std::mutex> lock(mu_);
  return synced_;
}

int LoadState::acked() const {
  std::lock_guard<std::mutex> lock(mu_);
  return acked_;
}

int LoadState::failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_;
}

SimProxy::SimProxy(LoadState& state, int index, const std::string& ns,
                   envoy::service::discovery::v3::AggregatedDiscoveryService::Stub& stub)
    : state_(state), index_(index) {
  // Istio's sidecar node id: sidecar~<pod ip>~<pod>.<ns>~<ns>.svc.cluster.local
  node_.set_id(
      fmt::format("sidecar~{}~pod-{}.{}~{}.svc.cluster.local", proxyIp(index), index, ns, ns));
  node_.set_cluster(fmt::format("app-{}.{}", index, ns));
  const std::string* urls[kTypes] = {&kClusterType, &kEndpointType, &kListenerType, &kRouteType};
  for (int t = 0; t < kTypes; ++t) types_[t].message.set_type_url(*urls[t]);
  stub.async()->StreamAggregatedResources(&context_, this);
  StartRead(&response_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    request(kCds);
    request(kLds);
  }
  StartCall();
}

void SimProxy::wait() {
  std::unique_lock<std::mutex> lock(done_mu_);
  done_cv_.wait(lock, [&] { return done_; });
}

void SimProxy::OnReadDone(bool ok) {
  if (!ok) return;  // the stream ended; OnDone reports why
  handle(response_);
  // A full response holds megabytes: keep thousands of proxies from each keeping its largest.
  if (response_.resources_size() > 64) DiscoveryResponse().Swap(&response_);
  StartRead(&response_);
}

void SimProxy::OnWriteDone(bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  writing_ = false;
  if (ok) writeNextLocked();
}

void SimProxy::OnDone(const grpc::Status& status) {
  if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
    failed_ = true;
    state_.onStreamFailed(fmt::format(
        "proxy {}: {} {}", index_, static_cast<int>(status.error_code()), status.error_message()));
  }
  std::lock_guard<std::mutex> lock(done_mu_);
  done_ = true;
  done_cv_.notify_all();
}

void SimProxy::request(Type type) {
  TypeState& ts = types_[type];
  if (ts.queued) return;
  ts.queued = true;
  writes_.push_back(type);
  writeNextLocked();
}

void SimProxy::writeNextLocked() {
  if (writing_ || writes_.empty()) return;
  TypeState& ts = types_[writes_.front()];
  writes_.pop_front();
  ts.queued = false;
  DiscoveryRequest& m = ts.message;
  if (!node_sent_) {
    *m.mutable_node() = node_;
    node_sent_ = true;
  } else if (m.has_node()) {
    m.clear_node();
  }
  m.set_version_info(ts.version);
  m.set_response_nonce(ts.nonce);
  if (ts.names_changed) {
    m.clear_resource_names();
    for (const auto& name : ts.names) m.add_resource_names(name);
    ts.names_changed = false;
  }
  writing_ = true;
  StartWrite(&m);
}

void SimProxy::acknowledge(Type type, const DiscoveryResponse& response) {
  TypeState& ts = types_[type];
  ts.version = response.version_info();
  ts.nonce = response.nonce();
  ts.answered = true;
  request(type);
}

void SimProxy::subscribe(Type type, std::set<std::string> names) {
  TypeState& ts = types_[type];
  if (names == ts.names) return;
  if (!synced_)
    for (const auto& name : names) ts.missing.insert(name);
  ts.names = std::move(names);
  ts.names_changed = true;
  request(type);
}

void SimProxy::handle(const DiscoveryResponse& response) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string& type = response.type_url();
  if (type == kClusterType)
    onClusters(response);
  else if (type == kEndpointType)
    onEndpoints(response);
  else if (type == kListenerType)
    onListeners(response);
  else if (type == kRouteType)
    onRoutes(response);
  else
    state_.onStreamFailed(fmt::format("proxy {}: unexpected type {}", index_, type));
  if (!synced_ && isSynced()) {
    synced_ = true;
    state_.onSynced(index_);
  }
}

void SimProxy::onClusters(const DiscoveryResponse& response) {
  std::set<std::string> eds;
  bool ok = forEachResource<envoy::config::cluster::v3::Cluster>(response, [&](const auto& c) {
    if (c.type() != envoy::config::cluster::v3::Cluster::EDS) return;
    const auto& service_name = c.eds_cluster_config().service_name();
    eds.insert(service_name.empty() ? c.name() : service_name);
  });
  if (!ok) state_.onStreamFailed(fmt::format("proxy {}: undecodable Cluster", index_));
  acknowledge(kCds, response);
  subscribe(kEds, std::move(eds));
}

void SimProxy::onEndpoints(const DiscoveryResponse& response) {
  const int change = state_.currentChange();
  const WatchedChange* watched = change >= 0 ? &state_.changes()[change] : nullptr;
  bool seen = false;
  auto& missing = types_[kEds].missing;
  bool ok = forEachResource<envoy::config::endpoint::v3::ClusterLoadAssignment>(
      response, [&](const auto& cla) {
        if (!missing.empty()) missing.erase(cla.cluster_name());
        if (watched == nullptr || cla.cluster_name() != watched->cluster) return;
        for (const auto& locality : cla.endpoints())
          for (const auto& lb : locality.lb_endpoints())
            if (lb.endpoint().address().socket_address().port_value() == watched->port) seen = true;
      });
  if (!ok)
    state_.onStreamFailed(fmt::format("proxy {}: undecodable ClusterLoadAssignment", index_));
  acknowledge(kEds, response);
  if (seen) state_.onChangeAcked(index_, change);
}

void SimProxy::onListeners(const DiscoveryResponse& response) {
  using envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
  std::set<std::string> routes;
  HttpConnectionManager hcm;
  bool ok = forEachResource<envoy::config::listener::v3::Listener>(
      response, [&](const envoy::config::listener::v3::Listener& l) {
        for (const auto& chain : l.filter_chains())
          for (const auto& filter : chain.filters())
            if (filter.typed_config().Is<HttpConnectionManager>() &&
                filter.typed_config().UnpackTo(&hcm) && hcm.has_rds())
              routes.insert(hcm.rds().route_config_name());
      });
  if (!ok) state_.onStreamFailed(fmt::format("proxy {}: undecodable Listener", index_));
  acknowledge(kLds, response);
  subscribe(kRds, std::move(routes));
}

void SimProxy::onRoutes(const DiscoveryResponse& response) {
  auto& missing = types_[kRds].missing;
  bool ok = forEachResource<envoy::config::route::v3::RouteConfiguration>(
      response, [&](const auto& rc) { missing.erase(rc.name()); });
  if (!ok) state_.onStreamFailed(fmt::format("proxy {}: undecodable RouteConfiguration", index_));
  acknowledge(kRds, response);
}

bool SimProxy::isSynced() const {
  auto covered = [&](Type t) {
    return (types_[t].answered || types_[t].names.empty()) && types_[t].missing.empty();
  };
  return types_[kCds].answered && types_[kLds].answered && types_[kEds].answered && covered(kEds) &&
         covered(kRds);
}

}  // namespace remora::bench
