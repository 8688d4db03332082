#include "xds/filesystem_subscription.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "envoy/config/listener/v3/listener.pb.h"
#include "event/dispatcher.h"
#include "xds/subscription_factory.h"

namespace remora::xds {
namespace {

// Records what the subscription delivers; refuses when told to.
class Recorder : public SubscriptionCallbacks {
 public:
  Status onConfigUpdate(const std::vector<DecodedResource>& resources,
                        const std::string& version) override {
    updates.push_back({});
    for (const auto& r : resources) updates.back().push_back(r.name);
    versions.push_back(version);
    return refuse ? Status::error("refused") : Status();
  }
  Status onConfigUpdate(const std::vector<DecodedResource>&, const std::vector<std::string>&,
                        const std::string&) override {
    return Status::error("no delta from a file");
  }
  void onConfigUpdateFailed(UpdateFailureReason reason, const Status&) override {
    failures.push_back(reason);
  }
  std::vector<std::vector<std::string>> updates;
  std::vector<std::string> versions;
  std::vector<UpdateFailureReason> failures;
  bool refuse = false;
};

class FilesystemSubscriptionTest : public ::testing::Test {
 protected:
  FilesystemSubscriptionTest() {
    store_.bindThread(0);
    dir_ = std::filesystem::temp_directory_path() /
           ("remora_fs_sub_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "lds.json").string();
    source_.mutable_path_config_source()->set_path(path_);
  }
  ~FilesystemSubscriptionTest() override { std::filesystem::remove_all(dir_); }

  void write(const std::string& text) {
    const std::string tmp = path_ + ".tmp";
    std::ofstream(tmp) << text;
    std::filesystem::rename(tmp, path_);
  }
  // Lets the watcher see what happened on disk.
  void runLoop() {
    auto timer = dispatcher_->createTimer([this] { dispatcher_->exit(); });
    timer->enableTimer(std::chrono::milliseconds(50));
    dispatcher_->run();
  }
  static std::string listeners(const std::string& version, std::vector<std::string> names) {
    std::string out = "{\"version_info\":\"" + version + "\",\"resources\":[";
    for (size_t i = 0; i < names.size(); ++i) {
      if (i > 0) out += ",";
      out += "{\"@type\":\"" + std::string(kListenerType) + "\",\"name\":\"" + names[i] + "\"}";
    }
    return out + "]}";
  }

  std::filesystem::path dir_;
  std::string path_;
  envoy::config::core::v3::ConfigSource source_;
  stats::Store store_{1};
  event::DispatcherPtr dispatcher_ = event::createDispatcher("main");
  SubscriptionFactoryContext context_{*dispatcher_, store_, nullptr};
  Recorder recorder_;
};

TEST_F(FilesystemSubscriptionTest, DeliversTheFileAtStartAndOnEachAtomicReplace) {
  write(listeners("1", {"a", "b"}));
  auto subscription = makeSubscription(source_, kListenerType, recorder_, context_, "lds.");
  ASSERT_TRUE(subscription.ok());
  (*subscription)->start({});
  ASSERT_EQ(recorder_.updates.size(), 1u);
  EXPECT_EQ(recorder_.updates[0], (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(recorder_.versions[0], "1");
  write(listeners("2", {"c"}));
  runLoop();
  ASSERT_EQ(recorder_.updates.size(), 2u);
  EXPECT_EQ(recorder_.updates[1], (std::vector<std::string>{"c"}));
  EXPECT_EQ(store_.counter("lds.update_attempt").value(), 2u);
  EXPECT_EQ(store_.counter("lds.update_success").value(), 2u);
}

TEST_F(FilesystemSubscriptionTest, NamedResourcesOnly) {
  write(listeners("1", {"a", "b"}));
  FilesystemSubscription subscription(*dispatcher_, source_, kListenerType, recorder_,
                                      SubscriptionStats(store_, "x."));
  subscription.start({"b"});
  ASSERT_EQ(recorder_.updates.size(), 1u);
  EXPECT_EQ(recorder_.updates[0], (std::vector<std::string>{"b"}));
}

TEST_F(FilesystemSubscriptionTest, RejectsOtherTypesBadFilesAndRefusedUpdates) {
  write(listeners("1", {"a"}));
  FilesystemSubscription subscription(*dispatcher_, source_, kClusterType, recorder_,
                                      SubscriptionStats(store_, "cds."));
  subscription.start({});
  EXPECT_TRUE(recorder_.updates.empty());
  ASSERT_EQ(recorder_.failures.size(), 1u);
  EXPECT_EQ(recorder_.failures[0], UpdateFailureReason::UpdateRejected);
  EXPECT_EQ(store_.counter("cds.update_rejected").value(), 1u);

  Recorder refusing;
  refusing.refuse = true;
  write(listeners("1", {"a"}));
  FilesystemSubscription refused(*dispatcher_, source_, kListenerType, refusing,
                                 SubscriptionStats(store_, "lds."));
  refused.start({});
  EXPECT_EQ(refusing.updates.size(), 1u);
  EXPECT_EQ(refusing.failures,
            std::vector<UpdateFailureReason>{UpdateFailureReason::UpdateRejected});
  EXPECT_EQ(store_.counter("lds.update_rejected").value(), 1u);
  EXPECT_EQ(store_.counter("lds.update_success").value(), 0u);
}

TEST_F(FilesystemSubscriptionTest, MissingFileWaitsUntilInitialFetchTimeout) {
  source_.mutable_initial_fetch_timeout()->set_nanos(20 * 1000 * 1000);
  FilesystemSubscription subscription(*dispatcher_, source_, kListenerType, recorder_,
                                      SubscriptionStats(store_, "lds."));
  subscription.start({});
  EXPECT_TRUE(recorder_.failures.empty());
  EXPECT_EQ(store_.counter("lds.update_failure").value(), 1u);
  runLoop();
  EXPECT_EQ(recorder_.failures,
            std::vector<UpdateFailureReason>{UpdateFailureReason::FetchTimedOut});
  EXPECT_EQ(store_.counter("lds.init_fetch_timeout").value(), 1u);
}

TEST(SubscriptionFactoryTest, AdsWithoutAnAdsClientNamesTheField) {
  stats::Store store{1};
  store.bindThread(0);
  auto dispatcher = event::createDispatcher("main");
  SubscriptionFactoryContext context{*dispatcher, store, nullptr};
  Recorder recorder;
  envoy::config::core::v3::ConfigSource source;
  source.mutable_ads();
  auto subscription = makeSubscription(source, kListenerType, recorder, context, "lds.");
  ASSERT_FALSE(subscription.ok());
  EXPECT_NE(subscription.status().message().find("ads"), std::string::npos);
}

}  // namespace
}  // namespace remora::xds
