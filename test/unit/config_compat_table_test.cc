#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "config/compat_table.h"
#include "config_fixtures.h"

namespace remora::config {
namespace {

// docs/compatibility.md is generated; this keeps the committed copy from drifting from the code.
TEST(ConfigCompatTableTest, CommittedFileIsUpToDate) {
  const auto& fixtures = testing::ensureFixtureExtensions();
  // The tool sees only the extensions remora_lib registers, not this binary's test fixtures.
  std::vector<const Extension*> extensions;
  for (const Extension* e : ExtensionRegistry::get().all()) {
    if (fixtures.count(e->name) == 0) extensions.push_back(e);
  }
  std::ifstream in(std::string(REMORA_SOURCE_DIR) + "/docs/compatibility.md");
  ASSERT_TRUE(in) << "docs/compatibility.md missing";
  std::ostringstream committed;
  committed << in.rdbuf();
  EXPECT_EQ(committed.str(), compatibilityMarkdown(extensions))
      << "docs/compatibility.md is stale: run build/bin/gen_compat > docs/compatibility.md";
}

TEST(ConfigCompatTableTest, MarksSupportAndEnumValues) {
  std::string text = compatibilityMarkdown({});
  EXPECT_NE(
      text.find(
          "| `type` | `envoy.config.cluster.v3.Cluster.DiscoveryType` | supported: only STATIC, "
          "STRICT_DNS, LOGICAL_DNS, EDS, ORIGINAL_DST |"),
      std::string::npos);
  EXPECT_NE(
      text.find(
          "| `per_host_thresholds` | `repeated envoy.config.cluster.v3.CircuitBreakers.Thresholds` "
          "| not supported |"),
      std::string::npos);
  EXPECT_NE(text.find("### envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"),
            std::string::npos);
}

}  // namespace
}  // namespace remora::config
