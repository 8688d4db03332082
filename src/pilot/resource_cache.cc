#include "pilot/resource_cache.h"

#include <fmt/format.h>

#include <functional>

#include "pilot/inbound.h"
#include "pilot/sidecar_scope.h"

namespace remora::pilot {

std::string ResourceCache::scopeKey(const Model& model, const Proxy& proxy,
                                    const std::string& type_url) {
  // What every type reads: the Sidecar scope (namespace, Sidecar applied, workload labels),
  // without the model version it starts with (sets of one scope across models are compared).
  const SidecarScope scope(model, proxy);
  const std::string& sidecar = scope.key();
  std::string key = sidecar.substr(sidecar.find('|') + 1);
  if (type_url == kEndpointType) return key;
  // Clusters, listeners and routes: gRPC or sidecar, and the workload's inbound ports.
  key += proxy.grpc ? "|grpc|" : "|sidecar|";
  if (!proxy.grpc)
    for (const auto& in : inboundPorts(model, proxy))
      key += fmt::format(
          "{}{}{}{}{},", in.port, in.http ? "h" : "", in.http2 ? "2" : "", in.ipv6 ? "6" : "",
          in.destination_rule ? "/" + in.destination_rule->ns + "/" + in.destination_rule->name
                              : "");
  return key;
}

ResourceSetPtr ResourceCache::get(const Model& model, const Proxy& proxy,
                                  const std::string& type_url) {
  if (model.version() != model_version_) {
    current_.clear();
    model_version_ = model.version();
    for (auto it = latest_.begin(); it != latest_.end();)
      it = it->second.used_at + kForgetAfter < model_version_ ? latest_.erase(it) : std::next(it);
  }
  const std::string key = type_url + "\n" + scopeKey(model, proxy, type_url);
  auto& slot = current_[key];
  if (slot) return slot;

  auto set = std::make_shared<ResourceSet>();
  set->id = next_id_++;
  set->resources = generate(model, proxy, type_url);
  for (const auto& [name, any] : set->resources)
    set->hashes.emplace(name, std::hash<std::string>{}(any.value()));
  auto& [latest, used_at] = latest_[key];
  used_at = model_version_;
  if (latest) {
    set->previous_id = latest->id;
    for (const auto& [name, hash] : set->hashes) {
      auto it = latest->hashes.find(name);
      if (it == latest->hashes.end() || it->second != hash) set->changed.insert(name);
    }
    for (const auto& [name, hash] : latest->hashes)
      if (!set->hashes.count(name)) set->changed.insert(name);
  }
  latest = set;
  slot = set;
  return set;
}

}  // namespace remora::pilot
