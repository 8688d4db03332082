#include "server/lds_api.h"

#include <set>

#include "common/logger.h"
#include "config/load_and_validate.h"

namespace remora::server {

LdsApi::LdsApi(ListenerManager& listeners, init::Manager& server_init)
    : listeners_(listeners), init_target_("LDS", [this] {
        if (subscription_) subscription_->start({});
      }) {
  server_init.add(init_target_);
}

Status LdsApi::start(const envoy::config::core::v3::ConfigSource& source,
                     xds::SubscriptionFactoryContext& context) {
  auto subscription =
      xds::makeSubscription(source, xds::kListenerType, *this, context, "listener_manager.lds.");
  if (!subscription.ok()) return subscription.status().withPrefix("dynamic_resources.lds_config");
  subscription_ = std::move(subscription).value();
  return Status();
}

Status LdsApi::onConfigUpdate(const std::vector<xds::DecodedResource>& resources,
                              const std::string& version_info) {
  std::set<std::string> named;
  for (const auto& resource : resources) {
    if (!named.insert(resource.name).second) {
      init_target_.ready();
      return Status::error("duplicate listener " + resource.name + " found");
    }
  }
  std::vector<std::string> removed;
  for (const auto& name : listeners_.apiListenerNames()) {
    if (named.count(name) == 0) removed.push_back(name);
  }
  return apply(resources, removed, version_info);
}

Status LdsApi::onConfigUpdate(const std::vector<xds::DecodedResource>& added,
                              const std::vector<std::string>& removed,
                              const std::string& system_version_info) {
  return apply(added, removed, system_version_info);
}

Status LdsApi::apply(const std::vector<xds::DecodedResource>& added,
                     const std::vector<std::string>& removed, const std::string& version) {
  system_version_info_ = version;  // processed, as Envoy's, even when a listener is refused
  std::string errors;
  std::vector<ListenerManager::UpdateFailure> failures;
  for (const auto& name : removed) listeners_.removeListener(name);
  for (const auto& resource : added) {
    envoy::config::listener::v3::Listener proto;
    proto.CopyFrom(*resource.resource);
    Status status = config::validateResource(proto);
    if (status.ok()) {
      status = listeners_.addOrUpdateListener(
          proto, resource.version.empty() ? version : resource.version);
    }
    if (!status.ok()) {
      LOG_WARN("lds: listener '{}' rejected: {}", resource.name, status.message());
      if (!errors.empty()) errors += "\n";
      errors += "Error adding/updating listener(s) " + resource.name + ": " + status.message();
      failures.push_back({resource.name, proto, std::chrono::system_clock::now(), status.message(),
                          resource.version.empty() ? version : resource.version});
    }
  }
  listeners_.setUpdateFailures(std::move(failures));
  init_target_.ready();
  if (!errors.empty()) return Status::error(errors);
  return Status();
}

void LdsApi::onConfigUpdateFailed(xds::UpdateFailureReason, const Status& error) {
  LOG_WARN("lds: {}", error.message());
  // The server does not wait forever for its listeners: it starts with what it has.
  init_target_.ready();
}

}  // namespace remora::server
