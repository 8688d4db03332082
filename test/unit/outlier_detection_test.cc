#include "upstream/outlier_detection.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "upstream/cluster_manager.h"

namespace remora::upstream::outlier {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Proto = envoy::config::cluster::v3::OutlierDetection;

HostConstSharedPtr makeHost(int last_octet) {
  return std::make_shared<Host>(*net::Address::parse("10.0.0." + std::to_string(last_octet), 80),
                                1);
}

void setMs(google::protobuf::Duration* d, int64_t ms) {
  d->set_seconds(ms / 1000);
  d->set_nanos(static_cast<int32_t>(ms % 1000) * 1000000);
}

// A detector over real hosts with a fake clock and random source. Posts from "workers" (the
// test thread) reach the detector when deliverPosts() runs the loop for one turn.
class OutlierDetectorTest : public testing::Test {
 protected:
  OutlierDetectorTest() {
    store_.bindThread(0);
    proto_.mutable_max_ejection_percent()->set_value(100);
    setMs(proto_.mutable_base_ejection_time(), 10000);
    setMs(proto_.mutable_interval(), 1000);
  }

  void create(int host_count) {
    for (int i = 1; i <= host_count; ++i) hosts_.push_back(makeHost(i));
    auto config = DetectorConfig::create(proto_, "outlier_detection");
    ASSERT_TRUE(config.ok()) << config.status().message();
    Detector::Options options;
    options.clock = [this] { return now_; };
    options.random = [this] { return random_; };
    detector_ = Detector::create(
        hosts_, "backend", *config, store_, *dispatcher_, [this] { ++health_changes_; }, options);
  }

  void deliverPosts() {
    dispatcher_->post([this] { dispatcher_->exit(); });
    dispatcher_->run();
  }
  HostMonitor& monitor(size_t i) { return *hosts_[i]->outlierMonitor(); }
  bool ejected(size_t i) { return hosts_[i]->healthFlagGet(HealthFlag::FailedOutlierCheck); }
  uint64_t counter(const std::string& name) {
    return store_.counter("cluster.backend.outlier_detection." + name).value();
  }
  int64_t active() {
    return store_.gauge("cluster.backend.outlier_detection.ejections_active").value();
  }
  void respond(size_t host, uint64_t code, int times) {
    for (int i = 0; i < times; ++i) monitor(host).putHttpResponseCode(code);
    deliverPosts();
  }
  // Ejects host 0 by consecutive 5xx (the default limit of 5).
  void ejectFirst() { respond(0, 500, 5); }

  stats::Store store_{1};
  event::DispatcherPtr dispatcher_ = event::createDispatcher("main");
  Proto proto_;
  HostVector hosts_;
  std::shared_ptr<Detector> detector_;
  event::MonotonicTime now_{seconds(1000)};
  uint64_t random_ = 0;
  int health_changes_ = 0;
};

TEST_F(OutlierDetectorTest, ConsecutiveFivexxEjectsAtTheLimitAndASuccessStartsOver) {
  proto_.mutable_consecutive_5xx()->set_value(3);
  create(3);
  respond(0, 500, 2);
  respond(0, 200, 1);
  respond(0, 502, 2);
  EXPECT_FALSE(ejected(0));
  respond(0, 503, 1);
  EXPECT_TRUE(ejected(0));
  EXPECT_EQ(health_changes_, 1);
  EXPECT_EQ(counter("ejections_detected_consecutive_5xx"), 1u);
  EXPECT_EQ(counter("ejections_enforced_consecutive_5xx"), 1u);
  EXPECT_EQ(counter("ejections_enforced_total"), 1u);
  EXPECT_EQ(counter("ejections_consecutive_5xx"), 1u);
  EXPECT_EQ(counter("ejections_total"), 1u);
  EXPECT_EQ(active(), 1);
  // Already ejected: further errors detect nothing more.
  respond(0, 500, 3);
  EXPECT_EQ(counter("ejections_detected_consecutive_5xx"), 1u);
}

TEST_F(OutlierDetectorTest, WorkersRacingPastTheLimitNotifyOnce) {
  proto_.mutable_consecutive_gateway_failure()->set_value(0);
  create(3);
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([this] {
      for (int i = 0; i < 1000; ++i) monitor(0).putHttpResponseCode(500);
    });
  }
  for (auto& w : workers) w.join();
  deliverPosts();
  EXPECT_TRUE(ejected(0));
  EXPECT_EQ(counter("ejections_detected_consecutive_5xx"), 1u);
}

