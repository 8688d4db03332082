#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config/bootstrap_loader.h"
#include "config/supported_fields.h"
#include "config_fixtures.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"

namespace remora::config {
namespace {

using ::testing::HasSubstr;
using testing::kValidYaml;
using testing::loadYaml;

std::string errorOf(const std::string& yaml) {
  Status s = loadYaml(yaml);
  return s.ok() ? "OK" : s.message();
}

// A listener on port 8080 with one tcp_proxy filter chain, plus `extra` fields in the listener.
std::string listenerYaml(const std::string& address_yaml, const std::string& extra = "") {
  return R"(
static_resources:
  clusters: [{name: backend}]
  listeners:
  - name: l1
    )" + address_yaml +
         R"(
)" + extra;
}

TEST(ConfigValidationTest, ValidBootstrapPasses) { EXPECT_EQ(errorOf(kValidYaml), "OK"); }

TEST(ConfigValidationTest, PortOutOfRangeNamesPath) {
  EXPECT_EQ(
      errorOf(listenerYaml("address: {socket_address: {address: 0.0.0.0, port_value: 70000}}")),
      "static_resources.listeners[0].address.socket_address.port_value: value must be less than or "
      "equal to 65535");
}

TEST(ConfigValidationTest, ListenerWithoutFilterChainsIsFine) {
  EXPECT_EQ(errorOf(listenerYaml("address: {socket_address: {address: 0.0.0.0, port_value: 80}}")),
            "OK");
}

TEST(ConfigValidationTest, MissingRequiredAddress) {
  // Listener.address is optional in the API since named listeners exist, but SocketAddress needs
  // its address string and a port specifier; Endpoint needs nothing; Admin needs nothing.
  EXPECT_THAT(
      errorOf(listenerYaml("address: {socket_address: {port_value: 80}}")),
      HasSubstr(
          "static_resources.listeners[0].address.socket_address.address: value length must be at "
          "least 1"));
  EXPECT_THAT(errorOf(listenerYaml("address: {}")),
              HasSubstr("static_resources.listeners[0].address.address: value is required"));
}

TEST(ConfigValidationTest, ClusterNameRequired) {
  EXPECT_THAT(errorOf("static_resources: {clusters: [{connect_timeout: 1s}]}"),
              HasSubstr("static_resources.clusters[0].name: value length must be at least 1"));
}

TEST(ConfigValidationTest, DurationRule) {
  EXPECT_THAT(
      errorOf("static_resources: {clusters: [{name: c, connect_timeout: -1s}]}"),
      HasSubstr("static_resources.clusters[0].connect_timeout: value must be greater than 0s"));
}

TEST(ConfigValidationTest, WrapperRuleAppliesToValue) {
  // LbEndpoint.load_balancing_weight is a UInt32Value with gte: 1.
  EXPECT_THAT(errorOf(R"(
static_resources:
  clusters:
  - name: c
    load_assignment:
      cluster_name: c
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 1}}}
          load_balancing_weight: 0
)"),
              HasSubstr("static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0]."
                        "load_balancing_weight: value must be greater than or equal to 1"));
}

