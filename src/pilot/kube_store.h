#pragma once

// What the Kubernetes API source holds: the objects of every watched resource as decoded from list
// items and watch events, with the changes since the last delivery. Pure logic, no I/O (the
// list+watch loops are in kube_source.*), so relists, events and malformed objects are unit-tested.
//
// A malformed object is reported as "<Kind> <ns>/<name>: <field>: <error>" and leaves its last
// good version (if any) served; a relist replaces a resource's objects wholesale, diffing by
// metadata.resourceVersion so unchanged objects are not marked changed.

#include <yaml-cpp/yaml.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "pilot/config_source.h"

namespace remora::pilot {

// One watched collection of the Kubernetes API.
struct KubeResource {
  std::string group;    // "" for the core group
  std::string version;  // the served version watched ("v1", or an Istio CRD's preferred one)
  std::string plural;   // the URL name: services, virtualservices, ...
  std::string kind;

  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
  // The cluster-wide collection: /api/v1/services, /apis/apps/v1/deployments, ...
  std::string path() const {
    return (group.empty() ? "/api/" : "/apis/" + group + "/") + version + "/" + plural;
  }
};

class KubeStore {
 public:
  // Replaces every object of `resource` by `items` (a complete, possibly relisted, collection).
  void replace(const KubeResource& resource, const std::vector<YAML::Node>& items);
  // A watch event: ADDED, MODIFIED or DELETED with its object.
  void apply(const KubeResource& resource, const std::string& type, const YAML::Node& object);

  bool dirty() const { return !changed_.empty() || errors_changed_; }
  // Everything served now, with the keys changed since the previous take().
  SourceSnapshot take();

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::optional<Object> object;  // the last version that decoded cleanly
    std::string resource_version;  // of the last version seen, good or not
    std::string error;             // why the last version seen was rejected
  };
  void upsert(const KubeResource& resource, YAML::Node object);
  void remove(const ObjectKey& key);
  void markChanged(const ObjectKey& key, const Object& object);
  void setError(Entry& entry, const ObjectKey& key, std::string error);

  std::map<ObjectKey, Entry> entries_;
  std::set<ObjectKey> changed_;
  bool errors_changed_ = false;
};

// metadata.resourceVersion of an object, list or bookmark ("" when absent).
std::string resourceVersionOf(const YAML::Node& node);

}  // namespace remora::pilot