TEST_F(OutlierDetectorTest, GatewayFailuresAreDetectedButNotEnforcedByDefault) {
  proto_.mutable_consecutive_5xx()->set_value(100);
  create(3);
  respond(0, 503, 4);
  respond(0, 500, 1);  // a 5xx that is not a gateway error breaks the run
  respond(0, 504, 4);
  EXPECT_EQ(counter("ejections_detected_consecutive_gateway_failure"), 0u);
  respond(0, 502, 1);
  EXPECT_EQ(counter("ejections_detected_consecutive_gateway_failure"), 1u);
  EXPECT_EQ(counter("ejections_enforced_consecutive_gateway_failure"), 0u);
  EXPECT_FALSE(ejected(0));
}

TEST_F(OutlierDetectorTest, GatewayFailureEnforcedWhenConfigured) {
  proto_.mutable_enforcing_consecutive_gateway_failure()->set_value(100);
  proto_.mutable_consecutive_gateway_failure()->set_value(2);
  create(3);
  respond(1, 504, 2);
  EXPECT_TRUE(ejected(1));
  EXPECT_EQ(counter("ejections_enforced_consecutive_gateway_failure"), 1u);
}

TEST_F(OutlierDetectorTest, EjectionTimeGrowsWithEachEjectionAndShrinksWhileHealthy) {
  create(3);
  ejectFirst();
  now_ += milliseconds(9999);
  detector_->runInterval();
  EXPECT_TRUE(ejected(0));
  now_ += milliseconds(1);
  detector_->runInterval();
  EXPECT_FALSE(ejected(0));
  EXPECT_EQ(active(), 0);
  EXPECT_EQ(health_changes_, 2);

  // Ejected again before an interval passed: twice the base time.
  ejectFirst();
  now_ += seconds(19);
  detector_->runInterval();
  EXPECT_TRUE(ejected(0));
  now_ += seconds(1);
  detector_->runInterval();
  EXPECT_FALSE(ejected(0));

  // Two healthy intervals bring the multiplier back to zero: the next ejection is base time.
  detector_->runInterval();
  detector_->runInterval();
  ejectFirst();
  now_ += seconds(10);
  detector_->runInterval();
  EXPECT_FALSE(ejected(0));
  EXPECT_EQ(counter("ejections_enforced_total"), 3u);
}

TEST_F(OutlierDetectorTest, MaxEjectionTimeCapsTheGrowth) {
  setMs(proto_.mutable_max_ejection_time(), 15000);
  create(3);
  ejectFirst();
  now_ += seconds(10);
  detector_->runInterval();
  ASSERT_FALSE(ejected(0));
  ejectFirst();
  now_ += seconds(15);
  detector_->runInterval();
  EXPECT_FALSE(ejected(0));  // 15 s, not 20 s
}

TEST_F(OutlierDetectorTest, JitterLengthensTheEjection) {
  setMs(proto_.mutable_max_ejection_time_jitter(), 1000);
  random_ = 1500;  // 1500 % 1001 = 499 ms
  create(3);
  ejectFirst();
  now_ += milliseconds(10498);
  detector_->runInterval();
  EXPECT_TRUE(ejected(0));
  now_ += milliseconds(1);
  detector_->runInterval();
  EXPECT_FALSE(ejected(0));
}

TEST_F(OutlierDetectorTest, MaxEjectionPercentCapsEjections) {
  proto_.mutable_max_ejection_percent()->set_value(34);
  create(3);
  ejectFirst();
  EXPECT_TRUE(ejected(0));
  respond(1, 500, 5);
  EXPECT_FALSE(ejected(1));  // 2 of 3 would be 67%
  EXPECT_EQ(counter("ejections_overflow"), 1u);
  EXPECT_EQ(counter("ejections_detected_consecutive_5xx"), 2u);
  EXPECT_EQ(active(), 1);
}

