#pragma once

// Helpers for remora-pilot unit tests: a Model from YAML manifests, and unpacking generated
// resources.

#include <gtest/gtest.h>

#include "pilot/generator.h"
#include "pilot/manifest_parser.h"
#include "pilot/model.h"

namespace remora::pilot::testing {

inline std::map<ObjectKey, Object> objectsFrom(const std::string& yaml) {
  std::map<ObjectKey, Object> objects;
  for (auto& doc : parseManifests(yaml)) {
    EXPECT_FALSE(doc.error) << *doc.error;
    if (doc.object) objects.emplace(doc.object->key, *doc.object);
  }
  return objects;
}

inline Model modelFrom(const std::string& yaml) { return Model(objectsFrom(yaml), {}, 1); }

template <typename T>
T unpack(const Resources& resources, const std::string& name) {
  T out;
  auto it = resources.find(name);
  EXPECT_NE(it, resources.end()) << "no resource " << name;
  if (it != resources.end()) EXPECT_TRUE(it->second.UnpackTo(&out));
  return out;
}

inline std::vector<std::string> names(const Resources& resources) {
  std::vector<std::string> out;
  for (const auto& [name, any] : resources) out.push_back(name);
  return out;
}

inline Proxy sidecar(const std::string& ip, const std::string& pod,
                     const std::string& ns = "default") {
  envoy::config::core::v3::Node node;
  node.set_id("sidecar~" + ip + "~" + pod + "." + ns + "~" + ns + ".svc.cluster.local");
  return proxyFromNode(node);
}

// Two services (reviews with three versioned pods, ratings over TCP) and a DestinationRule.
inline const char* kMesh = R"(
apiVersion: v1
kind: Service
metadata: {name: reviews}
spec:
  clusterIP: 10.96.0.20
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: data}
spec:
  clusterIP: 10.96.0.30
  ports: [{name: tcp-db, port: 5432}]
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1, labels: {app: reviews, version: v1}}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v2, labels: {app: reviews, version: v2}}
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Endpoints
metadata: {name: reviews}
subsets:
- addresses: [{ip: 10.0.0.1, targetRef: {kind: Pod, name: reviews-v1}}, {ip: 10.0.0.2}]
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
)";

}  // namespace remora::pilot::testing
