#include "admin/admin_handlers.h"

#include <gtest/gtest.h>

#include "admin_fake_server.h"
#include "envoy/admin/v3/config_dump.pb.h"

namespace remora::admin {
namespace {

class AdminHandlersTest : public testing::Test {
 protected:
  FakeServer server_;
  AdminHandlers handlers_{server_};
};

TEST_F(AdminHandlersTest, Ready) {
  AdminResponse r = handlers_.handle("GET", "/ready");
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.body, "LIVE\n");
  EXPECT_EQ(r.content_type, "text/plain; charset=UTF-8");
  server_.state_ = envoy::admin::v3::ServerInfo::DRAINING;
  r = handlers_.handle("GET", "/ready");
  EXPECT_EQ(r.code, 503);
  EXPECT_EQ(r.body, "DRAINING\n");
  server_.state_ = envoy::admin::v3::ServerInfo::PRE_INITIALIZING;
  EXPECT_EQ(handlers_.handle("GET", "/ready").body, "PRE_INITIALIZING\n");
}

TEST_F(AdminHandlersTest, ServerInfoJsonKeepsProtoFieldNames) {
  server_.server_info_.set_version("remora/1.0");
  server_.server_info_.set_hot_restart_version("disabled");
  server_.server_info_.mutable_uptime_current_epoch()->set_seconds(5);
  server_.server_info_.mutable_command_line_options()->set_concurrency(2);
  AdminResponse r = handlers_.handle("GET", "/server_info");
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_NE(r.body.find("\"hot_restart_version\": \"disabled\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"uptime_current_epoch\": \"5s\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"state\": \"LIVE\""), std::string::npos) << r.body;  // default printed
  EXPECT_EQ(r.body.find("hotRestartVersion"), std::string::npos);
}

TEST_F(AdminHandlersTest, Stats) {
  server_.stats_.counter("server.a").inc(2);
  server_.stats_.gauge("server.b").set(3);
  EXPECT_EQ(handlers_.handle("GET", "/stats").body, "server.a: 2\nserver.b: 3\n");
  AdminResponse j = handlers_.handle("GET", "/stats?format=json&filter=%5Eserver%5C.a");
  EXPECT_EQ(j.content_type, "application/json");
  EXPECT_EQ(j.body, R"({"stats":[{"name":"server.a","value":2}]})");
  EXPECT_EQ(handlers_.handle("GET", "/stats/prometheus?filter=a$").body,
            "# TYPE envoy_server_a counter\nenvoy_server_a{} 2\n");
  EXPECT_EQ(handlers_.handle("GET", "/stats?filter=(").code, 400);
}

TEST_F(AdminHandlersTest, ClustersText) {
  auto* c = server_.clusters_.add_cluster_statuses();
  c->set_name("outbound|9080||reviews.default.svc.cluster.local");
  c->set_added_via_api(true);
  auto* th = c->mutable_circuit_breakers()->add_thresholds();
  th->set_priority(envoy::config::core::v3::DEFAULT);
  th->mutable_max_connections()->set_value(100);
  auto* h = c->add_host_statuses();
  h->mutable_address()->mutable_socket_address()->set_address("10.0.0.1");
  h->mutable_address()->mutable_socket_address()->set_port_value(9080);
  auto* m = h->add_stats();
  m->set_name("rq_total");
  m->set_value(4);
  m = h->add_stats();
  m->set_name("cx_active");
  m->set_value(1);
  h->set_weight(1);
  h->mutable_health_status()->set_eds_health_status(envoy::config::core::v3::UNHEALTHY);
  h->mutable_locality()->set_zone("z1");
  const std::string n = "outbound|9080||reviews.default.svc.cluster.local";
  const std::string a = n + "::10.0.0.1:9080::";
  EXPECT_EQ(handlers_.handle("GET", "/clusters").body,
            n + "::default_priority::max_connections::100\n" + n +
                "::default_priority::max_pending_requests::1024\n" + n +
                "::default_priority::max_requests::1024\n" + n +
                "::default_priority::max_retries::3\n" + n +
                "::high_priority::max_connections::1024\n" + n +
                "::high_priority::max_pending_requests::1024\n" + n +
                "::high_priority::max_requests::1024\n" + n + "::high_priority::max_retries::3\n" +
                n + "::added_via_api::true\n" + a + "cx_active::1\n" + a + "rq_total::4\n" + a +
                "hostname::\n" + a + "health_flags::/failed_eds_health\n" + a + "weight::1\n" + a +
                "region::\n" + a + "zone::z1\n" + a + "sub_zone::\n" + a + "canary::false\n" + a +
                "priority::0\n" + a + "success_rate::-1\n" + a + "local_origin_success_rate::-1\n");
  AdminResponse j = handlers_.handle("GET", "/clusters?format=json");
  EXPECT_EQ(j.content_type, "application/json");
  EXPECT_NE(j.body.find("\"cluster_statuses\""), std::string::npos);
  EXPECT_NE(j.body.find("\"added_via_api\": true"), std::string::npos);
}

TEST_F(AdminHandlersTest, ClustersTextStartsWithOutlierFigures) {
  auto* c = server_.clusters_.add_cluster_statuses();
  c->set_name("app");
  server_.clusters_.add_cluster_statuses()->set_name("plain");  // no outlier detection
  server_.outlier_["app"] = {92.5, 54.5, -1, -1};
  const std::string body = handlers_.handle("GET", "/clusters").body;
  EXPECT_EQ(body.substr(0, body.find("app::default_priority")),
            "app::outlier::success_rate_average::92.5\n"
            "app::outlier::success_rate_ejection_threshold::54.5\n"
            "app::outlier::local_origin_success_rate_average::-1\n"
            "app::outlier::local_origin_success_rate_ejection_threshold::-1\n");
  EXPECT_EQ(body.find("plain::outlier"), std::string::npos);
}

TEST_F(AdminHandlersTest, Listeners) {
  auto* l = server_.listeners_.add_listener_statuses();
  l->set_name("virtualOutbound");
  l->mutable_local_address()->mutable_socket_address()->set_address("0.0.0.0");
  l->mutable_local_address()->mutable_socket_address()->set_port_value(15001);
  l = server_.listeners_.add_listener_statuses();
  l->set_name("v6");
  l->mutable_local_address()->mutable_socket_address()->set_address("::1");
  l->mutable_local_address()->mutable_socket_address()->set_port_value(80);
  EXPECT_EQ(handlers_.handle("GET", "/listeners").body,
            "virtualOutbound::0.0.0.0:15001\nv6::[::1]:80\n");
  EXPECT_NE(handlers_.handle("GET", "/listeners?format=json").body.find("\"listener_statuses\""),
            std::string::npos);
}

TEST_F(AdminHandlersTest, ConfigDumpPrintsAnyWithType) {
  envoy::admin::v3::BootstrapConfigDump bootstrap;
  bootstrap.mutable_bootstrap()->mutable_node()->set_id(
      "sidecar~10.0.0.1~a.ns~ns.svc.cluster.local");
  server_.config_dump_.add_configs()->PackFrom(bootstrap);
  AdminResponse r = handlers_.handle("GET", "/config_dump");
  EXPECT_EQ(r.code, 200) << r.body;
  EXPECT_NE(r.body.find("\"@type\": \"type.googleapis.com/envoy.admin.v3.BootstrapConfigDump\""),
            std::string::npos)
      << r.body;
}

TEST_F(AdminHandlersTest, PostOnlyEndpoints) {
  for (const char* path : {"/quitquitquit", "/healthcheck/fail", "/healthcheck/ok",
                           "/drain_listeners", "/logging", "/reopen_logs"}) {
    AdminResponse r = handlers_.handle("GET", path);
    EXPECT_EQ(r.code, 405) << path;
    EXPECT_EQ(r.body, "Method GET not allowed, POST required.") << path;
  }
  EXPECT_EQ(server_.shutdowns_, 0);

  AdminResponse q = handlers_.handle("POST", "/quitquitquit");
  EXPECT_EQ(q.body, "OK\n");
  EXPECT_EQ(server_.shutdowns_, 0);  // only once the reply is out
  ASSERT_TRUE(q.after_response);
  q.after_response();
  EXPECT_EQ(server_.shutdowns_, 1);

  EXPECT_EQ(handlers_.handle("POST", "/healthcheck/fail").body, "OK\n");
  EXPECT_TRUE(server_.hc_failed_);
  handlers_.handle("POST", "/healthcheck/ok");
  EXPECT_FALSE(server_.hc_failed_);

  EXPECT_EQ(handlers_.handle("POST", "/drain_listeners?inboundonly&graceful").body, "OK\n");
  EXPECT_TRUE(server_.drain_inbound_only_);
  EXPECT_TRUE(server_.drain_graceful_);
  handlers_.handle("POST", "/drain_listeners");
  EXPECT_FALSE(server_.drain_inbound_only_);
  EXPECT_EQ(server_.drains_, 2);

  EXPECT_EQ(server_.reopens_, 0);
  EXPECT_EQ(handlers_.handle("POST", "/reopen_logs").body, "OK\n");
  EXPECT_EQ(server_.reopens_, 1);
}

TEST_F(AdminHandlersTest, Logging) {
  AdminResponse r = handlers_.handle("POST", "/logging?level=debug");
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.body.rfind("active loggers:\n", 0), 0u);
  EXPECT_NE(r.body.find(": debug\n"), std::string::npos) << r.body;
  EXPECT_NE(handlers_.handle("POST", "/logging").body.find(": debug\n"), std::string::npos);
  EXPECT_EQ(handlers_.handle("POST", "/logging?level=loud").code, 404);
  handlers_.handle("POST", "/logging?level=info");
}

TEST_F(AdminHandlersTest, HelpAndNotFound) {
  AdminResponse h = handlers_.handle("GET", "/help");
  EXPECT_EQ(h.body.rfind("admin commands are:\n", 0), 0u);
  EXPECT_NE(h.body.find("  /stats/prometheus: print server stats in prometheus format\n"),
            std::string::npos);
  AdminResponse nf = handlers_.handle("GET", "/nope");
  EXPECT_EQ(nf.code, 404);
  EXPECT_EQ(nf.body, "invalid path. " + h.body);
}

}  // namespace
}  // namespace remora::admin
