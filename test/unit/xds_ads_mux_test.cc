#include <gtest/gtest.h>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "xds/ads_mux.h"

namespace remora::xds {
namespace {

using envoy::config::core::v3::ApiConfigSource;
using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

// A stream that records what the mux sends.
struct FakeStream : grpc::AsyncStream {
  explicit FakeStream(std::vector<std::string>& sent) : sent(sent) {}
  void sendMessage(const google::protobuf::Message& message) override {
    sent.push_back(message.SerializeAsString());
  }
  std::vector<std::string>& sent;
};

// Records updates; refuses them while `refuse` is set; can subscribe more on an update.
struct Consumer : SubscriptionCallbacks {
  Status onConfigUpdate(const std::vector<DecodedResource>& resources,
                        const std::string& version) override {
    names.clear();
    for (const auto& r : resources) names.push_back(r.name);
    versions.push_back(version);
    if (on_update) on_update();
    return refuse.empty() ? Status() : Status::error(refuse);
  }
  Status onConfigUpdate(const std::vector<DecodedResource>& added,
                        const std::vector<std::string>& removed_names,
                        const std::string& version) override {
    names.clear();
    for (const auto& r : added) names.push_back(r.name);
    removed = removed_names;
    versions.push_back(version);
    return refuse.empty() ? Status() : Status::error(refuse);
  }
  void onConfigUpdateFailed(UpdateFailureReason reason, const Status&) override {
    failures.push_back(reason);
  }
  std::vector<std::string> names, removed, versions;
  std::vector<UpdateFailureReason> failures;
  std::string refuse;
  std::function<void()> on_update;
};

class AdsMuxTest : public ::testing::Test {
 protected:
  AdsMuxTest() { store_.bindThread(0); }

  void makeMux(bool delta) {
    ApiConfigSource config;
    config.set_api_type(delta ? ApiConfigSource::DELTA_GRPC : ApiConfigSource::GRPC);
    envoy::config::core::v3::Node node;
    node.set_id("node-1");
    mux_ = std::make_unique<AdsMux>(
        config, node,
        [this](std::string_view method, grpc::AsyncStreamCallbacks&) {
          methods_.emplace_back(method);
          return std::make_unique<FakeStream>(sent_);
        },
        "test", *dispatcher_, store_);
  }

  SubscriptionPtr subscribe(const std::string& type, Consumer& consumer,
                            const std::string& prefix) {
    return mux_->subscribe(type, consumer, std::chrono::milliseconds(0),
                           SubscriptionStats(store_, prefix));
  }

  DiscoveryRequest sotw(size_t i) {
    DiscoveryRequest r;
    EXPECT_TRUE(r.ParseFromString(sent_.at(i)));
    return r;
  }
  DeltaDiscoveryRequest delta(size_t i) {
    DeltaDiscoveryRequest r;
    EXPECT_TRUE(r.ParseFromString(sent_.at(i)));
    return r;
  }

  static DiscoveryResponse endpoints(const std::string& version, const std::string& nonce,
                                     const std::vector<std::string>& names) {
    DiscoveryResponse response;
    response.set_type_url(kClusterLoadAssignmentType);
    response.set_version_info(version);
    response.set_nonce(nonce);
    for (const auto& name : names) {
      envoy::config::endpoint::v3::ClusterLoadAssignment cla;
      cla.set_cluster_name(name);
      response.add_resources()->PackFrom(cla);
    }
    return response;
  }
  void receive(const google::protobuf::Message& response) {
    mux_->onReceiveMessage(response.SerializeAsString());
  }

  stats::Store store_{1};
  event::DispatcherPtr dispatcher_ = event::createDispatcher("main");
  std::vector<std::string> sent_;
  std::vector<std::string> methods_;
  std::unique_ptr<AdsMux> mux_;
};

TEST_F(AdsMuxTest, SotwRequestsAcksAndNacksWithThePreviousVersion) {
  makeMux(false);
  Consumer a, b;
  auto sa = subscribe(kClusterLoadAssignmentType, a, "cluster.a.");
  auto sb = subscribe(kClusterLoadAssignmentType, b, "cluster.b.");
  sa->start({"a"});
  mux_->start();
  ASSERT_EQ(methods_,
            std::vector<std::string>{"/envoy.service.discovery.v3.AggregatedDiscoveryService/"
                                     "StreamAggregatedResources"});
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sotw(0).node().id(), "node-1");
  EXPECT_EQ(sotw(0).resource_names_size(), 1);
  sb->start({"b"});
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sotw(1).resource_names_size(), 2);  // the union of both subscriptions

  receive(endpoints("1", "n1", {"a", "b"}));
  EXPECT_EQ(a.names, std::vector<std::string>{"a"});  // each sees only what it watches
  EXPECT_EQ(b.names, std::vector<std::string>{"b"});
  ASSERT_EQ(sent_.size(), 3u);
  EXPECT_EQ(sotw(2).version_info(), "1");
  EXPECT_EQ(sotw(2).response_nonce(), "n1");
  EXPECT_FALSE(sotw(2).has_error_detail());

