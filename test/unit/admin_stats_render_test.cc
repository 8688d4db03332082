#include <gtest/gtest.h>

#include "admin/stat_tags.h"
#include "admin/stats_render.h"

namespace remora::admin {
namespace {

class StatsRenderTest : public testing::Test {
 protected:
  StatsRenderTest() : store_(1) {
    store_.bindThread(0);
    store_.counter("cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_total")
        .inc(7);
    store_.counter("cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_2xx")
        .inc(5);
    store_.counter("cluster.local.upstream_rq_2xx").inc(1);
    store_.gauge("cluster.local.upstream_cx_active").set(2);
    store_.counter("listener.0.0.0.0_15001.downstream_cx_total").inc(3);
    store_.gauge("server.live").set(1);
    store_.gauge("server.state");  // never used
    store_.counter("http.inbound_0.0.0.0_9080.downstream_rq_total");
    store_.counter("tcp.outbound|443||x.default.downstream_cx_total").inc(1);
  }

  StatsFilter filter(std::string_view regex = "", bool used_only = false) {
    auto f = StatsFilter::create(regex, used_only);
    EXPECT_TRUE(f.ok());
    return std::move(f).value();
  }

  stats::Store store_;
};

TEST_F(StatsRenderTest, TextInterleavesInNameOrder) {
  EXPECT_EQ(renderStatsText(store_, filter()),
            "cluster.local.upstream_cx_active: 2\n"
            "cluster.local.upstream_rq_2xx: 1\n"
            "cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_2xx: 5\n"
            "cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_total: 7\n"
            "http.inbound_0.0.0.0_9080.downstream_rq_total: 0\n"
            "listener.0.0.0.0_15001.downstream_cx_total: 3\n"
            "server.live: 1\n"
            "server.state: 0\n"
            "tcp.outbound|443||x.default.downstream_cx_total: 1\n");
}

TEST_F(StatsRenderTest, FilterAndUsedOnly) {
  EXPECT_EQ(renderStatsText(store_, filter("^server\\.")), "server.live: 1\nserver.state: 0\n");
  EXPECT_EQ(renderStatsText(store_, filter("live")), "server.live: 1\n");  // partial match
  EXPECT_EQ(renderStatsText(store_, filter("^(server|http)\\.", true)), "server.live: 1\n");
  EXPECT_FALSE(StatsFilter::create("(", false).ok());
}

TEST_F(StatsRenderTest, Json) {
  EXPECT_EQ(renderStatsJson(store_, filter("^server")),
            R"({"stats":[{"name":"server.live","value":1},{"name":"server.state","value":0}]})");
  EXPECT_EQ(renderStatsJson(store_, filter("nomatch")), R"({"stats":[]})");
}

TEST_F(StatsRenderTest, Prometheus) {
  EXPECT_EQ(
      renderStatsPrometheus(store_, filter()),
      "# TYPE envoy_cluster_upstream_rq_total counter\n"
      "envoy_cluster_upstream_rq_total{envoy_cluster_name=\"outbound|9080||reviews.default.svc."
      "cluster.local\"} 7\n"
      "# TYPE envoy_cluster_upstream_rq_xx counter\n"
      "envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"2\",envoy_cluster_name=\"local\"} "
      "1\n"
      "envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"2\",envoy_cluster_name=\"outbound|"
      "9080||reviews.default.svc.cluster.local\"} 5\n"
      "# TYPE envoy_http_downstream_rq_total counter\n"
      "envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix=\"inbound_0.0.0.0_9080\"} 0\n"
      "# TYPE envoy_listener_downstream_cx_total counter\n"
      "envoy_listener_downstream_cx_total{envoy_listener_address=\"0.0.0.0_15001\"} 3\n"
      "# TYPE envoy_tcp_downstream_cx_total counter\n"
      "envoy_tcp_downstream_cx_total{envoy_tcp_prefix=\"outbound|443||x.default\"} 1\n"
      "# TYPE envoy_cluster_upstream_cx_active gauge\n"
      "envoy_cluster_upstream_cx_active{envoy_cluster_name=\"local\"} 2\n"
      "# TYPE envoy_server_live gauge\n"
      "envoy_server_live{} 1\n"
      "# TYPE envoy_server_state gauge\n"
      "envoy_server_state{} 0\n");
}

TEST(StatTagsTest, Extraction) {
  auto t = extractTags("cluster.a.b.circuit_breakers.default.cx_open");
  EXPECT_EQ(t.name, "cluster.circuit_breakers.default.cx_open");
  ASSERT_EQ(t.tags.size(), 1u);
  EXPECT_EQ(t.tags[0].second, "a.b");
  t = extractTags("cluster.c.upstream_rq_503");
  EXPECT_EQ(t.name, "cluster.upstream_rq");
  ASSERT_EQ(t.tags.size(), 2u);
  EXPECT_EQ(t.tags[0], std::make_pair(std::string("envoy_response_code"), std::string("503")));
  // Envoy's listener tag takes addresses only.
  t = extractTags("listener.admin.downstream_cx_total");
  EXPECT_EQ(t.name, "listener.admin.downstream_cx_total");
  EXPECT_TRUE(t.tags.empty());
  t = extractTags("listener.[__1]_80.downstream_cx_total");
  EXPECT_EQ(t.tags[0].second, "[__1]_80");
  t = extractTags("cluster_manager.active_clusters");
  EXPECT_EQ(t.name, "cluster_manager.active_clusters");
  EXPECT_TRUE(t.tags.empty());
  EXPECT_EQ(sanitizePrometheusName("cluster.a-b|c"), "cluster_a_b_c");
}

}  // namespace
}  // namespace remora::admin