TEST_F(OutlierDetectorTest, DefaultTenPercentEjectsNothingFromThreeHostsUnlessAlwaysEjectOne) {
  proto_.clear_max_ejection_percent();
  create(3);
  ejectFirst();
  EXPECT_FALSE(ejected(0));  // 1 of 3 is 33% > 10%
  EXPECT_EQ(counter("ejections_overflow"), 1u);
}

TEST_F(OutlierDetectorTest, AlwaysEjectOneHostLetsTheFirstThrough) {
  proto_.clear_max_ejection_percent();
  proto_.mutable_always_eject_one_host()->set_value(true);
  create(3);
  ejectFirst();
  EXPECT_TRUE(ejected(0));
  respond(1, 500, 5);
  EXPECT_FALSE(ejected(1));
  EXPECT_EQ(counter("ejections_overflow"), 1u);
}

TEST_F(OutlierDetectorTest, EnforcingPercentageDrawsFromTheRandomSource) {
  proto_.mutable_enforcing_consecutive_5xx()->set_value(50);
  create(3);
  random_ = 70;  // 70 % 100 >= 50: detected only
  ejectFirst();
  EXPECT_FALSE(ejected(0));
  EXPECT_EQ(counter("ejections_detected_consecutive_5xx"), 1u);
  EXPECT_EQ(counter("ejections_total"), 1u);
  random_ = 149;  // 49 < 50
  ejectFirst();
  EXPECT_TRUE(ejected(0));
}

TEST_F(OutlierDetectorTest, WithoutSplitLocalOriginFailuresCountAsGatewayErrors) {
  create(3);
  for (int i = 0; i < 5; ++i) monitor(0).putResult(Result::LocalOriginConnectFailed);
  deliverPosts();
  EXPECT_TRUE(ejected(0));
  EXPECT_EQ(counter("ejections_detected_consecutive_5xx"), 1u);
  EXPECT_EQ(counter("ejections_detected_consecutive_gateway_failure"), 1u);
  // A timeout reported with its code is that code.
  for (int i = 0; i < 5; ++i) monitor(1).putResult(Result::LocalOriginTimeout, 504);
  deliverPosts();
  EXPECT_TRUE(ejected(1));
}

TEST_F(OutlierDetectorTest, SplitKeepsLocalOriginFailuresApart) {
  proto_.set_split_external_local_origin_errors(true);
  proto_.mutable_consecutive_local_origin_failure()->set_value(3);
  create(3);
  // Connected, then the upstream answered 5xx: an external failure, the local count starts over.
  for (int i = 0; i < 2; ++i) monitor(0).putResult(Result::LocalOriginConnectFailed);
  monitor(0).putResult(Result::LocalOriginConnectSuccess);
  monitor(0).putHttpResponseCode(500);
  monitor(0).putResult(Result::LocalOriginTimeout, 504);
  monitor(0).putResult(Result::LocalOriginConnectFailed);
  deliverPosts();
  EXPECT_FALSE(ejected(0));
  monitor(0).putResult(Result::LocalOriginConnectFailed);
  deliverPosts();
  EXPECT_TRUE(ejected(0));
  EXPECT_EQ(counter("ejections_enforced_consecutive_local_origin_failure"), 1u);
  EXPECT_EQ(counter("ejections_detected_consecutive_5xx"), 0u);
  // 5xx answers alone still eject by consecutive 5xx.
  respond(1, 500, 5);
  EXPECT_TRUE(ejected(1));
}

// The host answers `successes` of `volume` requests well in this interval.
void recordInterval(HostMonitor& m, int successes, int volume) {
  for (int i = 0; i < volume; ++i) m.putHttpResponseCode(i < successes ? 200 : 500);
}

