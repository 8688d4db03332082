#pragma once

#include "envoy/config/core/v3/config_source.pb.h"
#include "init/manager.h"
#include "server/listener_manager.h"
#include "xds/subscription_factory.h"

namespace remora::server {

// LDS (dynamic_resources.lds_config), as Envoy's LdsApi: subscribes to every Listener and hands
// them to the ListenerManager. A State-of-the-World response is the whole set: listeners LDS
// added that it no longer names are removed, the others added or updated one by one. Those
// that fail (do not validate or build, cannot bind) are reported together as the NACK's
// error_detail; the rest apply, as in Envoy. The server's init waits for the first response
// (or its failure, or initial_fetch_timeout). Stats: listener_manager.lds.*.
class LdsApi final : public xds::SubscriptionCallbacks {
 public:
  LdsApi(ListenerManager& listeners, init::Manager& server_init);
  Status start(const envoy::config::core::v3::ConfigSource& source,
               xds::SubscriptionFactoryContext& context);

  Status onConfigUpdate(const std::vector<xds::DecodedResource>& resources,
                        const std::string& version_info) override;
  Status onConfigUpdate(const std::vector<xds::DecodedResource>& added,
                        const std::vector<std::string>& removed,
                        const std::string& system_version_info) override;
  void onConfigUpdateFailed(xds::UpdateFailureReason reason, const Status& error) override;

  // The version_info of the last LDS response processed (ListenersConfigDump.version_info).
  const std::string& versionInfo() const { return system_version_info_; }

 private:
  Status apply(const std::vector<xds::DecodedResource>& added,
               const std::vector<std::string>& removed, const std::string& version);

  ListenerManager& listeners_;
  init::Target init_target_;
  xds::SubscriptionPtr subscription_;
  std::string system_version_info_;
};

}  // namespace remora::server
