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

void LoadState::onSynced() {
  std::lock_guard<std::mutex> lock(mu_);
  ++synced_;
  last_event_ = Clock::now();
  cv_.notify_all();
}

void LoadState::onChangeAcked() {
  std::lock_guard<std::mutex> lock(mu_);
  ++acked_;
  last_event_ = Clock::now();
  cv_.notify_all();
}

void LoadState::onStreamFailed(const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  if (failures_++ == 0) first_failure_ = why;
  fmt::print(stderr, "ads_load: stream failed: {}\n", why);
  cv_.notify_all();
}

bool LoadState::waitSynced(int want, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return synced_ >= want || failures_ > 0; }) &&
         failures_ == 0;
}

bool LoadState::waitAcked(int want, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return acked_ >= want || failures_ > 0; }) &&
         failures_ == 0;
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
  stub.async()->StreamAggregatedResources(&context_, this);
  StartRead(&response_);
  request(kClusterType, cds_);
  request(kListenerType, lds_);
  StartCall();
}

void SimProxy::wait() {
  std::unique_lock<std::mutex> lock(done_mu_);
  done_cv_.wait(lock, [&] { return done_; });
}

void SimProxy::OnReadDone(bool ok) {
  if (!ok) return;  // the stream ended; OnDone reports why
  handle(response_);
  StartRead(&response_);
}

void SimProxy::OnWriteDone(bool ok) {
  std::lock_guard<std::mutex> lock(write_mu_);
  writes_.pop_front();
  if (!ok || writes_.empty()) {
    writing_ = false;
    return;
  }
  StartWrite(&writes_.front());
}

void SimProxy::OnDone(const grpc::Status& status) {
  if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED)
    state_.onStreamFailed(fmt::format(
        "proxy {}: {} {}", index_, static_cast<int>(status.error_code()), status.error_message()));
  std::lock_guard<std::mutex> lock(done_mu_);
  done_ = true;
  done_cv_.notify_all();
}

void SimProxy::send(DiscoveryRequest request) {
  std::lock_guard<std::mutex> lock(write_mu_);
  writes_.push_back(std::move(request));
  if (writing_) return;
  writing_ = true;
  StartWrite(&writes_.front());
}

void SimProxy::request(const std::string& type_url, const TypeState& ts) {
  DiscoveryRequest r;
  if (!node_sent_) {
    *r.mutable_node() = node_;
    node_sent_ = true;
  }
  r.set_type_url(type_url);
  r.set_version_info(ts.version);
  r.set_response_nonce(ts.nonce);
  for (const auto& name : ts.names) r.add_resource_names(name);
  send(std::move(r));
}

void SimProxy::handle(const DiscoveryResponse& response) {
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
    state_.onSynced();
  }
}

void SimProxy::onClusters(const DiscoveryResponse& response) {
  std::set<std::string> eds;
  bool ok = forEachResource<envoy::config::cluster::v3::Cluster>(response, [&](const auto& c) {
    cds_.received.insert(c.name());
    if (c.type() != envoy::config::cluster::v3::Cluster::EDS) return;
    const auto& service_name = c.eds_cluster_config().service_name();
    eds.insert(service_name.empty() ? c.name() : service_name);
  });
  if (!ok) state_.onStreamFailed(fmt::format("proxy {}: undecodable Cluster", index_));
  cds_.version = response.version_info();
  cds_.nonce = response.nonce();
  cds_.answered = true;
  request(kClusterType, cds_);  // ACK
  if (eds != eds_.names) {
    eds_.names = std::move(eds);
    request(kEndpointType, eds_);
  }
}

void SimProxy::onEndpoints(const DiscoveryResponse& response) {
  const int change = state_.currentChange();
  const WatchedChange* watched =
      change >= 0 && change > acked_change_ ? &state_.changes()[change] : nullptr;
  bool seen = false;
  bool ok = forEachResource<envoy::config::endpoint::v3::ClusterLoadAssignment>(
      response, [&](const auto& cla) {
        eds_.received.insert(cla.cluster_name());
        if (watched == nullptr || cla.cluster_name() != watched->cluster) return;
        for (const auto& locality : cla.endpoints())
          for (const auto& lb : locality.lb_endpoints())
            if (lb.endpoint().address().socket_address().port_value() == watched->port) seen = true;
      });
  if (!ok)
    state_.onStreamFailed(fmt::format("proxy {}: undecodable ClusterLoadAssignment", index_));
  eds_.version = response.version_info();
  eds_.nonce = response.nonce();
  eds_.answered = true;
  request(kEndpointType, eds_);  // ACK
  if (seen) {
    acked_change_ = change;
    state_.onChangeAcked();
  }
}

void SimProxy::onListeners(const DiscoveryResponse& response) {
  using envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
  std::set<std::string> routes;
  HttpConnectionManager hcm;
  bool ok = forEachResource<envoy::config::listener::v3::Listener>(
      response, [&](const envoy::config::listener::v3::Listener& l) {
        lds_.received.insert(l.name());
        for (const auto& chain : l.filter_chains())
          for (const auto& filter : chain.filters())
            if (filter.typed_config().Is<HttpConnectionManager>() &&
                filter.typed_config().UnpackTo(&hcm) && hcm.has_rds())
              routes.insert(hcm.rds().route_config_name());
      });
  if (!ok) state_.onStreamFailed(fmt::format("proxy {}: undecodable Listener", index_));
  lds_.version = response.version_info();
  lds_.nonce = response.nonce();
  lds_.answered = true;
  request(kListenerType, lds_);  // ACK
  if (routes != rds_.names) {
    rds_.names = std::move(routes);
    request(kRouteType, rds_);
  }
}

void SimProxy::onRoutes(const DiscoveryResponse& response) {
  bool ok = forEachResource<envoy::config::route::v3::RouteConfiguration>(
      response, [&](const auto& rc) { rds_.received.insert(rc.name()); });
  if (!ok) state_.onStreamFailed(fmt::format("proxy {}: undecodable RouteConfiguration", index_));
  rds_.version = response.version_info();
  rds_.nonce = response.nonce();
  rds_.answered = true;
  request(kRouteType, rds_);  // ACK
}

bool SimProxy::isSynced() const {
  auto covered = [](const TypeState& ts) {
    return ts.answered &&
           std::includes(ts.received.begin(), ts.received.end(), ts.names.begin(), ts.names.end());
  };
  return cds_.answered && lds_.answered && covered(eds_) && (rds_.names.empty() || covered(rds_));
}

}  // namespace remora::bench