TEST_F(OutlierDetectorTest, SuccessRateEjectsBelowMeanMinusStdevFactor) {
  proto_.mutable_consecutive_5xx()->set_value(0);  // off: only the interval judges
  create(5);
  // {50, 100, 100, 100, 100}: mean 90, stdev 20, threshold 90 - 1.9 * 20 = 52.
  recordInterval(monitor(0), 50, 100);
  for (size_t i = 1; i < 5; ++i) recordInterval(monitor(i), 100, 100);
  deliverPosts();
  detector_->runInterval();
  EXPECT_TRUE(ejected(0));
  EXPECT_EQ(counter("ejections_detected_success_rate"), 1u);
  EXPECT_EQ(counter("ejections_enforced_success_rate"), 1u);
  for (size_t i = 1; i < 5; ++i) EXPECT_FALSE(ejected(i));
  // What /clusters shows of the interval.
  EXPECT_DOUBLE_EQ(detector_->successRateFigures(false).average, 90.0);
  EXPECT_DOUBLE_EQ(detector_->successRateFigures(false).ejection_threshold, 52.0);
  EXPECT_DOUBLE_EQ(monitor(0).success_rate, 50.0);
  EXPECT_DOUBLE_EQ(monitor(1).success_rate, 100.0);
  EXPECT_EQ(detector_->successRateFigures(true).average, -1);
  EXPECT_EQ(monitor(0).local_origin_success_rate, -1);
  // The next interval has no requests: nothing judged, the figures say so.
  detector_->runInterval();
  EXPECT_EQ(detector_->successRateFigures(false).average, -1);
  EXPECT_EQ(monitor(1).success_rate, -1);
}

TEST_F(OutlierDetectorTest, PassingActiveHealthCheckUnejectsUnlessDisabled) {
  create(2);
  respond(0, 500, 5);
  ASSERT_TRUE(ejected(0));
  detector_->onSuccessfulActiveHealthCheck(*hosts_[0]);
  EXPECT_FALSE(ejected(0));
  EXPECT_EQ(store_.gauge("cluster.backend.outlier_detection.ejections_active").value(), 0);
  EXPECT_EQ(health_changes_, 2);  // ejected, returned

  proto_.mutable_successful_active_health_check_uneject_host()->set_value(false);
  hosts_.clear();
  create(2);
  respond(0, 500, 5);
  ASSERT_TRUE(ejected(0));
  detector_->onSuccessfulActiveHealthCheck(*hosts_[0]);
  EXPECT_TRUE(ejected(0));
}

TEST_F(OutlierDetectorTest, SuccessRateNeedsVolumeAndMinimumHosts) {
  proto_.mutable_consecutive_5xx()->set_value(0);
  create(5);
  recordInterval(monitor(0), 50, 100);
  for (size_t i = 1; i < 4; ++i) recordInterval(monitor(i), 100, 100);
  recordInterval(monitor(4), 99, 99);  // below success_rate_request_volume: 4 valid hosts
  detector_->runInterval();
  EXPECT_FALSE(ejected(0));
  // The interval closed: its requests are not judged again in the next.
  for (size_t i = 1; i < 5; ++i) recordInterval(monitor(i), 100, 100);
  detector_->runInterval();
  EXPECT_FALSE(ejected(0));
  EXPECT_EQ(counter("ejections_detected_success_rate"), 0u);
}

TEST_F(OutlierDetectorTest, FailurePercentageEjectsWhenEnforced) {
  proto_.mutable_consecutive_5xx()->set_value(0);
  proto_.mutable_success_rate_minimum_hosts()->set_value(100);  // success rate off
  proto_.mutable_failure_percentage_threshold()->set_value(50);
  proto_.mutable_failure_percentage_minimum_hosts()->set_value(3);
  proto_.mutable_enforcing_failure_percentage()->set_value(100);
  create(3);
  recordInterval(monitor(0), 20, 50);  // 60% failures
  recordInterval(monitor(1), 26, 50);  // 48%
  recordInterval(monitor(2), 50, 50);
  detector_->runInterval();
  EXPECT_TRUE(ejected(0));
  EXPECT_FALSE(ejected(1));
  EXPECT_EQ(counter("ejections_detected_failure_percentage"), 1u);
  EXPECT_EQ(counter("ejections_enforced_failure_percentage"), 1u);
}

TEST_F(OutlierDetectorTest, LocalOriginFailurePercentageWithSplit) {
  proto_.set_split_external_local_origin_errors(true);
  proto_.mutable_consecutive_local_origin_failure()->set_value(0);
  proto_.mutable_success_rate_minimum_hosts()->set_value(100);
  proto_.mutable_failure_percentage_minimum_hosts()->set_value(3);
  proto_.mutable_enforcing_failure_percentage_local_origin()->set_value(100);
  create(3);
  for (int i = 0; i < 50; ++i) {
    monitor(0).putResult(i < 45 ? Result::LocalOriginConnectFailed
                                : Result::LocalOriginConnectSuccess);
    monitor(1).putResult(Result::LocalOriginConnectSuccess);
    monitor(2).putResult(Result::LocalOriginConnectSuccess);
  }
  detector_->runInterval();
  EXPECT_TRUE(ejected(0));
  EXPECT_EQ(counter("ejections_enforced_failure_percentage_local_origin"), 1u);
  EXPECT_EQ(counter("ejections_detected_failure_percentage"), 0u);
}

