#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "config/bootstrap_loader.h"
#include "config/json_value.h"
#include "config_fixtures.h"

namespace remora::config {
namespace {

using ::testing::HasSubstr;

// A temporary config file removed when the test ends.
class TempFile {
 public:
  TempFile(const std::string& suffix, const std::string& contents) {
    char tmpl[] = "/tmp/remora_config_testXXXXXX";
    int fd = mkstemp(tmpl);
    ::close(fd);
    ::unlink(tmpl);
    path_ = std::string(tmpl) + suffix;
    std::ofstream(path_) << contents;
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ConfigLoaderTest, LoadsYamlFile) {
  TempFile file(".yaml", testing::kValidYaml);
  server::Options options;
  options.config_path = file.path();
  auto bootstrap = loadBootstrap(options);
  ASSERT_TRUE(bootstrap.ok()) << bootstrap.status().message();
  EXPECT_EQ(bootstrap->node().id(), "n1");
  EXPECT_EQ(bootstrap->static_resources().listeners(0).address().socket_address().port_value(),
            8080u);
  EXPECT_EQ(bootstrap->static_resources().clusters(0).connect_timeout().nanos(), 250000000);
}

TEST(ConfigLoaderTest, LoadsJsonFileWithYmlAndJsonNames) {
  TempFile file(".json",
                R"({"node": {"id": "j1"}, "staticResources": {"clusters": [{"name": "c"}]}})");
  server::Options options;
  options.config_path = file.path();
  auto bootstrap = loadBootstrap(options);
  ASSERT_TRUE(bootstrap.ok()) << bootstrap.status().message();
  EXPECT_EQ(bootstrap->node().id(), "j1");
  EXPECT_EQ(bootstrap->static_resources().clusters(0).name(), "c");
}

TEST(ConfigLoaderTest, RejectsUnknownExtension) {
  TempFile file(".conf", "node: {id: x}");
  server::Options options;
  options.config_path = file.path();
  auto bootstrap = loadBootstrap(options);
  ASSERT_FALSE(bootstrap.ok());
  EXPECT_THAT(bootstrap.status().message(), HasSubstr(file.path()));
  EXPECT_THAT(bootstrap.status().message(), HasSubstr(".yaml, .yml, .json"));
}

TEST(ConfigLoaderTest, MissingFileIsAnError) {
  server::Options options;
  options.config_path = "/nonexistent/remora.yaml";
  auto bootstrap = loadBootstrap(options);
  ASSERT_FALSE(bootstrap.ok());
  EXPECT_THAT(bootstrap.status().message(), HasSubstr("/nonexistent/remora.yaml"));
}

TEST(ConfigLoaderTest, ConfigYamlMergesOverFileAndNodeFlagsOverride) {
  TempFile file(".yml", R"(
node: {id: from-file, cluster: file-cluster}
static_resources:
  clusters: [{name: a}]
)");
  server::Options options;
  options.config_path = file.path();
  options.config_yaml = R"(
node: {id: from-flag}
static_resources:
  clusters: [{name: b}]
)";
  options.service_cluster = "svc";
  options.service_zone = "z1";
  auto bootstrap = loadBootstrap(options);
  ASSERT_TRUE(bootstrap.ok()) << bootstrap.status().message();
  EXPECT_EQ(bootstrap->node().id(), "from-flag");
  EXPECT_EQ(bootstrap->node().cluster(), "svc");
  EXPECT_EQ(bootstrap->node().locality().zone(), "z1");
  // MergeFrom appends repeated fields, as Envoy does.
  ASSERT_EQ(bootstrap->static_resources().clusters_size(), 2);
  EXPECT_EQ(bootstrap->static_resources().clusters(1).name(), "b");

