#include "xds/ads_mux.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/time_util.h>

#include "common/hash.h"
#include "common/logger.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "http/grpc.h"

namespace remora::xds {

namespace {

using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

constexpr char kSotwMethod[] =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";
constexpr char kDeltaMethod[] =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";

// What must be waiting while a type's response is applied (Envoy's xDS ordering).
const char* dependentType(const std::string& type_url) {
  if (type_url == kClusterType) return kClusterLoadAssignmentType;
  if (type_url == kListenerType) return kRouteConfigurationType;
  return nullptr;
}

// LDS and CDS responses list every resource; an EDS or RDS response may carry only some, and a
// subscription whose resources are not in it has nothing new.
bool isStateOfTheWorldComplete(const std::string& type_url) {
  return type_url == kListenerType || type_url == kClusterType;
}

// Unpacks an Any of `type_url` into a new message of that type, and reads its name (the
// ClusterLoadAssignment's is cluster_name).
StatusOr<DecodedResource> decodeResource(const google::protobuf::Any& any,
                                         const std::string& type_url) {
  if (any.type_url() != type_url) {
    return Status::error("a resource of type " + any.type_url() + " in a " + type_url +
                         " response");
  }
  const std::string full_name = type_url.substr(type_url.rfind('/') + 1);
  const auto* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(full_name);
  if (descriptor == nullptr) return Status::error("unknown resource type " + type_url);
  std::shared_ptr<google::protobuf::Message> message(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor)->New());
  if (!any.UnpackTo(message.get())) {
    return Status::error("cannot decode a " + full_name + " resource");
  }
  DecodedResource resource;
  const auto* name_field = descriptor->FindFieldByName("name");
  if (name_field == nullptr) name_field = descriptor->FindFieldByName("cluster_name");
  if (name_field != nullptr &&
      name_field->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
    resource.name = message->GetReflection()->GetString(*message, name_field);
  }
  resource.resource = std::move(message);
  return resource;
}

// Envoy's version gauge: a hash of version_info (its low 53 bits, to stay a gauge value).
int64_t versionHash(const std::string& version) {
  return static_cast<int64_t>(xxHash64(version) & ((1ULL << 53) - 1));
}

}  // namespace

std::chrono::milliseconds initialFetchTimeout(const envoy::config::core::v3::ConfigSource& source) {
  if (!source.has_initial_fetch_timeout()) return std::chrono::milliseconds(15000);
  return std::chrono::milliseconds(
      google::protobuf::util::TimeUtil::DurationToMilliseconds(source.initial_fetch_timeout()));
}

// One consumer's subscription: the names it wants and its first-fetch timer.
class AdsMux::WatchImpl final : public Subscription {
 public:
  WatchImpl(AdsMux& mux, uint64_t id, std::string type_url, SubscriptionCallbacks& callbacks,
            std::chrono::milliseconds initial_fetch_timeout, SubscriptionStats stats)
      : mux_(mux),
        id_(id),
        type_url_(std::move(type_url)),
        callbacks_(callbacks),
        initial_fetch_timeout_(initial_fetch_timeout),
        stats_(stats) {}
  ~WatchImpl() override { mux_.removeWatch(*this); }

  void start(const std::set<std::string>& resource_names) override {
    if (started_) return;
    started_ = true;
    names_ = resource_names;
    stats_.update_attempt.inc();  // Envoy counts the initial request as an attempt
    if (initial_fetch_timeout_.count() > 0) {
      init_timer_ = mux_.dispatcher_.createTimer([this] {
        stats_.init_fetch_timeout.inc();
        LOG_WARN("xds: {}: no response within initial_fetch_timeout", type_url_);
        callbacks_.onConfigUpdateFailed(UpdateFailureReason::FetchTimedOut,
                                        Status::error("initial fetch timed out"));
      });
      init_timer_->enableTimer(initial_fetch_timeout_);
    }
    mux_.onWatchChanged(type_url_);
  }
  void updateResourceInterest(const std::set<std::string>& resource_names) override {
    names_ = resource_names;
    if (started_) mux_.onWatchChanged(type_url_);
  }

  bool wildcard() const { return names_.empty(); }
  bool wants(const std::string& name) const { return names_.empty() || names_.count(name) > 0; }

