#include "upstream/cluster_manager.h"

#include <gtest/gtest.h>

#include "event/dispatcher.h"

namespace remora::upstream {
namespace {

envoy::config::cluster::v3::Cluster clusterProto(
    const std::vector<std::pair<int, uint32_t>>& hosts) {
  envoy::config::cluster::v3::Cluster proto;
  proto.set_name("backend");
  auto* assignment = proto.mutable_load_assignment();
  assignment->set_cluster_name("backend");
  for (const auto& [last_octet, priority] : hosts) {
    auto* locality = assignment->add_endpoints();
    locality->set_priority(priority);
    auto* sa = locality->add_lb_endpoints()
                   ->mutable_endpoint()
                   ->mutable_address()
                   ->mutable_socket_address();
    sa->set_address("10.0.0." + std::to_string(last_octet));
    sa->set_port_value(80);
  }
  return proto;
}

HostConstSharedPtr host(int last_octet, uint32_t priority = 0) {
  return std::make_shared<Host>(*net::Address::parse("10.0.0." + std::to_string(last_octet), 80), 1,
                                "", priority);
}

std::vector<std::string> addresses(const HostVector& hosts) {
  std::vector<std::string> out;
  for (const auto& h : hosts) out.push_back(h->address_string);
  return out;
}

class ClusterManagerTest : public testing::Test {
 protected:
  ClusterManagerTest() { store_.bindThread(0); }

  // Publishes by recording; the loop runs once per step so the coalescing post is delivered.
  void publishTurn() {
    dispatcher_->post([this] { dispatcher_->exit(); });
    dispatcher_->run();
  }

  stats::Store store_{1};
  event::DispatcherPtr dispatcher_ = event::createDispatcher("main");
  ClusterManager manager_{*dispatcher_};
  std::vector<ClusterMapConstSharedPtr> published_;
};

TEST_F(ClusterManagerTest, HealthChangeRebuildsBalancingOverHealthyHostsAndPublishesOnce) {
  manager_.addCluster(std::make_shared<Cluster>(clusterProto({{1, 0}, {2, 0}, {3, 1}}), store_));
  manager_.setPublisher([this](ClusterMapConstSharedPtr map) { published_.push_back(map); });
  auto first = manager_.get("backend");
  EXPECT_EQ(addresses(first->hostSets()[0].lb_hosts),
            (std::vector<std::string>{"10.0.0.1:80", "10.0.0.2:80"}));
  EXPECT_EQ(first->priorityLoad(), (std::vector<uint32_t>{100, 0}));

  first->hosts()[0]->healthFlagSet(HealthFlag::FailedActiveHc);
  manager_.onHostHealthChanged("backend");
  first->hosts()[1]->healthFlagSet(HealthFlag::FailedOutlierCheck);
  manager_.onHostHealthChanged("backend");
  publishTurn();
  ASSERT_EQ(published_.size(), 1u);  // two changes in one turn: one map
  auto next = published_[0]->at("backend");
  EXPECT_NE(next, first);
  EXPECT_EQ(next->configVersion(), first->configVersion());
  // Priority 0 has no healthy host left: traffic goes to priority 1.
  EXPECT_EQ(next->priorityLoad(), (std::vector<uint32_t>{0, 100}));
  EXPECT_EQ(addresses(next->hostSets()[1].lb_hosts), (std::vector<std::string>{"10.0.0.3:80"}));
  EXPECT_EQ(store_.gauge("cluster.backend.membership_healthy").value(), 1);

  next->hosts()[2]->healthFlagSet(HealthFlag::FailedActiveHc);
  manager_.onHostHealthChanged("backend");
  // Nothing healthy anywhere: every level in panic, load by host counts over all hosts.
  auto panicked = manager_.get("backend");
  EXPECT_EQ(panicked->priorityLoad(), (std::vector<uint32_t>{67, 33}));
  EXPECT_TRUE(panicked->hostSets()[0].panic);
  EXPECT_EQ(addresses(panicked->hostSets()[0].lb_hosts),
            (std::vector<std::string>{"10.0.0.1:80", "10.0.0.2:80"}));
  EXPECT_EQ(store_.gauge("cluster.backend.membership_healthy").value(), 0);
}

TEST_F(ClusterManagerTest, MembershipUpdateKeepsContinuingHostsAndReportsChanges) {
  manager_.addCluster(std::make_shared<Cluster>(clusterProto({{1, 0}, {2, 0}}), store_));
  HostVector added_seen, removed_seen;
  manager_.addMemberUpdateCallback("backend",
                                   [&](const HostVector& added, const HostVector& removed) {
                                     added_seen = added;
                                     removed_seen = removed;
                                   });
  auto kept = manager_.get("backend")->hosts()[1];
  kept->healthFlagSet(HealthFlag::FailedActiveHc);

  manager_.updateHosts("backend", {host(2), host(3)});
  auto now = manager_.get("backend");
  ASSERT_EQ(now->hosts().size(), 2u);
  EXPECT_EQ(now->hosts()[0], kept);  // same object: its health flag carried over
  EXPECT_EQ(addresses(now->hostSets()[0].lb_hosts), (std::vector<std::string>{"10.0.0.3:80"}));
  EXPECT_EQ(addresses(added_seen), (std::vector<std::string>{"10.0.0.3:80"}));
  EXPECT_EQ(addresses(removed_seen), (std::vector<std::string>{"10.0.0.1:80"}));
  EXPECT_EQ(store_.counter("cluster.backend.membership_change").value(), 1u);

  manager_.updateHosts("backend", {host(2), host(3)});  // no change: nothing happens
  EXPECT_EQ(manager_.get("backend"), now);
  EXPECT_EQ(store_.counter("cluster.backend.membership_change").value(), 1u);
}

TEST_F(ClusterManagerTest, WorkersKeepPoolsOfContinuingHostsAcrossSnapshots) {
  manager_.addCluster(std::make_shared<Cluster>(clusterProto({{1, 0}, {2, 0}}), store_));
  ThreadLocalClusterManager worker;
  worker.update(manager_.clusters());
  auto* entry = worker.get("backend");
  ASSERT_NE(entry, nullptr);
  auto hosts = entry->cluster->hosts();
  HttpConnPool* pool1 = &entry->httpConnPool(hosts[0], *dispatcher_);
  entry->httpConnPool(hosts[1], *dispatcher_);

  manager_.updateHosts("backend", {hosts[0], host(3)});
  worker.update(manager_.clusters());
  entry = worker.get("backend");
  EXPECT_EQ(entry->http1_pools.size(), 1u);  // 10.0.0.2's pool was retired
  EXPECT_EQ(&entry->httpConnPool(hosts[0], *dispatcher_), pool1);

  // A new configuration (CDS) starts with fresh pools.
  manager_.addCluster(std::make_shared<Cluster>(clusterProto({{1, 0}}), store_));
  worker.update(manager_.clusters());
  EXPECT_TRUE(worker.get("backend")->http1_pools.empty());
}

}  // namespace
}  // namespace remora::upstream