  options.service_node = "n-flag";
  EXPECT_EQ(loadBootstrap(options)->node().id(), "n-flag");
}

TEST(ConfigLoaderTest, ConfigYamlAlone) {
  server::Options options;
  options.config_yaml = "node: {id: only}";
  auto bootstrap = loadBootstrap(options);
  ASSERT_TRUE(bootstrap.ok()) << bootstrap.status().message();
  EXPECT_EQ(bootstrap->node().id(), "only");
}

TEST(ConfigLoaderTest, PlainScalarsAreTypedQuotedStayStrings) {
  auto v = yamlToValue(R"(
a: 8080
b: "8080"
c: true
d: 'true'
e: 1.5
f: ~
g: hello
h: 18446744073709551615
)");
  ASSERT_TRUE(v.ok()) << v.status().message();
  const auto& f = v->struct_value().fields();
  EXPECT_TRUE(f.at("a").has_number_value());
  EXPECT_EQ(f.at("b").string_value(), "8080");
  EXPECT_TRUE(f.at("c").bool_value());
  EXPECT_EQ(f.at("d").string_value(), "true");
  EXPECT_DOUBLE_EQ(f.at("e").number_value(), 1.5);
  EXPECT_TRUE(f.at("f").has_null_value());
  EXPECT_EQ(f.at("g").string_value(), "hello");
  EXPECT_TRUE(f.at("h").has_string_value());
}

TEST(ConfigLoaderTest, QuotedNumberParsesIntoNumericFieldAndBoolIntoString) {
  // Proto3 JSON accepts quoted integers; a plain bool into a string field is a type error.
  auto ok = bootstrapFromYaml(R"(
static_resources:
  listeners:
  - address: {socket_address: {address: 0.0.0.0, port_value: "8080"}}
)");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  auto bad = bootstrapFromYaml("node: {id: true}");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(),
              HasSubstr("node.id: invalid type: expected string, got bool"));
  auto quoted = bootstrapFromYaml("node: {id: 'true'}");
  ASSERT_TRUE(quoted.ok());
  EXPECT_EQ(quoted->node().id(), "true");
}

TEST(ConfigLoaderTest, UnknownFieldNamesPath) {
  auto b = bootstrapFromYaml(R"(
static_resources:
  listeners:
  - name: l
    adress: {}
)");
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(b.status().message(),
              HasSubstr("static_resources.listeners[0].adress: unknown field"));
}

TEST(ConfigLoaderTest, UnknownFieldInsideTypedConfigNamesPath) {
  auto b = bootstrapFromYaml(R"(
static_resources:
  listeners:
  - filter_chains:
    - filters:
      - name: t
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          clustr: x
)");
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(b.status().message(), HasSubstr("static_resources.listeners[0].filter_chains[0]."
                                              "filters[0].typed_config.clustr: unknown field"));
}

TEST(ConfigLoaderTest, WrongTypeNamesPath) {
  auto b = bootstrapFromYaml(R"(
static_resources:
  clusters:
  - name: [a, b]
)");
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(
      b.status().message(),
      HasSubstr("static_resources.clusters[0].name: invalid type: expected string, got array"));
  auto listeners = bootstrapFromYaml("static_resources: {listeners: {name: x}}");
  ASSERT_FALSE(listeners.ok());
  EXPECT_THAT(listeners.status().message(),
              HasSubstr("static_resources.listeners: invalid type: expected array"));
}

TEST(ConfigLoaderTest, BadValuesAreReportedByProtobuf) {
  auto port = bootstrapFromYaml(R"(
admin: {address: {socket_address: {address: 1.2.3.4, port_value: abc}}}
)");
  ASSERT_FALSE(port.ok());
  EXPECT_THAT(port.status().message(),
              HasSubstr("admin.address.socket_address.port_value: invalid value \"abc\""));
  auto duration =
      bootstrapFromYaml("static_resources: {clusters: [{name: c, connect_timeout: 5 minutes}]}");
  ASSERT_FALSE(duration.ok());
  EXPECT_THAT(duration.status().message(),
              HasSubstr("static_resources.clusters[0].connect_timeout: "));
  auto enum_value = bootstrapFromYaml("static_resources: {clusters: [{name: c, type: BOGUS}]}");
  ASSERT_FALSE(enum_value.ok());
  EXPECT_THAT(enum_value.status().message(),
              HasSubstr("static_resources.clusters[0].type: unknown value \"BOGUS\""));
}

TEST(ConfigLoaderTest, UnknownTypeUrlIsNotSupported) {
  auto b = bootstrapFromYaml(R"(
static_resources:
  listeners:
  - filter_chains:
    - filters:
      - name: x
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy
)");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message(),
            "not supported by remora: "
            "static_resources.listeners[0].filter_chains[0].filters[0].typed_config: "
            "type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy");
}

TEST(ConfigLoaderTest, InvalidYamlAndJson) {
  EXPECT_FALSE(bootstrapFromYaml("node: {id: [").ok());
  auto json = bootstrapFromJson("{\"node\": ");
  ASSERT_FALSE(json.ok());
  EXPECT_THAT(json.status().message(), HasSubstr("invalid JSON"));
}

}  // namespace
}  // namespace remora::config