TEST(ConfigValidationTest, RuleInsideTypedConfig) {
  EXPECT_THAT(
      errorOf(R"(
static_resources:
  clusters: [{name: backend}]
  listeners:
  - name: l1
    address: {socket_address: {address: 0.0.0.0, port_value: 80}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          cluster: backend
)"),
      HasSubstr(
          "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.stat_prefix: "
          "value length must be at least 1"));
}

TEST(ConfigValidationTest, OneofRequired) {
  // TcpProxy's cluster_specifier is a required oneof.
  EXPECT_THAT(errorOf(R"(
static_resources:
  listeners:
  - name: l1
    address: {socket_address: {address: 0.0.0.0, port_value: 80}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: s
)"),
              HasSubstr("filters[0].typed_config.cluster_specifier: value is required"));
}

TEST(ConfigValidationTest, KnownButUnimplementedField) {
  // Present counts, even when empty: remora would otherwise silently skip Envoy's defaults.
  EXPECT_EQ(errorOf("static_resources: {clusters: [{name: c, circuit_breakers: "
                    "{per_host_thresholds: []}}]}"),
            "OK");  // an empty repeated field is absent in proto3
  EXPECT_EQ(errorOf("static_resources: {clusters: [{name: c, circuit_breakers: "
                    "{per_host_thresholds: [{}]}}]}"),
            "not supported by remora: static_resources.clusters[0].circuit_breakers."
            "per_host_thresholds");
  EXPECT_EQ(errorOf("static_resources: {clusters: [{name: c, circuit_breakers: "
                    "{thresholds: [{max_connection_pools: 0}]}}]}"),
            "not supported by remora: "
            "static_resources.clusters[0].circuit_breakers.thresholds[0].max_connection_pools");
  EXPECT_EQ(errorOf("stats_flush_on_admin: true"), "not supported by remora: stats_flush_on_admin");
}

TEST(ConfigValidationTest, StatsFlushIntervalWithinEnvoysBounds) {
  EXPECT_EQ(errorOf("stats_flush_interval: 1s"), "OK");
  EXPECT_EQ(errorOf("stats_flush_interval: 0s"),
            "stats_flush_interval: value must be inside range [0.001s, 300s)");
  EXPECT_EQ(errorOf("stats_flush_interval: 300s"),
            "stats_flush_interval: value must be inside range [0.001s, 300s)");
}

TEST(ConfigValidationTest, EnumValueNotAllowed) {
  // DEGRADED endpoints are honoured (the degraded priority load).
  EXPECT_EQ(errorOf("static_resources: {clusters: [{name: c, load_assignment: {cluster_name: c, "
                    "endpoints: [{lb_endpoints: [{health_status: DEGRADED}]}]}}]}"),
            "OK");
  EXPECT_EQ(errorOf("static_resources: {clusters: [{name: c, lb_policy: "
                    "LOAD_BALANCING_POLICY_CONFIG}]}"),
            "not supported by remora: static_resources.clusters[0].lb_policy: "
            "LOAD_BALANCING_POLICY_CONFIG");
  EXPECT_EQ(errorOf(listenerYaml(
                "address: {socket_address: {address: 0.0.0.0, port_value: 80, protocol: UDP}}")),
            "not supported by remora: "
            "static_resources.listeners[0].address.socket_address.protocol: UDP");
}

TEST(ConfigValidationTest, UnimplementedFieldInsideTypedConfig) {
  std::string yaml = std::string(kValidYaml) + "";
  auto pos = yaml.find("cluster: backend\n");
  yaml.insert(pos, "access_log: [{name: envoy.access_loggers.stdout2}]\n          ");
  EXPECT_THAT(errorOf(yaml), HasSubstr("typed_config.access_log[0].name: unknown access logger"));
}

TEST(ConfigValidationTest, UnimplementedExtensionField) {
  std::string yaml = kValidYaml;
  yaml.insert(yaml.find("cluster: backend\n"),
              "max_downstream_connection_duration: 5s\n          ");
  EXPECT_EQ(errorOf(yaml),
            "not supported by remora: "
            "static_resources.listeners[0].filter_chains[0].filters[0].typed_config."
            "max_downstream_connection_duration");
}

TEST(ConfigValidationTest, WellKnownNameResolves) {
  ASSERT_EQ(errorOf(R"(
static_resources:
  listeners:
  - name: l1
    address: {socket_address: {address: 0.0.0.0, port_value: 80}}
    listener_filters: [{name: envoy.filters.listener.original_dst}]
    filter_chains:
    - transport_socket: {name: envoy.transport_sockets.raw_buffer}
)"),
            "OK");
  auto bootstrap = bootstrapFromYaml(R"(
static_resources:
  listeners:
  - listener_filters: [{name: envoy.filters.listener.original_dst}]
)");
  ASSERT_TRUE(bootstrap.ok());
  ASSERT_TRUE(validateBootstrap(*bootstrap).ok());
  EXPECT_EQ(
      bootstrap->static_resources().listeners(0).listener_filters(0).typed_config().type_url(),
      "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst");
}

TEST(ConfigValidationTest, UnknownNameWithoutTypedConfig) {
  EXPECT_EQ(errorOf("static_resources: {listeners: [{name: l, listener_filters: [{name: "
                    "envoy.filters.listener.nope}]}]}"),
            "static_resources.listeners[0].listener_filters[0].name: unknown listener filter "
            "\"envoy.filters.listener.nope\" (no typed_config given and remora has no extension of "
            "that name)");
}

TEST(ConfigValidationTest, KnownTypeInWrongSlotIsNotSupported) {
  // A tcp_proxy config where a listener filter is expected.
  EXPECT_THAT(errorOf(R"(
static_resources:
  listeners:
  - name: l
    listener_filters:
    - name: x
      typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy}
)"),
              HasSubstr("not supported by remora: "
                        "static_resources.listeners[0].listener_filters[0].typed_config"));
}

TEST(ConfigValidationTest, DuplicateNames) {
  EXPECT_EQ(errorOf("static_resources: {clusters: [{name: a}, {name: a}]}"),
            "static_resources.clusters[1].name: duplicate cluster name \"a\"");
  EXPECT_EQ(errorOf("static_resources: {listeners: [{name: a}, {name: a}]}"),
            "static_resources.listeners[1].name: duplicate listener name \"a\"");
}

TEST(ConfigValidationTest, DuplicateListenerAddress) {
  EXPECT_THAT(
      errorOf(R"(
static_resources:
  listeners:
  - {name: a, address: {socket_address: {address: "::", port_value: 80}}}
  - {name: b, address: {socket_address: {address: "::0", port_value: 80}}}
)"),
      HasSubstr("static_resources.listeners[1].address: listener \"b\" has the same address"));
}

TEST(ConfigValidationTest, TcpProxyUnknownCluster) {
  std::string yaml = kValidYaml;
  yaml.replace(yaml.find("cluster: backend"), 16, "cluster: nowhere");
  EXPECT_EQ(errorOf(yaml),
            "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.cluster: "
            "unknown cluster "
            "\"nowhere\"");
  yaml = kValidYaml;
  yaml.replace(yaml.find("cluster: backend"), 16,
               "weighted_clusters: {clusters: [{name: backend, weight: 1}, {name: x, weight: 1}]}");
  EXPECT_THAT(errorOf(yaml),
              HasSubstr("typed_config.weighted_clusters.clusters[1].name: unknown cluster \"x\""));
}

TEST(ConfigValidationTest, IpLiteralsRequired) {
  EXPECT_EQ(
      errorOf(listenerYaml("address: {socket_address: {address: localhost, port_value: 80}}")),
      "static_resources.listeners[0].address.socket_address.address: malformed IP address: "
      "\"localhost\"");
  std::string yaml = kValidYaml;
  yaml.replace(yaml.find("address: 127.0.0.1, port_value: 9000"), 18, "address: backend.local");
  EXPECT_THAT(errorOf(yaml),
              HasSubstr("static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0]."
                        "endpoint.address.socket_address.address: malformed IP address"));
}

TEST(ConfigValidationTest, OutlierDetectionRules) {
  EXPECT_EQ(errorOf("static_resources: {clusters: [{name: c, outlier_detection: "
                    "{consecutive_5xx: 3, split_external_local_origin_errors: true}}]}"),
            "OK");
  EXPECT_THAT(errorOf("static_resources: {clusters: [{name: c, outlier_detection: "
                      "{base_ejection_time: 10s, max_ejection_time: 1s}}]}"),
              HasSubstr("static_resources.clusters[0].outlier_detection: outlier detector's "
                        "max_ejection_time cannot be smaller than base_ejection_time"));
  EXPECT_THAT(errorOf("static_resources: {clusters: [{name: c, type: ORIGINAL_DST, lb_policy: "
                      "CLUSTER_PROVIDED, outlier_detection: {}}]}"),
              HasSubstr("static_resources.clusters[0].outlier_detection: not supported by remora "
                        "for ORIGINAL_DST clusters"));
  EXPECT_EQ(errorOf("static_resources: {clusters: [{name: c, outlier_detection: "
                    "{successful_active_health_check_uneject_host: false}}]}"),
            "OK");
  EXPECT_THAT(errorOf("static_resources: {clusters: [{name: c, outlier_detection: "
                      "{monitors: [{name: m}]}}]}"),
              HasSubstr("monitors"));
}

TEST(ConfigValidationTest, ClusterTypeRules) {
  EXPECT_EQ(errorOf("static_resources: {clusters: [{name: c}]}"), "OK")
      << "STATIC without endpoints";
  EXPECT_EQ(errorOf("static_resources: {clusters: [{name: c, type: ORIGINAL_DST, lb_policy: "
                    "CLUSTER_PROVIDED}]}"),
            "OK");
  EXPECT_THAT(
      errorOf("static_resources: {clusters: [{name: c, type: ORIGINAL_DST}]}"),
      HasSubstr("static_resources.clusters[0].lb_policy: ROUND_ROBIN is not valid for cluster type "
                "ORIGINAL_DST"));
  EXPECT_THAT(errorOf("static_resources: {clusters: [{name: c, lb_policy: CLUSTER_PROVIDED}]}"),
              HasSubstr("static_resources.clusters[0].lb_policy: CLUSTER_PROVIDED is not valid for "
                        "cluster type STATIC"));
  EXPECT_THAT(
      errorOf(R"(
static_resources:
  clusters:
  - {name: c, type: ORIGINAL_DST, lb_policy: CLUSTER_PROVIDED, load_assignment: {cluster_name: c}}
)"),
      HasSubstr(
          "static_resources.clusters[0].load_assignment: ORIGINAL_DST clusters must have no load"));
}

TEST(ConfigValidationTest, LoadBalancerConfigRules) {
  for (const char* policy : {"LEAST_REQUEST", "RANDOM", "RING_HASH", "MAGLEV"}) {
    EXPECT_EQ(errorOf(std::string("static_resources: {clusters: [{name: c, lb_policy: ") + policy +
                      "}]}"),
              "OK")
        << policy;
  }
  EXPECT_EQ(errorOf(R"(
static_resources:
  clusters:
  - name: c
    lb_policy: RING_HASH
    ring_hash_lb_config: {minimum_ring_size: 16, maximum_ring_size: 1024, hash_function: MURMUR_HASH_2}
  - name: d
    lb_policy: MAGLEV
    maglev_lb_config: {table_size: 251}
  - name: e
    lb_policy: LEAST_REQUEST
    least_request_lb_config: {choice_count: 3, active_request_bias: {default_value: 0.5, runtime_key: k}}
)"),
            "OK");
  // Envoy's checks and wording.
  EXPECT_EQ(errorOf("static_resources: {clusters: [{name: c, lb_policy: RING_HASH, "
                    "ring_hash_lb_config: {minimum_ring_size: 2048, maximum_ring_size: 1024}}]}"),
            "static_resources.clusters[0].ring_hash_lb_config: ring hash: minimum_ring_size (2048) "
            "> maximum_ring_size (1024)");
  EXPECT_EQ(errorOf("static_resources: {clusters: [{name: c, lb_policy: MAGLEV, "
                    "maglev_lb_config: {table_size: 65536}}]}"),
            "static_resources.clusters[0].maglev_lb_config.table_size: The table size of maglev "
            "must be prime number");
  EXPECT_THAT(errorOf("static_resources: {clusters: [{name: c, lb_policy: MAGLEV, "
                      "maglev_lb_config: {table_size: 5000012}}]}"),
              HasSubstr("table_size: value must be less than or equal to 5000011"));
  EXPECT_THAT(errorOf("static_resources: {clusters: [{name: c, lb_policy: LEAST_REQUEST, "
                      "least_request_lb_config: {choice_count: 1}}]}"),
              HasSubstr("choice_count: value must be greater than or equal to 2"));
  // A config for another policy would be silently unused: rejected.
  EXPECT_EQ(errorOf("static_resources: {clusters: [{name: c, ring_hash_lb_config: {}}]}"),
            "static_resources.clusters[0].ring_hash_lb_config: not valid with lb_policy "
            "ROUND_ROBIN");
  EXPECT_EQ(errorOf("static_resources: {clusters: [{name: c, lb_policy: LEAST_REQUEST, "
                    "least_request_lb_config: {slow_start_config: {}}}]}"),
            "not supported by remora: "
            "static_resources.clusters[0].least_request_lb_config.slow_start_config");
}

TEST(ConfigValidationTest, SupportedFieldsTableNamesRealMessages) {
  // The constructor asserts every message, field and enum value exists; reaching here proves it.
  EXPECT_NE(SupportedFields::get().find("envoy.config.cluster.v3.Cluster"), nullptr);
  EXPECT_TRUE(SupportedFields::get().find("google.protobuf.Duration")->all_fields);
}

}  // namespace
}  // namespace remora::config