TEST_F(OutlierDetectorTest, MembershipChangesAttachMonitorsAndReleaseEjections) {
  create(3);
  ejectFirst();
  ASSERT_EQ(active(), 1);
  auto added = makeHost(9);
  detector_->onMembersChanged({added}, {hosts_[0]});
  EXPECT_NE(added->outlierMonitor(), nullptr);
  EXPECT_EQ(active(), 0);
  // A post for a host that left is ignored.
  respond(0, 500, 5);
  EXPECT_EQ(counter("ejections_detected_consecutive_5xx"), 1u);
}

TEST_F(OutlierDetectorTest, DestroyingTheDetectorReleasesItsActiveEjections) {
  create(3);
  ejectFirst();
  ASSERT_EQ(active(), 1);
  detector_.reset();
  EXPECT_EQ(active(), 0);
  // Hosts outlive their detector: reports go nowhere.
  respond(1, 500, 5);
}

TEST(OutlierDetectorConfigTest, DefaultsAndMaxEjectionTimeCheck) {
  Proto proto;
  auto config = DetectorConfig::create(proto, "p");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->interval, milliseconds(10000));
  EXPECT_EQ(config->base_ejection_time, milliseconds(30000));
  EXPECT_EQ(config->max_ejection_time, milliseconds(300000));
  EXPECT_EQ(config->max_ejection_percent, 10u);
  EXPECT_EQ(config->limits.consecutive_5xx, 5u);
  EXPECT_EQ(config->enforcing_consecutive_gateway_failure, 0u);
  EXPECT_EQ(config->success_rate_stdev_factor, 1900u);
  EXPECT_EQ(config->failure_percentage_threshold, 85u);

  setMs(proto.mutable_base_ejection_time(), 400000);
  config = DetectorConfig::create(proto, "p");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->max_ejection_time, milliseconds(400000));  // the longer of the two

  setMs(proto.mutable_max_ejection_time(), 1000);
  config = DetectorConfig::create(proto, "p");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("max_ejection_time cannot be smaller"),
            std::string::npos);
}

TEST(OutlierDetectorClusterManagerTest, EjectionRebalancesAndNewMembersAreMonitored) {
  stats::Store store(1);
  store.bindThread(0);
  auto dispatcher = event::createDispatcher("main");
  ClusterManager manager(*dispatcher);
  envoy::config::cluster::v3::Cluster proto;
  proto.set_name("backend");
  proto.mutable_outlier_detection()->mutable_max_ejection_percent()->set_value(50);
  auto* lb_endpoints = proto.mutable_load_assignment()->add_endpoints();
  for (int i = 1; i <= 2; ++i) {
    auto* sa = lb_endpoints->add_lb_endpoints()
                   ->mutable_endpoint()
                   ->mutable_address()
                   ->mutable_socket_address();
    sa->set_address("10.0.0." + std::to_string(i));
    sa->set_port_value(80);
  }
  manager.addCluster(std::make_shared<Cluster>(proto, store));
  auto cluster = manager.get("backend");
  ASSERT_NE(cluster->hosts()[0]->outlierMonitor(), nullptr);
  for (int i = 0; i < 5; ++i) cluster->hosts()[0]->outlierMonitor()->putHttpResponseCode(503);
  dispatcher->post([&] { dispatcher->exit(); });
  dispatcher->run();
  auto next = manager.get("backend");
  ASSERT_EQ(next->hostSets()[0].lb_hosts.size(), 1u);
  EXPECT_EQ(next->hostSets()[0].lb_hosts[0]->address_string, "10.0.0.2:80");

  auto joined = makeHost(3);
  manager.updateHosts("backend", {next->hosts()[0], next->hosts()[1], joined});
  EXPECT_NE(joined->outlierMonitor(), nullptr);
}

}  // namespace
}  // namespace remora::upstream::outlier
