#pragma once

#include <functional>
#include <string_view>

#include "envoy/config/core/v3/config_source.pb.h"
#include "event/dispatcher.h"
#include "stats/store.h"
#include "xds/subscription.h"
#include "xds/subscription_stats.h"

namespace remora::xds {

// Makes the subscriptions for ConfigSources that go to a management server (`ads`,
// `api_config_source`): filled by the ADS client (src/xds/ads_*) once it exists. It gets the
// source, the type URL, the consumer and the consumer's stats, and returns the subscription or
// an error naming the field it cannot honour.
using ApiSubscriptionFactory = std::function<StatusOr<SubscriptionPtr>(
    const envoy::config::core::v3::ConfigSource& source, std::string_view type_url,
    SubscriptionCallbacks& callbacks, SubscriptionStats stats)>;

// What every subscription is made with. Owned by the server; lives as long as it.
struct SubscriptionFactoryContext {
  event::Dispatcher& dispatcher;  // the main thread's
  stats::Store& stats;
  ApiSubscriptionFactory api_factory;  // empty until an ADS client is configured
};

// Envoy's SubscriptionFactory: a ConfigSource and a type URL to a subscription delivering to
// `callbacks`, its stats under `stats_prefix` (e.g. "listener_manager.lds."). path /
// path_config_source → a FilesystemSubscription; ads / api_config_source → the context's
// api_factory, or an error naming the field when there is none. Not started: the caller calls
// start() when its init target runs.
StatusOr<SubscriptionPtr> makeSubscription(const envoy::config::core::v3::ConfigSource& source,
                                           std::string_view type_url,
                                           SubscriptionCallbacks& callbacks,
                                           SubscriptionFactoryContext& context,
                                           const std::string& stats_prefix);

// The same config source, for sharing a subscription (RDS providers are keyed on it).
std::string configSourceKey(const envoy::config::core::v3::ConfigSource& source);

}  // namespace remora::xds