  b.refuse = "bad endpoints";
  receive(endpoints("2", "n2", {"a", "b"}));
  ASSERT_EQ(sent_.size(), 4u);
  EXPECT_EQ(sotw(3).version_info(), "1");  // NACK: the version still applied
  EXPECT_EQ(sotw(3).response_nonce(), "n2");
  EXPECT_EQ(sotw(3).error_detail().message(), "bad endpoints");
  EXPECT_EQ(b.failures, std::vector<UpdateFailureReason>{UpdateFailureReason::UpdateRejected});
  EXPECT_EQ(store_.counter("cluster.b.update_rejected").value(), 1u);
  EXPECT_EQ(store_.counter("cluster.a.update_success").value(), 2u);

  // An update that lacks a subscription's resource does not reach it (EDS keeps its hosts).
  b.refuse.clear();
  receive(endpoints("3", "n3", {"a"}));
  EXPECT_EQ(b.versions.size(), 2u);
  sb.reset();  // unsubscribing narrows the names asked for
  EXPECT_EQ(sotw(sent_.size() - 1).resource_names_size(), 1);
}

TEST_F(AdsMuxTest, EdsRequestsWaitForTheCdsAck) {
  makeMux(false);
  Consumer cds, eds;
  auto clusters = subscribe(kClusterType, cds, "cluster_manager.cds.");
  SubscriptionPtr endpoints_sub;
  // The CDS consumer subscribes to the new cluster's endpoints while it applies the update.
  cds.on_update = [&] {
    endpoints_sub = subscribe(kClusterLoadAssignmentType, eds, "cluster.c.");
    endpoints_sub->start({"c"});
  };
  clusters->start({});
  mux_->start();
  ASSERT_EQ(sent_.size(), 1u);
  DiscoveryResponse response;
  response.set_type_url(kClusterType);
  response.set_version_info("1");
  response.set_nonce("c1");
  envoy::config::cluster::v3::Cluster c;
  c.set_name("c");
  response.add_resources()->PackFrom(c);
  receive(response);
  ASSERT_EQ(sent_.size(), 3u);
  EXPECT_EQ(sotw(1).type_url(), kClusterType);  // the CDS ACK first
  EXPECT_EQ(sotw(1).response_nonce(), "c1");
  EXPECT_EQ(sotw(2).type_url(), kClusterLoadAssignmentType);
}

TEST_F(AdsMuxTest, DeltaSendsDiffsAndResubscribesWithVersionsOnANewStream) {
  makeMux(true);
  Consumer consumer;
  auto sub = subscribe(kClusterLoadAssignmentType, consumer, "cluster.a.");
  sub->start({"a"});
  mux_->start();
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(delta(0).node().id(), "node-1");
  ASSERT_EQ(delta(0).resource_names_subscribe_size(), 1);

  DeltaDiscoveryResponse response;
  response.set_type_url(kClusterLoadAssignmentType);
  response.set_nonce("d1");
  auto* resource = response.add_resources();
  resource->set_name("a");
  resource->set_version("v7");
  envoy::config::endpoint::v3::ClusterLoadAssignment cla;
  cla.set_cluster_name("a");
  resource->mutable_resource()->PackFrom(cla);
  receive(response);
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(delta(1).response_nonce(), "d1");
  EXPECT_FALSE(delta(1).has_node());  // only the first request of the stream

  sub->updateResourceInterest({"b"});
  ASSERT_EQ(sent_.size(), 3u);
  EXPECT_EQ(delta(2).resource_names_subscribe(0), "b");
  EXPECT_EQ(delta(2).resource_names_unsubscribe(0), "a");

  sub->updateResourceInterest({"a", "b"});
  receive(response);  // "a" again at v7
  mux_->onRemoteClose(14, "gone");
  EXPECT_EQ(store_.gauge("control_plane.connected_state").value(), 0);
  EXPECT_EQ(store_.counter("cluster.a.update_failure").value(), 1u);
  const size_t before = sent_.size();
  EXPECT_EQ(methods_.size(), 1u);  // not at once: the backoff waits
  // The reconnect comes within the first backoff ceiling (500 ms).
  auto stop = dispatcher_->createTimer([this] { dispatcher_->exit(); });
  stop->enableTimer(std::chrono::milliseconds(700));
  dispatcher_->run();
  ASSERT_EQ(methods_.size(), 2u);
  ASSERT_EQ(sent_.size(), before + 1);
  const auto fresh = delta(before);
  EXPECT_EQ(fresh.node().id(), "node-1");
  EXPECT_EQ(fresh.resource_names_subscribe_size(), 2);
  EXPECT_EQ(fresh.initial_resource_versions().at("a"), "v7");
}

}  // namespace
}  // namespace remora::xds
