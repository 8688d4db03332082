// Cluster warming (Envoy's cluster initialization): a cluster with health checks holds the init
// manager until every host has had its first check; one added after initialization reaches the
// workers' map only when warm; a replaced cluster's checker is unreachable from old snapshots.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>

#include "event/dispatcher.h"
#include "init/manager.h"
#include "net/socket.h"
#include "upstream/cluster_manager.h"
#include "upstream/host.h"

namespace remora::upstream {
namespace {

using envoy::config::cluster::v3::Cluster;

// A listening socket on loopback that a TCP health check connects to (the kernel completes the
// handshake from the backlog; nothing needs to accept).
class ListeningPort {
 public:
  ListeningPort() {
    auto fd = net::createListenSocket(*net::Address::parse("127.0.0.1", 0), false);
    EXPECT_TRUE(fd.ok());
    fd_ = *fd;
    port_ = net::localAddress(fd_).port();
  }
  ~ListeningPort() { ::close(fd_); }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// A port nobody listens on: a connect is refused at once.
uint16_t closedPort() {
  ListeningPort port;
  return port.port();
}

Cluster checkedCluster(const std::vector<uint16_t>& ports) {
  Cluster proto;
  proto.set_name("backend");
  auto* locality = proto.mutable_load_assignment()->add_endpoints();
  for (uint16_t port : ports) {
    auto* sa = locality->add_lb_endpoints()
                   ->mutable_endpoint()
                   ->mutable_address()
                   ->mutable_socket_address();
    sa->set_address("127.0.0.1");
    sa->set_port_value(port);
  }
  auto* hc = proto.add_health_checks();
  hc->mutable_timeout()->set_seconds(2);
  hc->mutable_interval()->set_seconds(30);
  hc->mutable_unhealthy_threshold()->set_value(1);
  hc->mutable_healthy_threshold()->set_value(1);
  hc->mutable_tcp_health_check();
  return proto;
}

class ClusterWarmingTest : public testing::Test {
 protected:
  ClusterWarmingTest() { store_.bindThread(0); }

  // Runs the loop until `done` holds or five seconds pass.
  bool runUntil(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    event::TimerPtr poll;
    poll = dispatcher_->createTimer([&] {
      if (done() || std::chrono::steady_clock::now() > deadline) {
        dispatcher_->exit();
        return;
      }
      poll->enableTimer(std::chrono::milliseconds(5));
    });
    poll->enableTimer(std::chrono::milliseconds(0));
    dispatcher_->run();
    return done();
  }

  ClusterConstSharedPtr makeCluster(const Cluster& proto) {
    return std::make_shared<upstream::Cluster>(proto, store_);
  }

