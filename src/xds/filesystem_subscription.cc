#include "xds/filesystem_subscription.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/hash.h"
#include "common/logger.h"
#include "config/json_value.h"
#include "envoy/service/discovery/v3/discovery.pb.h"

namespace remora::xds {

namespace {

bool endsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string_view typeName(std::string_view type_url) {
  const size_t slash = type_url.rfind('/');
  return slash == std::string_view::npos ? type_url : type_url.substr(slash + 1);
}

}  // namespace

std::string resourceName(const google::protobuf::Message& resource) {
  const auto* descriptor = resource.GetDescriptor();
  const auto* field = descriptor->FindFieldByName("name");
  if (field == nullptr) field = descriptor->FindFieldByName("cluster_name");
  if (field == nullptr || field->type() != google::protobuf::FieldDescriptor::TYPE_STRING ||
      field->is_repeated()) {
    return "";
  }
  return resource.GetReflection()->GetString(resource, field);
}

FilesystemSubscription::FilesystemSubscription(event::Dispatcher& dispatcher,
                                               const envoy::config::core::v3::ConfigSource& source,
                                               std::string_view type_url,
                                               SubscriptionCallbacks& callbacks,
                                               SubscriptionStats stats)
    : dispatcher_(dispatcher),
      type_url_(type_url),
      callbacks_(callbacks),
      stats_(stats),
      watcher_(dispatcher) {
  if (source.has_path_config_source()) {
    path_ = source.path_config_source().path();
    if (source.path_config_source().has_watched_directory()) {
      directory_ = source.path_config_source().watched_directory().path();
      any_entry_ = true;
    }
  } else {
    // The deprecated ConfigSource.path, which Envoy still accepts.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    path_ = source.path();
#pragma GCC diagnostic pop
  }
  if (directory_.empty()) {
    directory_ = std::filesystem::path(path_).parent_path().string();
    if (directory_.empty()) directory_ = ".";
  }
  if (source.has_initial_fetch_timeout()) {
    initial_fetch_timeout_ = std::chrono::milliseconds(
        google::protobuf::util::TimeUtil::DurationToMilliseconds(source.initial_fetch_timeout()));
  }
}

void FilesystemSubscription::start(const std::set<std::string>& resource_names) {
  if (started_) return;
  started_ = true;
  names_ = resource_names;
  const std::string file_name = std::filesystem::path(path_).filename().string();
  const bool watching =
      watcher_.addDirectory(directory_, false, [this, file_name](const std::string& name) {
        if (any_entry_ || name == file_name) reload();
      });
  if (!watching) LOG_WARN("xds: {}: cannot watch {}", typeName(type_url_), directory_);
  if (initial_fetch_timeout_.count() > 0) {
    init_fetch_timer_ = dispatcher_.createTimer([this] {
      if (first_response_seen_) return;
      stats_.init_fetch_timeout.inc();
      callbacks_.onConfigUpdateFailed(
          UpdateFailureReason::FetchTimedOut,
          Status::error("initial_fetch_timeout: no usable " + path_ + " yet"));
    });
    init_fetch_timer_->enableTimer(initial_fetch_timeout_);
  }
  reload();
}

void FilesystemSubscription::updateResourceInterest(const std::set<std::string>& resource_names) {
  names_ = resource_names;
  // A file source has nothing to ask for: the file is read again for the new set.
  if (started_) reload();
}

StatusOr<std::pair<std::vector<DecodedResource>, std::string>> FilesystemSubscription::read(
    bool& unreadable) const {
  unreadable = false;
  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    unreadable = true;
    return Status::error("cannot read " + path_);
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  const bool yaml = endsWith(path_, ".yaml") || endsWith(path_, ".yml");
  auto tree = yaml ? config::yamlToValue(contents.str()) : config::jsonToValue(contents.str());
  if (!tree.ok()) return tree.status().withPrefix(path_);
  envoy::service::discovery::v3::DiscoveryResponse response;
  auto parsed = google::protobuf::util::JsonStringToMessage(config::valueToJson(*tree), &response);
  if (!parsed.ok()) return Status::error(path_ + ": " + std::string(parsed.message()));

  const auto* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
          std::string(typeName(type_url_)));
  if (descriptor == nullptr) return Status::error("no descriptor for " + type_url_);
  const auto* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor);
  std::vector<DecodedResource> resources;
  for (int i = 0; i < response.resources_size(); ++i) {
    const auto& any = response.resources(i);
    if (any.type_url() != type_url_) {
      return Status::error("resources[" + std::to_string(i) + "]: type " + any.type_url() +
                           " where " + type_url_ + " was expected");
    }
    std::shared_ptr<google::protobuf::Message> message(prototype->New());
    if (!any.UnpackTo(message.get())) {
      return Status::error("resources[" + std::to_string(i) + "]: cannot decode " + any.type_url());
    }
    std::string name = resourceName(*message);
    if (!names_.empty() && names_.count(name) == 0) continue;
    resources.push_back({std::move(name), response.version_info(), std::move(message)});
  }
  return std::make_pair(std::move(resources), response.version_info());
}

void FilesystemSubscription::reload() {
  stats_.update_attempt.inc();
  bool unreadable = false;
  auto decoded = read(unreadable);
  if (!decoded.ok()) {
    if (unreadable) {
      // Like a control plane not reachable yet: the consumer keeps waiting (bounded by
      // initial_fetch_timeout) for the file to be moved into place.
      stats_.update_failure.inc();
      LOG_WARN("xds: {}: {}", typeName(type_url_), decoded.status().message());
      return;
    }
    deliverFailure(UpdateFailureReason::UpdateRejected, decoded.status());
    return;
  }
  auto& [resources, version] = *decoded;
  const Status applied = callbacks_.onConfigUpdate(resources, version);
  if (!applied.ok()) {
    deliverFailure(UpdateFailureReason::UpdateRejected, applied);
    return;
  }
  first_response_seen_ = true;
  stats_.update_success.inc();
  stats_.version.set(static_cast<int64_t>(xxHash64(version) & ((1ULL << 53) - 1)));
}

void FilesystemSubscription::deliverFailure(UpdateFailureReason reason, const Status& error) {
  first_response_seen_ = true;
  stats_.update_rejected.inc();
  LOG_WARN("xds: {}: {} rejected: {}", typeName(type_url_), path_, error.message());
  callbacks_.onConfigUpdateFailed(reason, error);
}

}  // namespace remora::xds
