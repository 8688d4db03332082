#pragma once

#include <chrono>
#include <set>
#include <string>

#include "common/file_watcher.h"
#include "envoy/config/core/v3/config_source.pb.h"
#include "event/dispatcher.h"
#include "xds/subscription.h"
#include "xds/subscription_stats.h"

namespace remora::xds {

// Envoy's filesystem subscription, for any resource type: the file (path_config_source.path,
// or the deprecated ConfigSource.path) holds a DiscoveryResponse — YAML for .yaml/.yml, JSON
// otherwise — whose resources are decoded into the subscription's type and delivered as State of
// the World. The file is read at start and again whenever it is moved into place (`mv`, an
// atomic replace: the directory is watched, so the rename is seen) or, with watched_directory,
// whenever anything is moved into that directory.
//
// With resource names (EDS, RDS) only those resources are delivered; with none (LDS, CDS) all.
// A file that does not parse, holds a resource of another type, or that the consumer refuses
// counts update_rejected and the consumer hears onConfigUpdateFailed(UpdateRejected); an
// unreadable (e.g. not yet written) file only counts update_failure: as with a control plane
// not reachable yet, a warming consumer keeps waiting, bounded by initial_fetch_timeout. Either
// way the consumer keeps what it had. initial_fetch_timeout (Envoy's default 15 s; 0 disables) runs
// from start() until the first accepted or rejected response.
class FilesystemSubscription final : public Subscription {
 public:
  FilesystemSubscription(event::Dispatcher& dispatcher,
                         const envoy::config::core::v3::ConfigSource& source,
                         std::string_view type_url, SubscriptionCallbacks& callbacks,
                         SubscriptionStats stats);

  void start(const std::set<std::string>& resource_names) override;
  void updateResourceInterest(const std::set<std::string>& resource_names) override;

  const std::string& path() const { return path_; }

 private:
  void reload();
  // The file's resources, or why it cannot be used.
  StatusOr<std::pair<std::vector<DecodedResource>, std::string>> read(bool& unreadable) const;
  void deliverFailure(UpdateFailureReason reason, const Status& error);

  event::Dispatcher& dispatcher_;
  const std::string type_url_;
  SubscriptionCallbacks& callbacks_;
  SubscriptionStats stats_;
  std::string path_;
  std::string directory_;
  bool any_entry_ = false;  // watched_directory: any move into it reloads
  std::chrono::milliseconds initial_fetch_timeout_{15000};
  std::set<std::string> names_;
  bool started_ = false;
  bool first_response_seen_ = false;
  event::TimerPtr init_fetch_timer_;
  FileWatcher watcher_;
};

// The name a resource goes by: Listener, Cluster, RouteConfiguration and Secret have `name`,
// ClusterLoadAssignment `cluster_name`.
std::string resourceName(const google::protobuf::Message& resource);

}  // namespace remora::xds
