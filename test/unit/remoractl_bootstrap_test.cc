// `remoractl bootstrap`: the sidecar bootstrap's identity, metadata, listeners and clusters, the
// golden YAML, that remora's own loader and validator accept it, and --static merging.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/bootstrap_loader.h"
#include "config/load_and_validate.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "remoractl/bootstrap_builder.h"
#include "remoractl/command.h"

namespace remora::remoractl {
namespace {

using HttpConnectionManager =
    envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;

SidecarBootstrapOptions reviewsPod() {
  SidecarBootstrapOptions options;
  options.pod_name = "reviews-v1-7f9c";
  options.pod_namespace = "bookinfo";
  options.instance_ip = "198.18.0.11";
  options.service_account = "bookinfo-reviews";
  options.labels = {{"app", "reviews"}, {"version", "v1"}};
  options.workload_name = "reviews-v1";
  return options;
}

struct Outcome {
  int rc;
  std::string out, err;
};

Outcome bootstrapCommand(const std::vector<std::string>& args) {
  std::vector<std::string> full = {"bootstrap"};
  full.insert(full.end(), args.begin(), args.end());
  std::ostringstream out, err;
  const int rc = dispatch(full, out, err);
  return {rc, out.str(), err.str()};
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(RemoractlBootstrapTest, NodeIdentityAndMetadataAsIstio) {
  auto bootstrap = buildSidecarBootstrap(reviewsPod());
  ASSERT_TRUE(bootstrap.ok()) << bootstrap.status().message();
  const auto& node = bootstrap->node();
  EXPECT_EQ(node.id(), "sidecar~198.18.0.11~reviews-v1-7f9c.bookinfo~bookinfo.svc.cluster.local");
  EXPECT_EQ(node.cluster(), "reviews-v1.bookinfo");
  const auto& meta = node.metadata().fields();
  EXPECT_EQ(meta.at("NAMESPACE").string_value(), "bookinfo");
  EXPECT_EQ(meta.at("SERVICE_ACCOUNT").string_value(), "bookinfo-reviews");
  EXPECT_EQ(meta.at("INSTANCE_IPS").string_value(), "198.18.0.11");
  EXPECT_EQ(meta.at("INTERCEPTION_MODE").string_value(), "REDIRECT");
  EXPECT_EQ(meta.at("WORKLOAD_NAME").string_value(), "reviews-v1");
  EXPECT_EQ(meta.at("LABELS").struct_value().fields().at("version").string_value(), "v1");
  EXPECT_EQ(bootstrap->admin().address().socket_address().address(), "127.0.0.1");
  EXPECT_EQ(bootstrap->admin().address().socket_address().port_value(), 15000u);
}

TEST(RemoractlBootstrapTest, AdsToThePilotByDefault) {
  auto bootstrap = buildSidecarBootstrap(reviewsPod());
  ASSERT_TRUE(bootstrap.ok());
  const auto& ads = bootstrap->dynamic_resources().ads_config();
  ASSERT_EQ(ads.grpc_services_size(), 1);
  EXPECT_EQ(ads.grpc_services(0).envoy_grpc().cluster_name(), "xds-grpc");
  EXPECT_TRUE(bootstrap->dynamic_resources().lds_config().has_ads());
  EXPECT_TRUE(bootstrap->dynamic_resources().cds_config().has_ads());
  const envoy::config::cluster::v3::Cluster* xds = nullptr;
  for (const auto& c : bootstrap->static_resources().clusters()) {
    if (c.name() == "xds-grpc") xds = &c;
  }
  ASSERT_NE(xds, nullptr);
  EXPECT_EQ(xds->type(), envoy::config::cluster::v3::Cluster::STRICT_DNS);
  const auto& sa =
      xds->load_assignment().endpoints(0).lb_endpoints(0).endpoint().address().socket_address();
  EXPECT_EQ(sa.address(), "remora-pilot.remora-system.svc");
  EXPECT_EQ(sa.port_value(), 15010u);
  EXPECT_TRUE(xds->typed_extension_protocol_options().contains(
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"));
}

TEST(RemoractlBootstrapTest, DiscoveryNoneIsGoldenAndValidInRemora) {
  auto options = reviewsPod();
  options.discovery_address = "none";
  auto bootstrap = buildSidecarBootstrap(options);
  ASSERT_TRUE(bootstrap.ok());
  EXPECT_FALSE(bootstrap->has_dynamic_resources());
  for (const auto& c : bootstrap->static_resources().clusters()) EXPECT_NE(c.name(), "xds-grpc");
  auto yaml = bootstrapToYaml(bootstrap.value());
  ASSERT_TRUE(yaml.ok());
  EXPECT_EQ(yaml.value(), readFile(std::string(REMORA_SOURCE_DIR) +
                                   "/test/unit/testdata/remoractl/bootstrap_none.yaml"));
  // What remora itself does with `-c`: load, then the full validation pipeline.
  auto reloaded = config::bootstrapFromYaml(yaml.value());
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().message();
  Status valid = config::validateBootstrap(reloaded.value());
  EXPECT_TRUE(valid.ok()) << valid.message();
}

TEST(RemoractlBootstrapTest, HealthListenerRoutesToAdminReadyAndStatsToPrometheus) {
  auto options = reviewsPod();
  options.health_port = 25021;
  options.prometheus_port = 25090;
  options.admin_port = 25000;
  options.listen_address = "127.0.0.1";
  options.discovery_address = "none";
  auto bootstrap = buildSidecarBootstrap(options);
  ASSERT_TRUE(bootstrap.ok());
  const auto& listeners = bootstrap->static_resources().listeners();
  ASSERT_EQ(listeners.size(), 2);
  struct Expect {
    uint32_t port;
    std::string prefix, rewrite, cluster;
  };
  const Expect expected[] = {{25021, "/healthz/ready", "/ready", "agent"},
                             {25090, "/stats/prometheus", "", "prometheus_stats"}};
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(listeners[i].address().socket_address().address(), "127.0.0.1");
    EXPECT_EQ(listeners[i].address().socket_address().port_value(), expected[i].port);
    HttpConnectionManager hcm;
    ASSERT_TRUE(listeners[i].filter_chains(0).filters(0).typed_config().UnpackTo(&hcm));
    const auto& route = hcm.route_config().virtual_hosts(0).routes(0);
    EXPECT_EQ(route.match().prefix(), expected[i].prefix);
    EXPECT_EQ(route.route().prefix_rewrite(), expected[i].rewrite);
    EXPECT_EQ(route.route().cluster(), expected[i].cluster);
  }
  for (const auto& c : bootstrap->static_resources().clusters()) {
    EXPECT_EQ(c.load_assignment()
                  .endpoints(0)
                  .lb_endpoints(0)
                  .endpoint()
                  .address()
                  .socket_address()
                  .port_value(),
              25000u)
        << c.name();
  }
}

TEST(RemoractlBootstrapTest, StaticFileListenersAndClustersAreMerged) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("remoractl_static_" + std::to_string(getpid()) + ".yaml"))
                               .string();
  std::ofstream(path) << R"(static_resources:
  clusters:
  - name: inbound|9080||
    type: ORIGINAL_DST
    lb_policy: CLUSTER_PROVIDED
    connect_timeout: 1s
  listeners:
  - name: virtualInbound
    address: {socket_address: {address: 0.0.0.0, port_value: 15006}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: inbound
          cluster: inbound|9080||
)";
  auto outcome = bootstrapCommand({"--pod-name", "p", "--instance-ip", "198.18.0.12",
                                   "--discovery-address", "none", "--static", path});
  ASSERT_EQ(outcome.rc, 0) << outcome.err;
  auto merged = config::bootstrapFromYaml(outcome.out);
  ASSERT_TRUE(merged.ok()) << merged.status().message();
  ASSERT_EQ(merged->static_resources().listeners_size(), 3);
  EXPECT_EQ(merged->static_resources().listeners(2).name(), "virtualInbound");
  ASSERT_EQ(merged->static_resources().clusters_size(), 3);
  EXPECT_EQ(merged->static_resources().clusters(2).name(), "inbound|9080||");
  EXPECT_TRUE(config::validateBootstrap(merged.value()).ok());

  // Anything but listeners and clusters in the file is refused, never dropped.
  std::ofstream(path)
      << "admin: {address: {socket_address: {address: 127.0.0.1, port_value: 1}}}\n";
  auto refused =
      bootstrapCommand({"--pod-name", "p", "--instance-ip", "198.18.0.12", "--static", path});
  EXPECT_EQ(refused.rc, 1);
  EXPECT_NE(refused.err.find("only static_resources.listeners and static_resources.clusters"),
            std::string::npos)
      << refused.err;
  std::filesystem::remove(path);
}

TEST(RemoractlBootstrapTest, PodFactsFromEnvironmentAndFlagsWin) {
  setenv("POD_NAME", "env-pod", 1);
  setenv("POD_NAMESPACE", "env-ns", 1);
  setenv("INSTANCE_IP", "198.18.0.20", 1);
  setenv("SERVICE_ACCOUNT", "env-sa", 1);
  auto from_env = bootstrapCommand({"--discovery-address", "none"});
  auto from_flag = bootstrapCommand({"--discovery-address", "none", "--pod-name", "flag-pod"});
  unsetenv("POD_NAME");
  unsetenv("POD_NAMESPACE");
  unsetenv("INSTANCE_IP");
  unsetenv("SERVICE_ACCOUNT");
  ASSERT_EQ(from_env.rc, 0) << from_env.err;
  EXPECT_NE(from_env.out.find("\"sidecar~198.18.0.20~env-pod.env-ns~env-ns.svc.cluster.local\""),
            std::string::npos)
      << from_env.out;
  EXPECT_NE(from_env.out.find("SERVICE_ACCOUNT: \"env-sa\""), std::string::npos);
  EXPECT_NE(from_flag.out.find("~flag-pod.env-ns~"), std::string::npos);
}

TEST(RemoractlBootstrapTest, MissingOrBadFactsAreErrors) {
  unsetenv("POD_NAME");
  unsetenv("INSTANCE_IP");
  auto no_pod = bootstrapCommand({"--instance-ip", "198.18.0.1"});
  EXPECT_EQ(no_pod.rc, 1);
  EXPECT_NE(no_pod.err.find("pod name is required"), std::string::npos) << no_pod.err;
  EXPECT_EQ(bootstrapCommand({"--pod-name", "p"}).rc, 1);
  EXPECT_EQ(bootstrapCommand({"--pod-name", "p", "--instance-ip", "nope"}).rc, 1);
  EXPECT_EQ(
      bootstrapCommand({"--pod-name", "p", "--instance-ip", "198.18.0.1", "--labels", "x"}).rc, 1);
  EXPECT_EQ(
      bootstrapCommand({"--pod-name", "p", "--instance-ip", "198.18.0.1", "--admin-port", "99999"})
          .rc,
      1);
  EXPECT_EQ(bootstrapCommand({"--pod-name", "p", "--instance-ip", "198.18.0.1",
                              "--discovery-address", "nocolon"})
                .rc,
            1);
}

TEST(RemoractlBootstrapTest, LabelValuesStayStrings) {
  auto options = reviewsPod();
  options.discovery_address = "none";
  options.labels = {{"canary", "true"}, {"port", "8080"}};
  auto yaml = bootstrapToYaml(buildSidecarBootstrap(options).value());
  ASSERT_TRUE(yaml.ok());
  auto reloaded = config::bootstrapFromYaml(yaml.value());
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().message();
  const auto& labels = reloaded->node().metadata().fields().at("LABELS").struct_value().fields();
  EXPECT_EQ(labels.at("canary").string_value(), "true");
  EXPECT_EQ(labels.at("port").string_value(), "8080");
}

}  // namespace
}  // namespace remora::remoractl
