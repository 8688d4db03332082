#include "server/options.h"

#include <gtest/gtest.h>

namespace remora::server {
namespace {

StatusOr<Options> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "remora");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return Options::parse(static_cast<int>(argv.size()), argv.data());
}

TEST(OptionsTest, EnvoyFlags) {
  auto o = parse({"-c", "x.yaml", "--concurrency", "3", "-l", "debug", "--service-node", "n1",
                  "--service-cluster", "c1", "--drain-time-s", "7", "--mode", "validate",
                  "--base-id", "0", "--restart-epoch", "0", "--parent-shutdown-time-s", "900"});
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->config_path, "x.yaml");
  EXPECT_EQ(o->concurrency, 3u);
  EXPECT_EQ(o->log_level, spdlog::level::debug);
  EXPECT_EQ(o->service_node, "n1");
  EXPECT_EQ(o->service_cluster, "c1");
  EXPECT_EQ(o->drain_time.count(), 7);
  EXPECT_EQ(o->mode, Mode::Validate);
}

TEST(OptionsTest, InlineValuesAndConfigYaml) {
  auto o = parse({"--config-yaml=admin: {}", "--log-level=warning"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->config_yaml, "admin: {}");
  EXPECT_EQ(o->log_level, spdlog::level::warn);
}

TEST(OptionsTest, RejectsWhatItCannotHonour) {
  EXPECT_NE(parse({"-c", "x", "--base-id", "1"}).status().message().find("not supported by remora"),
            std::string::npos);
  EXPECT_NE(parse({"-c", "x", "--restart-epoch", "2"}).status().message().find("not supported"),
            std::string::npos);
  EXPECT_FALSE(parse({"-c", "x", "--concurrency", "0"}).ok());
  EXPECT_FALSE(parse({"-c", "x", "--concurrency", "two"}).ok());
  EXPECT_FALSE(parse({"-c", "x", "--mode", "init_only"}).ok());
  EXPECT_FALSE(parse({"-c", "x", "--bogus"}).ok());
  EXPECT_FALSE(parse({"-c"}).ok());
  EXPECT_FALSE(parse({}).ok());
}

TEST(OptionsTest, DefaultConcurrencyIsAvailableCpus) {
  auto o = parse({"-c", "x"});
  ASSERT_TRUE(o.ok());
  EXPECT_GE(o->concurrency, 1u);
}

}  // namespace
}  // namespace remora::server
