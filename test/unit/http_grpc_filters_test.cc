// The gRPC HTTP filters' pure parts: grpc_stats' per-method stat naming and grpc_web's wire
// format. The filters end to end are in test/integration/test_grpc.py.
#include <gtest/gtest.h>

#include "filters/http/grpc_stats/grpc_stats_filter.h"
#include "filters/http/grpc_web/grpc_web_filter.h"

namespace remora::filters::http {
namespace {

using grpc_stats::GrpcStatsConfig;

std::shared_ptr<const GrpcStatsConfig> statsConfig(stats::Store& store,
                                                   void (*fill)(GrpcStatsConfig::Proto&)) {
  GrpcStatsConfig::Proto proto;
  fill(proto);
  return GrpcStatsConfig::create(proto, store);
}

TEST(GrpcStatsConfigTest, DefaultCountsEveryCallInTheGenericStats) {
  stats::Store store(1);
  auto config = statsConfig(store, [](GrpcStatsConfig::Proto&) {});
  EXPECT_EQ(config->statPrefixFor("/helloworld.Greeter/SayHello"), "");
  EXPECT_EQ(config->statPrefixFor("/not-grpc"), "");
}

TEST(GrpcStatsConfigTest, AllowlistNamesItsMethodsOnly) {
  stats::Store store(1);
  auto config = statsConfig(store, [](GrpcStatsConfig::Proto& p) {
    auto* service = p.mutable_individual_method_stats_allowlist()->add_services();
    service->set_name("helloworld.Greeter");
    service->add_method_names("SayHello");
  });
  EXPECT_EQ(config->statPrefixFor("/helloworld.Greeter/SayHello"), "helloworld.Greeter.SayHello.");
  EXPECT_EQ(config->statPrefixFor("/helloworld.Greeter/SayBye"), "");
  EXPECT_EQ(config->statPrefixFor("/other.Service/SayHello"), "");
}

TEST(GrpcStatsConfigTest, AllMethodsAndDotReplacement) {
  stats::Store store(1);
  auto config = statsConfig(store, [](GrpcStatsConfig::Proto& p) {
    p.mutable_stats_for_all_methods()->set_value(true);
    p.set_replace_dots_in_grpc_service_name(true);
  });
  EXPECT_EQ(config->statPrefixFor("/helloworld.Greeter/SayHello"), "helloworld_Greeter.SayHello.");
  // Empty segments are ignored (Envoy's splitToken); anything but service/method is untracked.
  EXPECT_EQ(config->statPrefixFor("//a//b"), "a.b.");
  EXPECT_FALSE(config->statPrefixFor("/a").has_value());
  EXPECT_FALSE(config->statPrefixFor("/a/b/c").has_value());
}

TEST(GrpcWebWireTest, ContentTypes) {
  using grpc_web::wire::isGrpcWebContentType;
  using grpc_web::wire::isGrpcWebTextContentType;
  for (const char* yes :
       {"application/grpc-web", "application/grpc-web+proto", "application/grpc-web-text",
        "application/grpc-web-text+proto", "application/grpc-web;charset=utf-8"}) {
    EXPECT_TRUE(isGrpcWebContentType(yes)) << yes;
  }
  for (const char* no :
       {"application/grpc", "application/grpc-webx", "application/grpc-web-textx", "text/plain"}) {
    EXPECT_FALSE(isGrpcWebContentType(no)) << no;
  }
  EXPECT_TRUE(isGrpcWebTextContentType("application/grpc-web-text+proto"));
  EXPECT_FALSE(isGrpcWebTextContentType("application/grpc-web+proto"));
}

TEST(GrpcWebWireTest, TrailerFrame) {
  remora::http::TrailerMap trailers;
  trailers.add("grpc-status", "0");
  trailers.add("grpc-message", "ok");
  const std::string block = "grpc-status:0\r\ngrpc-message:ok\r\n";
  const std::string frame = grpc_web::wire::trailerFrame(trailers);
  ASSERT_EQ(frame.size(), 5 + block.size());
  EXPECT_EQ(static_cast<unsigned char>(frame[0]), 0x80);
  EXPECT_EQ(frame.substr(1, 4), std::string("\0\0\0", 3) + static_cast<char>(block.size()));
  EXPECT_EQ(frame.substr(5), block);
  // No trailers: an empty trailer frame still says the call ended.
  EXPECT_EQ(grpc_web::wire::trailerFrame({}), std::string("\x80\0\0\0\0", 5));
}

}  // namespace
}  // namespace remora::filters::http
