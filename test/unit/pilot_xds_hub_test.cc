// remora-pilot's discovery core without gRPC: subscriptions, nonces, ACK/NACK bookkeeping, SotW
// and Delta answers, endpoint-only pushes and debounced full pushes, through a fake stream.

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "pilot/xds_hub.h"
#include "pilot_test_util.h"

namespace remora::pilot {
namespace {

using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

class FakeStream : public XdsStream {
 public:
  void send(DiscoveryResponse r) override {
    std::lock_guard<std::mutex> lock(mu_);
    sotw.push_back(std::move(r));
    cv_.notify_all();
  }
  void send(DeltaDiscoveryResponse r) override {
    std::lock_guard<std::mutex> lock(mu_);
    delta.push_back(std::move(r));
    cv_.notify_all();
  }
  // Waits (bounded) until `n` responses of either kind have arrived.
  bool waitFor(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return sotw.size() + delta.size() >= n; });
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return sotw.size() + delta.size();
  }
  std::vector<DiscoveryResponse> sotw;
  std::vector<DeltaDiscoveryResponse> delta;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
};

SourceSnapshot snapshot(const std::string& yaml, std::set<ObjectKey> changed = {}) {
  return SourceSnapshot{testing::objectsFrom(yaml), {}, std::move(changed)};
}

DiscoveryRequest sotwRequest(const std::string& type, std::vector<std::string> names = {},
                             const std::string& nonce = "") {
  DiscoveryRequest r;
  r.mutable_node()->set_id("sidecar~10.0.0.9~client.default~default.svc.cluster.local");
  r.set_type_url(type);
  for (auto& n : names) r.add_resource_names(n);
  r.set_response_nonce(nonce);
  return r;
}

const ObjectKey kEndpointsKey{"Endpoints", "default", "reviews"};
const ObjectKey kVsKey{"VirtualService", "default", "reviews"};

TEST(PilotXdsHub, SotwAnswersAckAndNack) {
  XdsHub hub;
  hub.onSourceChange(snapshot(testing::kMesh));
  FakeStream stream;
  hub.onRequest(&stream, sotwRequest(kClusterType));
  ASSERT_EQ(stream.sotw.size(), 1u);
  const DiscoveryResponse first = stream.sotw[0];  // a copy: the vector grows
  EXPECT_EQ(first.type_url(), kClusterType);
  EXPECT_EQ(first.resources_size(), 6);  // wildcard: every cluster
  // ACK: no new response.
  auto ack = sotwRequest(kClusterType, {}, first.nonce());
  ack.set_version_info(first.version_info());
  hub.onRequest(&stream, ack);
  EXPECT_EQ(stream.sotw.size(), 1u);
  // Named EDS: only those names.
  hub.onRequest(
      &stream,
      sotwRequest(kEndpointType, {"outbound|9080|v1|reviews.default.svc.cluster.local", "nope"}));
  ASSERT_EQ(stream.sotw.size(), 2u);
  EXPECT_EQ(stream.sotw[1].resources_size(), 1);
  // NACK with the EDS nonce: recorded, no resend.
  auto nack =
      sotwRequest(kEndpointType, {"outbound|9080|v1|reviews.default.svc.cluster.local", "nope"},
                  stream.sotw[1].nonce());
  nack.mutable_error_detail()->set_message("bad endpoint");
  hub.onRequest(&stream, nack);
  EXPECT_EQ(stream.sotw.size(), 2u);
  EXPECT_NE(hub.syncz().find("\"endpoint_nack\":\"bad endpoint\""), std::string::npos)
      << hub.syncz();
  EXPECT_NE(hub.syncz().find("\"cluster_acked\":\"" + first.nonce() + "\""), std::string::npos)
      << hub.syncz();
  EXPECT_NE(hub.metrics().find("pilot_total_xds_rejects{type=\"eds\"} 1"), std::string::npos);
  // A stale nonce is ignored.
  hub.onRequest(&stream, sotwRequest(kClusterType, {"x"}, "999"));
  EXPECT_EQ(stream.sotw.size(), 2u);
  EXPECT_NE(hub.metrics().find("pilot_xds_expired_nonce 1"), std::string::npos);
  hub.onClose(&stream);
  EXPECT_EQ(hub.connectionCount(), 0u);
}

