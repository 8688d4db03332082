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

// Histograms as Envoy's admin shows them.
class HistogramRenderTest : public testing::Test {
 protected:
  HistogramRenderTest() : store_(1) {
    store_.bindThread(0);
    store_.counter("cluster.local.upstream_rq_total").inc(2);
    stats::Histogram& rq_time = store_.histogram("cluster.local.upstream_rq_time");
    rq_time.recordValue(5);
    rq_time.recordValue(1500);
    store_.histogram("http.ingress.downstream_rq_time");  // never used
    store_.histogram("server.tagless_ms").recordValue(0);
  }

  StatsFilter filter(std::string_view regex = "", bool used_only = false) {
    auto f = StatsFilter::create(regex, used_only);
    EXPECT_TRUE(f.ok());
    return std::move(f).value();
  }

  static std::string summary(const std::vector<std::string>& interval,
                             const std::vector<std::string>& cumulative) {
    const char* labels[] = {"0", "25", "50", "75", "90", "95", "99", "99.5", "99.9", "100"};
    std::string out;
    for (size_t i = 0; i < 10; ++i) {
      if (i > 0) out += ' ';
      out += std::string("P") + labels[i] + "(" + interval[i] + "," + cumulative[i] + ")";
    }
    return out;
  }

  stats::Store store_;
};

TEST_F(HistogramRenderTest, TextAfterCountersWithIntervalAndCumulative) {
  const std::vector<std::string> nan(10, "nan");
  const std::vector<std::string> zero(10, "0");
  // Two samples, 5 and 1500 (bucket [1488, 1503], estimated at its middle, 1495.5).
  const std::vector<std::string> two = {"5",        "377.625",  "750.25",    "1122.875",  "1346.45",
                                        "1420.975", "1480.595", "1488.0475", "1494.0095", "1495.5"};
  EXPECT_EQ(renderStatsText(store_, filter()),
            "cluster.local.upstream_rq_total: 2\n"
            "cluster.local.upstream_rq_time: " +
                summary(nan, two) +
                "\n"
                "http.ingress.downstream_rq_time: No recorded values\n"
                "server.tagless_ms: " +
                summary(nan, zero) + "\n");
  store_.mergeHistograms();
  store_.histogram("cluster.local.upstream_rq_time").recordValue(7);  // after the flush
  EXPECT_EQ(renderStatsText(store_, filter("upstream_rq_time")),
            "cluster.local.upstream_rq_time: " +
                summary(two, {"5", "6", "7", "751.25", "1197.8", "1346.6499999999999", "1465.73",
                              "1480.615", "1492.523", "1495.5"}) +
                "\n");
  EXPECT_EQ(renderStatsText(store_, filter("_time$", true)),
            "cluster.local.upstream_rq_time: " +
                summary(two, {"5", "6", "7", "751.25", "1197.8", "1346.6499999999999", "1465.73",
                              "1480.615", "1492.523", "1495.5"}) +
                "\n");
}

TEST_F(HistogramRenderTest, Json) {
  std::string values_unused = "[";
  std::string values_tagless = "[";
  for (int i = 0; i < 10; ++i) {
    values_unused += std::string(i ? "," : "") + R"({"cumulative":null,"interval":null})";
    values_tagless += std::string(i ? "," : "") + R"({"cumulative":0,"interval":null})";
  }
  values_unused += "]";
  values_tagless += "]";
  EXPECT_EQ(renderStatsJson(store_, filter("^(http|server)")),
            R"({"stats":[{"histograms":{"supported_quantiles":[0,25,50,75,90,95,99,99.5,99.9,100],)"
            R"("computed_quantiles":[{"name":"http.ingress.downstream_rq_time","values":)" +
                values_unused + R"(},{"name":"server.tagless_ms","values":)" + values_tagless +
                "}]}}]}");
  // %g, as Envoy's JSON: six significant digits.
  store_.mergeHistograms();
  const std::string json = renderStatsJson(store_, filter("upstream_rq_"));
  EXPECT_NE(
      json.find(R"({"stats":[{"name":"cluster.local.upstream_rq_total","value":2},{"histograms")"),
      std::string::npos)
      << json;
  EXPECT_NE(json.find(R"({"cumulative":1122.88,"interval":1122.88})"), std::string::npos) << json;
  EXPECT_EQ(renderStatsJson(store_, filter("nomatch")), R"({"stats":[]})");
}

TEST_F(HistogramRenderTest, Prometheus) {
  std::string want =
      "# TYPE envoy_cluster_upstream_rq_total counter\n"
      "envoy_cluster_upstream_rq_total{envoy_cluster_name=\"local\"} 2\n"
      "# TYPE envoy_cluster_upstream_rq_time histogram\n";
  const char* bounds[] = {"0.5",   "1",      "5",      "10",      "25",     "50",    "100",
                          "250",   "500",    "1000",   "2500",    "5000",   "10000", "30000",
                          "60000", "300000", "600000", "1800000", "3600000"};
  const int counts[] = {0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2};
  for (int i = 0; i < 19; ++i) {
    want +=
        std::string("envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=\"local\",le=\"") +
        bounds[i] + "\"} " + std::to_string(counts[i]) + "\n";
  }
  want +=
      "envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=\"local\",le=\"+Inf\"} 2\n"
      "envoy_cluster_upstream_rq_time_sum{envoy_cluster_name=\"local\"} 1505\n"
      "envoy_cluster_upstream_rq_time_count{envoy_cluster_name=\"local\"} 2\n"
      "# TYPE envoy_server_tagless_ms histogram\n";
  for (int i = 0; i < 19; ++i) {
    want += std::string("envoy_server_tagless_ms_bucket{le=\"") + bounds[i] + "\"} 1\n";
  }
  want +=
      "envoy_server_tagless_ms_bucket{le=\"+Inf\"} 1\n"
      "envoy_server_tagless_ms_sum{} 0\n"
      "envoy_server_tagless_ms_count{} 1\n";
  // ?usedonly drops the histogram without samples, as Envoy.
  EXPECT_EQ(renderStatsPrometheus(store_, filter("", true)), want);
  const std::string all = renderStatsPrometheus(store_, filter());
  EXPECT_NE(
      all.find("# TYPE envoy_http_downstream_rq_time histogram\n"
               "envoy_http_downstream_rq_time_bucket{envoy_http_conn_manager_prefix=\"ingress\","
               "le=\"0.5\"} 0\n"),
      std::string::npos)
      << all;
  EXPECT_NE(
      all.find(
          "envoy_http_downstream_rq_time_count{envoy_http_conn_manager_prefix=\"ingress\"} 0\n"),
      std::string::npos);
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
