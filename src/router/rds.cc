#include "router/rds.h"

#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>

#include "common/logger.h"
#include "config/load_and_validate.h"

namespace remora::router {

namespace {
std::shared_ptr<const RouteConfig> emptyRouteConfig() {
  static const auto empty = [] {
    auto built = RouteConfig::create(envoy::config::route::v3::RouteConfiguration(), nullptr);
    return built.value();
  }();
  return empty;
}
}  // namespace

RdsRouteConfigProvider::RdsRouteConfigProvider(std::string route_config_name, stats::Store& store,
                                               const std::string& stat_prefix)
    : name_(std::move(route_config_name)),
      store_(store),
      stats_(store, stat_prefix),
      config_(emptyRouteConfig()) {}

Status RdsRouteConfigProvider::start(const envoy::config::core::v3::ConfigSource& source,
                                     xds::SubscriptionFactoryContext& context,
                                     const std::string& stat_prefix) {
  auto subscription =
      xds::makeSubscription(source, xds::kRouteConfigurationType, *this, context, stat_prefix);
  if (!subscription.ok()) return subscription.status();
  subscription_ = std::move(subscription).value();
  subscription_->start({name_});
  return Status();
}

void RdsRouteConfigProvider::addInitTarget(init::Manager& init_manager) {
  if (first_response_done_) return;  // a listener sharing routes already in serves at once
  auto target = std::make_unique<init::Target>("RDS " + name_, [] {});
  init_manager.add(*target);
  init_targets_.push_back(std::move(target));
}

void RdsRouteConfigProvider::releaseInitTargets() {
  first_response_done_ = true;
  auto targets = std::move(init_targets_);
  init_targets_.clear();
  for (auto& target : targets) target->ready();
}

Status RdsRouteConfigProvider::onConfigUpdate(const std::vector<xds::DecodedResource>& resources,
                                              const std::string& version_info) {
  const xds::DecodedResource* mine = nullptr;
  for (const auto& resource : resources) {
    if (resource.name == name_) mine = &resource;
  }
  if (mine == nullptr) {
    // Envoy keeps its routes when a response lacks the configuration it asked for.
    releaseInitTargets();
    return Status();
  }
  envoy::config::route::v3::RouteConfiguration proto;
  proto.CopyFrom(*mine->resource);
  RETURN_IF_ERROR(config::validateResource(proto).withPrefix("route_config " + name_));
  auto built = RouteConfig::create(proto, nullptr, &store_);
  if (!built.ok()) return built.status().withPrefix("route_config " + name_);
  const bool changed =
      !has_config_ || !google::protobuf::util::MessageDifferencer::Equals(proto, proto_);
  if (changed) {
    config_.store(built.value());
    stats_.config_reload.inc();
    proto_ = std::move(proto);
  }
  has_config_ = true;
  version_ = version_info;
  last_updated_ = std::chrono::system_clock::now();
  releaseInitTargets();
  return Status();
}

Status RdsRouteConfigProvider::onConfigUpdate(const std::vector<xds::DecodedResource>& added,
                                              const std::vector<std::string>& removed,
                                              const std::string& system_version_info) {
  // Removing the configuration keeps the routes (as Envoy's); an added one applies as SotW.
  (void)removed;
  return onConfigUpdate(added, system_version_info);
}

void RdsRouteConfigProvider::onConfigUpdateFailed(xds::UpdateFailureReason, const Status& error) {
  LOG_WARN("rds: {}: {}", name_, error.message());
  // A listener does not wait forever: it serves with what it has (initial_fetch_timeout).
  releaseInitTargets();
}

StatusOr<std::shared_ptr<RdsRouteConfigProvider>> RouteConfigProviderManager::rdsProvider(
    const envoy::extensions::filters::network::http_connection_manager::v3::Rds& rds,
    const std::string& stat_prefix, init::Manager* init_manager) {
  const auto key =
      std::make_pair(rds.route_config_name(), xds::configSourceKey(rds.config_source()));
  std::shared_ptr<RdsRouteConfigProvider> provider = providers_[key];
  if (provider == nullptr) {
    const std::string prefix = "http." + stat_prefix + ".rds." + rds.route_config_name() + ".";
    provider = std::make_shared<RdsRouteConfigProvider>(rds.route_config_name(), store_, prefix);
    RETURN_IF_ERROR(provider->start(rds.config_source(), context_, prefix).withPrefix("rds"));
    providers_[key] = provider;
  }
  if (init_manager != nullptr) provider->addInitTarget(*init_manager);
  return provider;
}

void RouteConfigProviderManager::collectUnused() {
  for (auto it = providers_.begin(); it != providers_.end();) {
    if (it->second == nullptr || it->second.use_count() == 1) {
      it = providers_.erase(it);
    } else {
      ++it;
    }
  }
}

void RouteConfigProviderManager::dump(envoy::admin::v3::RoutesConfigDump& out) const {
  for (const auto& [key, provider] : providers_) {
    if (provider == nullptr || !provider->hasConfig()) continue;
    auto* dynamic = out.add_dynamic_route_configs();
    dynamic->set_version_info(provider->versionInfo());
    dynamic->mutable_route_config()->PackFrom(provider->proto());
    *dynamic->mutable_last_updated() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
        std::chrono::duration_cast<std::chrono::nanoseconds>(
            provider->lastUpdated().time_since_epoch())
            .count());
  }
}

}  // namespace remora::router