TEST(PilotXdsHub, EndpointOnlyChangeIsPushedAtOnceAsEdsOnly) {
  XdsHub hub(std::chrono::milliseconds(10000));  // a full push would never come in this test
  hub.onSourceChange(snapshot(testing::kMesh));
  FakeStream stream;
  for (const auto* type : {kClusterType, kEndpointType, kListenerType})
    hub.onRequest(
        &stream,
        sotwRequest(
            type, type == kEndpointType
                      ? std::vector<std::string>{"outbound|9080||reviews.default.svc.cluster.local"}
                      : std::vector<std::string>{}));
  ASSERT_EQ(stream.count(), 3u);
  std::string mesh = testing::kMesh;
  mesh.replace(mesh.find("{ip: 10.0.0.2}"), 14, "{ip: 10.0.0.2}, {ip: 10.0.0.3}");
  hub.onSourceChange(snapshot(mesh, {kEndpointsKey}));
  ASSERT_EQ(stream.count(), 4u);  // synchronously, before any debounce
  EXPECT_EQ(stream.sotw[3].type_url(), kEndpointType);
  envoy::config::endpoint::v3::ClusterLoadAssignment cla;
  ASSERT_TRUE(stream.sotw[3].resources(0).UnpackTo(&cla));
  EXPECT_EQ(cla.endpoints(0).lb_endpoints_size(), 3);
}

TEST(PilotXdsHub, SotwEndpointPushCarriesOnlyChangedAssignments) {
  XdsHub hub(std::chrono::milliseconds(10000));
  hub.onSourceChange(snapshot(testing::kMesh));
  FakeStream stream;
  const std::vector<std::string> names{"outbound|9080||reviews.default.svc.cluster.local",
                                       "outbound|9080|v1|reviews.default.svc.cluster.local",
                                       "outbound|9080|v2|reviews.default.svc.cluster.local"};
  hub.onRequest(&stream, sotwRequest(kEndpointType, names));
  ASSERT_EQ(stream.count(), 1u);
  EXPECT_EQ(stream.sotw[0].resources_size(), 3);
  // A pod-less endpoint joins: only the default cluster's assignment changes (no subset has it).
  std::string mesh = testing::kMesh;
  mesh.replace(mesh.find("{ip: 10.0.0.2}"), 14, "{ip: 10.0.0.2}, {ip: 10.0.0.3}");
  hub.onSourceChange(snapshot(mesh, {kEndpointsKey}));
  ASSERT_EQ(stream.count(), 2u);
  ASSERT_EQ(stream.sotw[1].resources_size(), 1);
  envoy::config::endpoint::v3::ClusterLoadAssignment cla;
  ASSERT_TRUE(stream.sotw[1].resources(0).UnpackTo(&cla));
  EXPECT_EQ(cla.cluster_name(), names[0]);
  EXPECT_EQ(cla.endpoints(0).lb_endpoints_size(), 3);
  // The same endpoints again: nothing to send.
  hub.onSourceChange(snapshot(mesh, {kEndpointsKey}));
  EXPECT_EQ(stream.count(), 2u);
  // A new subscription (an ACK naming one more cluster) gets every subscribed assignment.
  auto more = names;
  more.push_back("outbound|5432||db.data.svc.cluster.local");
  hub.onRequest(&stream, sotwRequest(kEndpointType, more, stream.sotw[1].nonce()));
  ASSERT_EQ(stream.count(), 3u);
  EXPECT_EQ(stream.sotw[2].resources_size(), 4);
}