  stats::Store store_{1};
  event::DispatcherPtr dispatcher_ = event::createDispatcher("main");
  init::Manager init_manager_{"Server"};
  ClusterManager manager_{*dispatcher_};
};

TEST_F(ClusterWarmingTest, HealthCheckedClusterHoldsInitUntilEveryHostWasCheckedOnce) {
  ListeningPort up;
  manager_.setInitManager(&init_manager_);
  manager_.addCluster(makeCluster(checkedCluster({up.port(), closedPort()})));
  // Served at once during startup (nothing accepts yet), every host failed until checked.
  ASSERT_NE(manager_.clusters()->count("backend"), 0u);
  for (const auto& host : manager_.get("backend")->hosts()) {
    EXPECT_TRUE(host->healthFlagGet(HealthFlag::FailedActiveHc));
    EXPECT_TRUE(host->healthFlagGet(HealthFlag::PendingActiveHc));
  }
  EXPECT_FALSE(manager_.isWarm("backend"));

  bool initialized = false;
  init_manager_.initialize([&] { initialized = true; });
  EXPECT_FALSE(initialized);
  EXPECT_EQ(init_manager_.pendingTargets(), std::vector<std::string>{"cluster backend"});

  ASSERT_TRUE(runUntil([&] { return initialized; }));
  EXPECT_TRUE(manager_.isWarm("backend"));
  const auto hosts = manager_.get("backend")->hosts();
  ASSERT_EQ(hosts.size(), 2u);
  // The round finished with both verdicts in: the up host passed, the refused one failed.
  EXPECT_TRUE(hosts[0]->healthy());
  EXPECT_FALSE(hosts[1]->healthy());
  EXPECT_FALSE(hosts[1]->healthFlagGet(HealthFlag::PendingActiveHc));
}

TEST_F(ClusterWarmingTest, StaticClusterWithoutHealthChecksDoesNotHoldInit) {
  auto proto = checkedCluster({closedPort()});
  proto.clear_health_checks();
  manager_.setInitManager(&init_manager_);
  manager_.addCluster(makeCluster(proto));
  EXPECT_TRUE(manager_.isWarm("backend"));
  bool initialized = false;
  init_manager_.initialize([&] { initialized = true; });
  EXPECT_TRUE(initialized);
}

TEST_F(ClusterWarmingTest, ClusterAddedAfterInitializationIsPublishedWhenWarm) {
  ListeningPort up;
  manager_.setInitManager(&init_manager_);
  init_manager_.initialize([] {});
  std::vector<ClusterMapConstSharedPtr> published;
  manager_.setPublisher([&](ClusterMapConstSharedPtr map) { published.push_back(map); });

  manager_.addCluster(makeCluster(checkedCluster({up.port()})));
  // Warming: out of the workers' map, counted in warming_clusters, but a known name (a
  // listener pushed right after CDS may already name it).
  EXPECT_EQ(manager_.clusters()->count("backend"), 0u);
  EXPECT_EQ(manager_.names().count("backend"), 1u);
  EXPECT_EQ(store_.gauge("cluster_manager.warming_clusters").value(), 1);

  ASSERT_TRUE(runUntil([&] { return !published.empty(); }));
  EXPECT_TRUE(manager_.isWarm("backend"));
  ASSERT_EQ(published.back()->count("backend"), 1u);
  // What the workers first see has its verdicts: the host is healthy, not in panic.
  EXPECT_TRUE(published.back()->at("backend")->hosts()[0]->healthy());
  EXPECT_EQ(store_.gauge("cluster_manager.warming_clusters").value(), 0);
}

TEST_F(ClusterWarmingTest, ReplacedClusterServesUntilItsReplacementIsWarm) {
  ListeningPort up;
  auto plain = checkedCluster({up.port()});
  plain.clear_health_checks();
  manager_.setInitManager(&init_manager_);
  manager_.addCluster(makeCluster(plain));
  init_manager_.initialize([] {});
  auto old = manager_.clusters()->at("backend");

  manager_.addCluster(makeCluster(checkedCluster({up.port()})));
  EXPECT_EQ(manager_.clusters()->at("backend"), old);
  EXPECT_EQ(store_.gauge("cluster_manager.warming_clusters").value(), 1);

  ASSERT_TRUE(runUntil([&] { return manager_.isWarm("backend"); }));
  EXPECT_NE(manager_.clusters()->at("backend"), old);
  EXPECT_EQ(manager_.clusters()->at("backend")->proto().health_checks_size(), 1);
  EXPECT_EQ(store_.gauge("cluster_manager.warming_clusters").value(), 0);
}

TEST_F(ClusterWarmingTest, ReplacingAWarmingClusterKeepsHoldingInit) {
  ListeningPort up;
  manager_.setInitManager(&init_manager_);
  manager_.addCluster(makeCluster(checkedCluster({up.port()})));
  bool initialized = false;
  init_manager_.initialize([&] { initialized = true; });
  // Replaced before its first round: the replacement's round is what the server waits for.
  manager_.addCluster(makeCluster(checkedCluster({up.port()})));
  EXPECT_FALSE(initialized);
  ASSERT_TRUE(runUntil([&] { return initialized; }));
  EXPECT_TRUE(manager_.get("backend")->hosts()[0]->healthy());
}

TEST_F(ClusterWarmingTest, ImmediateFailReportThroughAReplacedSnapshotReachesNoChecker) {
  ListeningPort up;
  manager_.addCluster(makeCluster(checkedCluster({up.port()})));
  auto old = manager_.get("backend");
  // A worker still holds `old` when the cluster is replaced (CDS) and its checker destroyed.
  manager_.addCluster(makeCluster(checkedCluster({up.port()})));
  old->reportImmediateHealthCheckFail(old->hosts()[0]);
  // Delivers the post, then the new checker's first round.
  ASSERT_TRUE(runUntil([&] { return manager_.isWarm("backend"); }));
  // The old checker is gone and the new one does not know the old host: nothing counted.
  EXPECT_EQ(store_.counter("cluster.backend.health_check.passive_failure").value(), 0u);

  // A report through the current snapshot reaches the current checker.
  auto current = manager_.get("backend");
  current->reportImmediateHealthCheckFail(current->hosts()[0]);
  ASSERT_TRUE(runUntil(
      [&] { return store_.counter("cluster.backend.health_check.passive_failure").value() == 1; }));
}

}  // namespace
}  // namespace remora::upstream
