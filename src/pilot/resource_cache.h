#pragma once

// Generated resources cached by what they depend on. Translation of one type for one proxy reads
// only part of the proxy (its SidecarScope: namespace, the Sidecar applied, workload labels; for
// CDS, LDS and RDS also whether it is a gRPC client and the ports its own workload serves):
// proxies that agree on that part — the scope — get the very same resources, so each
// (model, type, scope) is generated and serialized once, however many proxies share it.
//
// Each set also knows what changed since the set of its scope it replaced (names added, modified
// or removed), so a push after an endpoint change walks that short list per proxy instead of
// re-comparing every resource, and SotW EDS/RDS pushes carry only the changed resources.
//
// Not thread-safe: the hub calls it under its lock.

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "pilot/generator.h"
#include "pilot/model.h"
#include "pilot/proxy.h"

namespace remora::pilot {

struct ResourceSet {
  uint64_t id = 0;           // unique for the hub's life, never 0
  uint64_t previous_id = 0;  // the set of the same type and scope this one replaced; 0 if none
  Resources resources;
  std::map<std::string, size_t> hashes;  // name → hash of the serialized resource
  std::set<std::string> changed;         // names added, modified or removed since previous_id
};
using ResourceSetPtr = std::shared_ptr<const ResourceSet>;

class ResourceCache {
 public:
  // `type_url`'s resources for `proxy` under `model`, generated on the first call for the
  // (model, type, scope) and shared after.
  ResourceSetPtr get(const Model& model, const Proxy& proxy, const std::string& type_url);

  // Everything generation of `type_url` reads from the proxy, as a string. A generator that starts
  // reading more of the proxy must add it here (or to SidecarScope::key()), or proxies that differ
  // in it would share resources.
  static std::string scopeKey(const Model& model, const Proxy& proxy, const std::string& type_url);

  size_t scopes() const { return latest_.size(); }

 private:
  uint64_t model_version_ = 0;
  std::map<std::string, ResourceSetPtr> current_;  // by type + scope, for model_version_
  struct Latest {
    ResourceSetPtr set;
    uint64_t used_at = 0;  // model version of the last get() for this type + scope
  };
  // The newest set by type + scope, any model; scopes unused for kForgetAfter model versions are
  // forgotten (pods come and go with their labels).
  std::map<std::string, Latest> latest_;
  static constexpr uint64_t kForgetAfter = 1024;
  uint64_t next_id_ = 1;
};

}  // namespace remora::pilot