TEST(PilotXdsHub, LargeResponsesWaitForWritesBeyondTheThrottle) {
  std::string mesh;
  for (int i = 0; i < 70; ++i)  // 70 clusters: a large CDS response
    mesh += "---\napiVersion: v1\nkind: Service\nmetadata: {name: s" + std::to_string(i) +
            "}\nspec:\n  ports: [{name: http, port: 80}]\n";
  XdsHub hub(std::chrono::milliseconds(10000));
  hub.onSourceChange(snapshot(mesh));
  std::vector<FakeStream> streams(101);
  for (auto& stream : streams) hub.onRequest(&stream, sotwRequest(kClusterType));
  for (size_t i = 0; i < 100; ++i) ASSERT_EQ(streams[i].count(), 1u) << i;
  EXPECT_EQ(streams[100].count(), 0u);  // 100 large responses are being written
  hub.onWriteDone(&streams[0]);
  ASSERT_EQ(streams[100].count(), 1u);
  EXPECT_EQ(streams[100].sotw[0].resources_size(), 72);  // + PassthroughCluster, BlackHoleCluster
  for (auto& stream : streams) hub.onClose(&stream);
}

TEST(PilotXdsHub, FullPushesAreDebouncedAndSkipUnchangedTypes) {
  XdsHub hub(std::chrono::milliseconds(50));
  hub.onSourceChange(snapshot(testing::kMesh));
  FakeStream stream;
  hub.onRequest(&stream, sotwRequest(kClusterType));
  hub.onRequest(&stream, sotwRequest(kRouteType, {"9080"}));
  ASSERT_EQ(stream.count(), 2u);
  const std::string vs = std::string(testing::kMesh) + R"(
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews, subset: v1}}]}]
)";
  // Three changes in quick succession: one push, and only RDS changed.
  for (int i = 0; i < 3; ++i) hub.onSourceChange(snapshot(vs, {kVsKey}));
  ASSERT_TRUE(stream.waitFor(3));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // past the debounce: nothing more
  EXPECT_EQ(stream.count(), 3u);
  EXPECT_EQ(stream.sotw[2].type_url(), kRouteType);
  EXPECT_NE(hub.metrics().find("pilot_push_triggers{type=\"full\"} 1"), std::string::npos);
}

TEST(PilotXdsHub, DeltaSendsChangesAndRemovals) {
  XdsHub hub(std::chrono::milliseconds(10));
  hub.onSourceChange(snapshot(testing::kMesh));
  FakeStream stream;
  DeltaDiscoveryRequest r;
  r.mutable_node()->set_id("sidecar~10.0.0.9~client.default~default.svc.cluster.local");
  r.set_type_url(kClusterType);
  hub.onRequest(&stream, r);
  ASSERT_EQ(stream.delta.size(), 1u);
  EXPECT_EQ(stream.delta[0].resources_size(), 6);
  DeltaDiscoveryRequest ack;
  ack.set_type_url(kClusterType);
  ack.set_response_nonce(stream.delta[0].nonce());
  hub.onRequest(&stream, ack);
  // Drop the DestinationRule: its two subset clusters are removed, nothing else is resent.
  std::string mesh = testing::kMesh;
  mesh =
      mesh.substr(0, mesh.find("---\napiVersion: networking.istio.io/v1\nkind: DestinationRule"));
  hub.onSourceChange(snapshot(mesh, {ObjectKey{"DestinationRule", "default", "reviews"}}));
  ASSERT_TRUE(stream.waitFor(2));
  const auto& d = stream.delta[1];
  // The default cluster is unchanged: the rule's LEAST_REQUEST is also Istio's default.
  EXPECT_EQ(d.resources_size(), 0);
  ASSERT_EQ(d.removed_resources_size(), 2);
  EXPECT_EQ(d.removed_resources(0), "outbound|9080|v1|reviews.default.svc.cluster.local");
}

}  // namespace
}  // namespace remora::pilot