  // A response reached this subscription: count it and apply it.
  Status apply(const std::function<Status()>& update, const std::string& version) {
    init_timer_.reset();
    stats_.update_attempt.inc();
    const Status status = update();
    if (status.ok()) {
      stats_.update_success.inc();
      stats_.version.set(versionHash(version));
    } else {
      stats_.update_rejected.inc();
      callbacks_.onConfigUpdateFailed(UpdateFailureReason::UpdateRejected, status);
    }
    return status;
  }
  // The stream failed: counted; the consumer keeps what it has and waits for the reconnect
  // (Envoy does not tell it: only initial_fetch_timeout ends its warming).
  void onConnectionFailure() {
    stats_.update_attempt.inc();
    stats_.update_failure.inc();
  }

  AdsMux& mux_;
  const uint64_t id_;
  const std::string type_url_;
  SubscriptionCallbacks& callbacks_;
  const std::chrono::milliseconds initial_fetch_timeout_;
  SubscriptionStats stats_;
  std::set<std::string> names_;
  bool started_ = false;
  event::TimerPtr init_timer_;
};

StatusOr<std::unique_ptr<AdsMux>> AdsMux::create(
    const envoy::config::core::v3::ApiConfigSource& config,
    const envoy::config::core::v3::Node& node,
    const google::protobuf::RepeatedPtrField<envoy::config::cluster::v3::Cluster>& static_clusters,
    upstream::ClusterManager& clusters, event::Dispatcher& dispatcher, stats::Store& stats,
    const std::string& path) {
  using envoy::config::core::v3::ApiConfigSource;
  if (config.api_type() != ApiConfigSource::GRPC &&
      config.api_type() != ApiConfigSource::DELTA_GRPC) {
    return Status::error(path + ".api_type: ADS needs GRPC or DELTA_GRPC");
  }
  if (config.grpc_services_size() != 1) {
    return Status::error(path + ".grpc_services: exactly one gRPC service is needed");
  }
  auto client = grpc::AsyncClient::create(config.grpc_services(0), static_clusters, clusters,
                                          dispatcher, path + ".grpc_services[0]");
  if (!client.ok()) return client.status();
  grpc::AsyncClient* raw = client->get();
  auto mux = std::make_unique<AdsMux>(
      config, node,
      [raw](std::string_view method, grpc::AsyncStreamCallbacks& callbacks) {
        return raw->startStream(method, callbacks);
      },
      raw->clusterName(), dispatcher, stats);
  mux->client_ = std::move(client).value();
  return mux;
}

AdsMux::AdsMux(const envoy::config::core::v3::ApiConfigSource& config,
               envoy::config::core::v3::Node node, StreamFactory start_stream, std::string target,
               event::Dispatcher& dispatcher, stats::Store& stats)
    : delta_(config.api_type() == envoy::config::core::v3::ApiConfigSource::DELTA_GRPC),
      node_on_first_message_only_(config.set_node_on_first_message_only()),
      node_(std::move(node)),
      start_stream_(std::move(start_stream)),
      target_(std::move(target)),
      dispatcher_(dispatcher),
      stats_(stats),
      connected_state_(stats.gauge("control_plane.connected_state")),
      rate_limit_enforced_(stats.counter("control_plane.rate_limit_enforced")),
      pending_requests_(stats.gauge("control_plane.pending_requests")),
      backoff_(std::chrono::milliseconds(500), std::chrono::milliseconds(30000)) {}

AdsMux::~AdsMux() {
  stream_.reset();
  for (auto& [id, watch] : watches_) watch->started_ = false;
}

SubscriptionPtr AdsMux::subscribe(const std::string& type_url, SubscriptionCallbacks& callbacks,
                                  std::chrono::milliseconds initial_fetch_timeout,
                                  SubscriptionStats stats) {
  const uint64_t id = next_watch_id_++;
  auto watch =
      std::make_unique<WatchImpl>(*this, id, type_url, callbacks, initial_fetch_timeout, stats);
  typeState(type_url).watches.push_back(id);
  watches_[id] = watch.get();
  return watch;
}

