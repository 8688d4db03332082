// The generation cache: proxies in one scope share one generated set per model; the scope tells
// apart what translation reads from the proxy; a new set lists what changed since the last one.

#include <gtest/gtest.h>

#include "pilot/resource_cache.h"
#include "pilot_test_util.h"

namespace remora::pilot {
namespace {

Proxy sidecar(const std::string& ip, const std::string& ns) {
  Proxy p;
  p.id = "sidecar~" + ip + "~pod." + ns + "~" + ns + ".svc.cluster.local";
  p.ip = ip;
  p.ns = ns;
  return p;
}

TEST(PilotResourceCache, ProxiesInOneScopeShareOneSet) {
  Model model(testing::objectsFrom(testing::kMesh), {}, 1);
  ResourceCache cache;
  auto a = cache.get(model, sidecar("10.9.0.1", "default"), kClusterType);
  auto b = cache.get(model, sidecar("10.9.0.2", "default"), kClusterType);
  EXPECT_EQ(a, b);
  // Another namespace is another scope (exportTo, Sidecars and short names depend on it).
  EXPECT_NE(cache.get(model, sidecar("10.9.0.3", "data"), kListenerType),
            cache.get(model, sidecar("10.9.0.1", "default"), kListenerType));
  // A proxy that is an endpoint serves inbound ports: its own clusters.
  auto workload = cache.get(model, sidecar("10.0.0.1", "default"), kClusterType);
  EXPECT_NE(workload, a);
  EXPECT_TRUE(workload->resources.count("inbound|9080||"));
  EXPECT_FALSE(a->resources.count("inbound|9080||"));
  // Endpoints do not depend on the workload's ports.
  EXPECT_EQ(cache.get(model, sidecar("10.9.0.2", "default"), kEndpointType),
            cache.get(model, sidecar("10.9.0.1", "default"), kEndpointType));
}

TEST(PilotResourceCache, NewModelSetListsWhatChanged) {
  ResourceCache cache;
  const Proxy proxy = sidecar("10.9.0.1", "default");
  Model first(testing::objectsFrom(testing::kMesh), {}, 1);
  auto before = cache.get(first, proxy, kEndpointType);
  EXPECT_EQ(before->previous_id, 0u);
  EXPECT_TRUE(before->changed.empty());
  std::string mesh = testing::kMesh;
  mesh.replace(mesh.find("{ip: 10.0.0.2}"), 14, "{ip: 10.0.0.2}, {ip: 10.0.0.3}");
  Model second(testing::objectsFrom(mesh), {}, 2);
  auto after = cache.get(second, proxy, kEndpointType);
  EXPECT_EQ(after->previous_id, before->id);
  EXPECT_EQ(after->changed,
            std::set<std::string>{"outbound|9080||reviews.default.svc.cluster.local"});
  EXPECT_EQ(cache.get(second, proxy, kEndpointType), after);  // generated once per model
}

}  // namespace
}  // namespace remora::pilot
