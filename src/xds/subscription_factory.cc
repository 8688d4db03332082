#include "xds/subscription_factory.h"

#include "xds/filesystem_subscription.h"

namespace remora::xds {

StatusOr<SubscriptionPtr> makeSubscription(const envoy::config::core::v3::ConfigSource& source,
                                           std::string_view type_url,
                                           SubscriptionCallbacks& callbacks,
                                           SubscriptionFactoryContext& context,
                                           const std::string& stats_prefix) {
  SubscriptionStats stats(context.stats, stats_prefix);
  using Source = envoy::config::core::v3::ConfigSource;
  switch (source.config_source_specifier_case()) {
    case Source::kPath:
    case Source::kPathConfigSource:
      return SubscriptionPtr(std::make_unique<FilesystemSubscription>(context.dispatcher, source,
                                                                      type_url, callbacks, stats));
    case Source::kAds:
    case Source::kApiConfigSource:
      if (context.api_factory) return context.api_factory(source, type_url, callbacks, stats);
      return Status::error(std::string(source.has_ads() ? "ads" : "api_config_source") +
                           ": not supported by remora: no ADS client is configured "
                           "(dynamic_resources.ads_config)");
    default:
      break;
  }
  const auto* field =
      source.GetDescriptor()->FindFieldByNumber(source.config_source_specifier_case());
  return Status::error(field == nullptr ? "config_source_specifier: not set"
                                        : field->name() + ": not supported by remora");
}

std::string configSourceKey(const envoy::config::core::v3::ConfigSource& source) {
  std::string key;
  source.SerializeToString(&key);
  return key;
}

}  // namespace remora::xds