StatusOr<SubscriptionPtr> AdsMux::subscribe(const envoy::config::core::v3::ConfigSource& source,
                                            std::string_view type_url,
                                            SubscriptionCallbacks& callbacks,
                                            SubscriptionStats stats) {
  if (!source.has_ads()) {
    return Status::error("only ads config sources use the ADS stream");
  }
  return subscribe(std::string(type_url), callbacks, initialFetchTimeout(source), stats);
}

AdsMux::TypeState& AdsMux::typeState(const std::string& type_url) {
  auto [it, inserted] = types_.try_emplace(type_url);
  if (inserted) type_order_.push_back(type_url);
  return it->second;
}

void AdsMux::removeWatch(WatchImpl& watch) {
  watches_.erase(watch.id_);
  auto it = types_.find(watch.type_url_);
  if (it == types_.end()) return;
  auto& ids = it->second.watches;
  ids.erase(std::remove(ids.begin(), ids.end(), watch.id_), ids.end());
  // What this subscription alone wanted is no longer asked for.
  if (watch.started_) onWatchChanged(watch.type_url_);
}

std::set<std::string> AdsMux::wantedNames(const TypeState& state, bool& wildcard) const {
  std::set<std::string> names;
  wildcard = false;
  for (uint64_t id : state.watches) {
    const WatchImpl& watch = *watches_.at(id);
    if (!watch.started_) continue;
    if (watch.wildcard()) wildcard = true;
    names.insert(watch.names_.begin(), watch.names_.end());
  }
  return names;
}

void AdsMux::onWatchChanged(const std::string& type_url) { queueRequest(type_url); }

void AdsMux::start() {
  if (started_) return;
  started_ = true;
  establishStream();
}

void AdsMux::pause(const std::string& type_url) { ++typeState(type_url).paused; }

void AdsMux::resume(const std::string& type_url) {
  TypeState& state = typeState(type_url);
  if (state.paused > 0) --state.paused;
  if (state.paused == 0 && state.request_pending) queueRequest(type_url);
}

void AdsMux::queueRequest(const std::string& type_url) {
  TypeState& state = typeState(type_url);
  state.request_pending = true;
  if (stream_ == nullptr || state.paused > 0) {
    pending_requests_.set(
        static_cast<int64_t>(std::count_if(types_.begin(), types_.end(), [](const auto& entry) {
          return entry.second.request_pending;
        })));
    return;
  }
  state.request_pending = false;
  if (delta_) {
    sendDeltaRequest(type_url, state);
  } else {
    sendSotwRequest(type_url, state);
  }
}

void AdsMux::sendSotwRequest(const std::string& type_url, TypeState& state) {
  bool wildcard = false;
  const std::set<std::string> names = wantedNames(state, wildcard);
  // Nothing started yet asks for this type: there is nothing to request or acknowledge.
  if (names.empty() && !wildcard && state.nonce.empty() && !state.sent_on_stream) return;
  DiscoveryRequest request;
  request.set_type_url(type_url);
  request.set_version_info(state.version);
  request.set_response_nonce(state.nonce);
  if (!wildcard) {
    for (const auto& name : names) request.add_resource_names(name);
  }
  if (!node_on_first_message_only_ || first_request_on_stream_) {
    *request.mutable_node() = node_;
  }
  if (!state.error_detail.empty()) {
    request.mutable_error_detail()->set_code(http::grpc_status::kInternal);
    request.mutable_error_detail()->set_message(state.error_detail);
    state.error_detail.clear();
  }
  first_request_on_stream_ = false;
  state.sent_on_stream = true;
  stream_->sendMessage(request);
}

