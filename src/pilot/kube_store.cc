#include "pilot/kube_store.h"

#include <spdlog/spdlog.h>

#include "pilot/manifest_parser.h"

namespace remora::pilot {
namespace {

std::string scalarAt(const YAML::Node& node, const char* parent, const char* field) {
  const YAML::Node& n = node;
  if (!n.IsMap()) return "";
  const YAML::Node p = n[parent];
  if (!p.IsDefined() || !p.IsMap()) return "";
  const YAML::Node& pc = p;
  const YAML::Node v = pc[field];
  return v.IsDefined() && v.IsScalar() ? v.Scalar() : "";
}

// The key an API object is stored under, from its metadata (before decoding, so that even an
// object that fails to decode has a name to report).
ObjectKey keyOf(const KubeResource& resource, const YAML::Node& object) {
  std::string ns = scalarAt(object, "metadata", "namespace");
  return ObjectKey{resource.kind, ns.empty() ? "default" : ns,
                   scalarAt(object, "metadata", "name")};
}

std::string where(const ObjectKey& key) { return key.kind + " " + key.ns + "/" + key.name; }

}  // namespace

std::string resourceVersionOf(const YAML::Node& node) {
  return scalarAt(node, "metadata", "resourceVersion");
}

void KubeStore::replace(const KubeResource& resource, const std::vector<YAML::Node>& items) {
  std::set<ObjectKey> listed;
  for (const auto& item : items) {
    listed.insert(keyOf(resource, item));
    upsert(resource, item);
  }
  std::vector<ObjectKey> gone;
  for (const auto& [key, entry] : entries_)
    if (key.kind == resource.kind && !listed.count(key)) gone.push_back(key);
  for (const auto& key : gone) remove(key);
}

void KubeStore::apply(const KubeResource& resource, const std::string& type,
                      const YAML::Node& object) {
  if (type == "DELETED")
    remove(keyOf(resource, object));
  else
    upsert(resource, object);
}

void KubeStore::upsert(const KubeResource& resource, YAML::Node object) {
  const ObjectKey key = keyOf(resource, object);
  const std::string rv = resourceVersionOf(object);
  Entry& entry = entries_[key];
  // A relist returns every object again; one whose version we hold has not changed.
  if (!rv.empty() && rv == entry.resource_version && entry.error.empty() && entry.object) return;
  entry.resource_version = rv;
  if (!object.IsMap()) return setError(entry, key, "expected an object");
  if (key.name.empty()) return setError(entry, key, "metadata.name: required");
  // List items carry no apiVersion/kind (the list does); the decoders dispatch on them.
  if (!object["apiVersion"].IsDefined()) object["apiVersion"] = resource.apiVersion();
  if (!object["kind"].IsDefined()) object["kind"] = resource.kind;
  Object parsed;
  Status status = parseObject(object, parsed);
  if (!status.ok()) return setError(entry, key, status.message());
  parsed.key = key;
  if (entry.object) markChanged(key, *entry.object);
  markChanged(key, parsed);
  entry.object = std::move(parsed);
  if (!entry.error.empty()) {
    entry.error.clear();
    errors_changed_ = true;
  }
}

void KubeStore::remove(const ObjectKey& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  if (it->second.object) markChanged(key, *it->second.object);
  if (!it->second.error.empty()) errors_changed_ = true;
  entries_.erase(it);
}

void KubeStore::markChanged(const ObjectKey& key, const Object& object) {
  changed_.insert(key);
  // The model ignores a service's Endpoints object while it has slices (model.cc), so a slice
  // change also changes what that Endpoints object contributes.
  const auto* eps = std::get_if<Endpoints>(&object.body);
  if (eps && key.kind == "EndpointSlice")
    changed_.insert(ObjectKey{"Endpoints", eps->ns, eps->service});
}

void KubeStore::setError(Entry& entry, const ObjectKey& key, std::string error) {
  if (entry.error == error) return;
  spdlog::warn("kubernetes: {}: {} (keeping {})", where(key), error,
               entry.object ? "its last good version" : "nothing of it");
  entry.error = std::move(error);
  errors_changed_ = true;
}

SourceSnapshot KubeStore::take() {
  SourceSnapshot out;
  for (const auto& [key, entry] : entries_) {
    if (!entry.error.empty()) out.errors.push_back({where(key), entry.error});
    if (!entry.object) continue;
    out.objects.emplace(key, *entry.object);
  }
  out.changed = std::move(changed_);
  changed_.clear();
  errors_changed_ = false;
  return out;
}

}  // namespace remora::pilot