void AdsMux::sendDeltaRequest(const std::string& type_url, TypeState& state) {
  bool wildcard = false;
  const std::set<std::string> names = wantedNames(state, wildcard);
  DeltaDiscoveryRequest request;
  request.set_type_url(type_url);
  if (!state.sent_on_stream) {
    if (names.empty() && !wildcard) return;  // nothing wanted yet
    // A fresh stream: everything wanted, and the versions held so the server can skip them.
    if (wildcard && !names.empty()) request.add_resource_names_subscribe("*");
    for (const auto& name : names) request.add_resource_names_subscribe(name);
    for (const auto& [name, version] : state.resource_versions) {
      (*request.mutable_initial_resource_versions())[name] = version;
    }
    *request.mutable_node() = node_;
  } else {
    if (wildcard && !state.subscribed_wildcard && !names.empty()) {
      request.add_resource_names_subscribe("*");
    }
    for (const auto& name : names) {
      if (state.subscribed.count(name) == 0) request.add_resource_names_subscribe(name);
    }
    for (const auto& name : state.subscribed) {
      if (names.count(name) == 0) request.add_resource_names_unsubscribe(name);
    }
    // Names dropped are forgotten with their versions: a later subscribe fetches them afresh.
    for (const auto& name : request.resource_names_unsubscribe()) {
      state.resource_versions.erase(name);
    }
    if (request.resource_names_subscribe().empty() &&
        request.resource_names_unsubscribe().empty() && !state.ack_pending) {
      return;  // nothing changed and nothing to answer
    }
  }
  if (state.ack_pending) {
    request.set_response_nonce(state.nonce);
    state.ack_pending = false;
    if (!state.error_detail.empty()) {
      request.mutable_error_detail()->set_code(http::grpc_status::kInternal);
      request.mutable_error_detail()->set_message(state.error_detail);
      state.error_detail.clear();
    }
  }
  state.subscribed = names;
  state.subscribed_wildcard = wildcard;
  state.sent_on_stream = true;
  first_request_on_stream_ = false;
  stream_->sendMessage(request);
}

std::string AdsMux::dispatch(TypeState& state, const std::function<Status(WatchImpl&)>& apply) {
  // A consumer's update may add or drop subscriptions: walk a copy, skipping those gone.
  const std::vector<uint64_t> ids = state.watches;
  std::string errors;
  for (uint64_t id : ids) {
    auto it = watches_.find(id);
    if (it == watches_.end() || !it->second->started_) continue;
    const Status status = apply(*it->second);
    if (!status.ok()) {
      if (!errors.empty()) errors += "; ";
      errors += status.message();
    }
  }
  return errors;
}

void AdsMux::onReceiveMessage(std::string_view message) {
  backoff_.reset();
  if (delta_) {
    onDeltaResponse(message);
  } else {
    onSotwResponse(message);
  }
}

void AdsMux::onSotwResponse(std::string_view message) {
  DiscoveryResponse response;
  if (!response.ParseFromArray(message.data(), static_cast<int>(message.size()))) {
    LOG_WARN("xds: a DiscoveryResponse that does not parse; ignored");
    return;
  }
  const std::string& type_url = response.type_url();
  auto found = types_.find(type_url);
  if (found == types_.end()) {
    LOG_WARN("xds: a response of type {} nothing subscribed to; ignored", type_url);
    return;
  }
  TypeState& state = found->second;
  state.nonce = response.nonce();
  LOG_DEBUG("xds: {} version {} nonce {}: {} resource(s)", type_url, response.version_info(),
            response.nonce(), response.resources_size());
  std::vector<DecodedResource> resources;
  std::string errors;
  for (const auto& any : response.resources()) {
    auto resource = decodeResource(any, type_url);
    if (!resource.ok()) {
      errors = resource.status().message();
      break;
    }
    resource->version = response.version_info();
    resources.push_back(std::move(resource).value());
  }
  const char* dependent = dependentType(type_url);
  if (dependent != nullptr) pause(dependent);
  if (errors.empty()) {
    errors = dispatch(state, [&](WatchImpl& watch) {
      std::vector<DecodedResource> wanted;
      for (const auto& resource : resources) {
        if (watch.wants(resource.name)) wanted.push_back(resource);
      }
      if (!watch.wildcard() && wanted.empty() && !isStateOfTheWorldComplete(type_url)) {
        return Status();
      }
      return watch.apply(
          [&] { return watch.callbacks_.onConfigUpdate(wanted, response.version_info()); },
          response.version_info());
    });
  } else {
    dispatch(state, [&](WatchImpl& watch) {
      return watch.apply([&] { return Status::error(errors); }, response.version_info());
    });
  }
  if (errors.empty()) {
    state.version = response.version_info();
  } else {
    LOG_WARN("xds: {} version {} rejected: {}", type_url, response.version_info(), errors);
    state.error_detail = errors;
  }
  queueRequest(type_url);
  if (dependent != nullptr) resume(dependent);
}

void AdsMux::onDeltaResponse(std::string_view message) {
  DeltaDiscoveryResponse response;
  if (!response.ParseFromArray(message.data(), static_cast<int>(message.size()))) {
    LOG_WARN("xds: a DeltaDiscoveryResponse that does not parse; ignored");
    return;
  }
  const std::string& type_url = response.type_url();
  auto found = types_.find(type_url);
  if (found == types_.end()) {
    LOG_WARN("xds: a delta response of type {} nothing subscribed to; ignored", type_url);
    return;
  }
  TypeState& state = found->second;
  state.nonce = response.nonce();
  state.ack_pending = true;
  LOG_DEBUG("xds: delta {} nonce {}: {} added, {} removed", type_url, response.nonce(),
            response.resources_size(), response.removed_resources_size());
  std::vector<DecodedResource> added;
  std::string errors;
  for (const auto& resource : response.resources()) {
    if (!resource.has_resource()) {
      errors = "resource '" + resource.name() + "' has no body";
      break;
    }
    auto decoded = decodeResource(resource.resource(), type_url);
    if (!decoded.ok()) {
      errors = decoded.status().message();
      break;
    }
    if (!resource.name().empty()) decoded->name = resource.name();
    decoded->version = resource.version();
    added.push_back(std::move(decoded).value());
  }
  const std::vector<std::string> removed(response.removed_resources().begin(),
                                         response.removed_resources().end());
  const char* dependent = dependentType(type_url);
  if (dependent != nullptr) pause(dependent);
  if (errors.empty()) {
    errors = dispatch(state, [&](WatchImpl& watch) {
      std::vector<DecodedResource> wanted_added;
      std::vector<std::string> wanted_removed;
      for (const auto& resource : added) {
        if (watch.wants(resource.name)) wanted_added.push_back(resource);
      }
      for (const auto& name : removed) {
        if (watch.wants(name)) wanted_removed.push_back(name);
      }
      if (!watch.wildcard() && wanted_added.empty() && wanted_removed.empty()) return Status();
      return watch.apply(
          [&] {
            return watch.callbacks_.onConfigUpdate(wanted_added, wanted_removed,
                                                   response.system_version_info());
          },
          response.system_version_info());
    });
  } else {
    dispatch(state, [&](WatchImpl& watch) {
      return watch.apply([&] { return Status::error(errors); }, response.system_version_info());
    });
  }
  if (errors.empty()) {
    for (const auto& resource : added) state.resource_versions[resource.name] = resource.version;
    for (const auto& name : removed) state.resource_versions.erase(name);
  } else {
    LOG_WARN("xds: delta {} nonce {} rejected: {}", type_url, response.nonce(), errors);
    state.error_detail = errors;
  }
  queueRequest(type_url);
  if (dependent != nullptr) resume(dependent);
}

void AdsMux::onRemoteClose(uint32_t grpc_status, const std::string& message) {
  LOG_WARN("xds: ADS stream to {} closed: grpc-status {} {}", target_, grpc_status, message);
  // The stream calls back last, after letting go of its connection; it can be dropped here.
  stream_.reset();
  connected_state_.set(0);
  for (auto& [id, watch] : watches_) {
    if (watch->started_) watch->onConnectionFailure();
  }
  scheduleReconnect();
}

void AdsMux::scheduleReconnect() {
  if (retry_timer_ == nullptr)
    retry_timer_ = dispatcher_.createTimer([this] { establishStream(); });
  retry_timer_->enableTimer(backoff_.next());
}

void AdsMux::establishStream() {
  stream_ = start_stream_(delta_ ? kDeltaMethod : kSotwMethod, *this);
  connected_state_.set(1);
  first_request_on_stream_ = true;
  // A new stream knows nothing: every type is requested afresh, in the order first subscribed
  // (CDS before EDS, LDS before RDS), with the versions accepted so far.
  for (const auto& type_url : type_order_) {
    TypeState& state = types_[type_url];
    state.nonce.clear();
    state.error_detail.clear();
    state.ack_pending = false;
    state.sent_on_stream = false;
    state.subscribed.clear();
    state.subscribed_wildcard = false;
    queueRequest(type_url);
    if (stream_ == nullptr) return;  // the request could not be sent: the stream failed
  }
}

}  // namespace remora::xds
