// envoy.filters.http.buffer: per-route settings and the filter on a FilterManager (whole body
// held up to the limit, content-length added, 413 beyond it).
#include <gtest/gtest.h>

#include "filters/http/buffer/buffer_filter.h"
#include "http_filter_harness.h"
#include "router_test_util.h"

namespace remora::filters::http::buffer {
namespace {

using remora::http::test::FilterHarness;
using remora::http::test::RecordingFilter;

std::string table(const std::string& route_override) {
  std::string per_filter =
      route_override.empty()
          ? std::string()
          : R"("typed_per_filter_config":{"envoy.filters.http.buffer":{"@type":"type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute",)" +
                route_override + "}},";
  return R"({"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"name":"r",)" + per_filter +
         R"("match":{"prefix":"/"},"route":{"cluster":"c"}}]}]})";
}

class BufferFilterTest : public testing::Test {
 protected:
  // A filter with max_request_bytes 10 (unless the route overrides it) ahead of a recorder.
  void start(const std::string& route_override, remora::http::RequestHeaderMapPtr request,
             bool end_stream) {
    envoy::extensions::filters::http::buffer::v3::Buffer proto;
    proto.mutable_max_request_bytes()->set_value(10);
    harness_ = std::make_unique<FilterHarness>(router::test::build(table(route_override)));
    harness_->manager().addDecoderFilter(
        std::make_shared<BufferFilter>(BufferSettings::create(proto)));
    upstream_ = std::make_shared<RecordingFilter>();
    harness_->manager().addDecoderFilter(upstream_);
    harness_->manager().decodeHeaders(std::move(request), end_stream);
  }
  static remora::http::RequestHeaderMapPtr post(
      std::vector<std::pair<std::string, std::string>> extra = {}) {
    return FilterHarness::request("POST", "/upload", std::move(extra));
  }
  std::string forwardedHeader(std::string_view name) {
    const std::string* v = upstream_->headers ? upstream_->headers->get(name) : nullptr;
    return v ? *v : "<absent>";
  }

  std::unique_ptr<FilterHarness> harness_;
  std::shared_ptr<RecordingFilter> upstream_;
};

TEST_F(BufferFilterTest, HoldsTheBodyAndForwardsItWholeWithContentLength) {
  start("", post(), false);
  harness_->data("abc", false);
  harness_->data("defg", false);
  EXPECT_FALSE(upstream_->headers.has_value());
  harness_->data("hi", true);
  ASSERT_TRUE(upstream_->headers.has_value());
  EXPECT_FALSE(upstream_->headers_end);
  EXPECT_EQ(forwardedHeader("content-length"), "9");
  EXPECT_EQ(upstream_->chunks, (std::vector<std::string>{"abcdefghi"}));
  EXPECT_TRUE(upstream_->data_end);
}

TEST_F(BufferFilterTest, KeepsAContentLengthTheClientSent) {
  start("", post({{"content-length", "4"}}), false);
  harness_->data("ab", false);
  harness_->data("cd", true);
  EXPECT_EQ(forwardedHeader("content-length"), "4");
  EXPECT_EQ(upstream_->chunks, (std::vector<std::string>{"abcd"}));
}

TEST_F(BufferFilterTest, TrailersEndTheBody) {
  start("", post(), false);
  harness_->data("abc", false);
  harness_->manager().decodeTrailers(std::make_unique<remora::http::TrailerMap>());
  EXPECT_EQ(forwardedHeader("content-length"), "3");
  EXPECT_EQ(upstream_->chunks, (std::vector<std::string>{"abc"}));
  EXPECT_FALSE(upstream_->data_end);
  EXPECT_TRUE(upstream_->saw_trailers);
}

TEST_F(BufferFilterTest, HeaderOnlyRequestPassesStraightThrough) {
  start("", FilterHarness::request("GET", "/"), true);
  ASSERT_TRUE(upstream_->headers.has_value());
  EXPECT_TRUE(upstream_->headers_end);
  EXPECT_EQ(forwardedHeader("content-length"), "<absent>");
}

TEST_F(BufferFilterTest, OverTheLimitIs413AndNothingGoesOn) {
  start("", post(), false);
  harness_->data("123456", false);
  harness_->data("789012", false);
  EXPECT_FALSE(upstream_->headers.has_value());
  ASSERT_TRUE(harness_->response.has_value());
  EXPECT_EQ(harness_->response->status(), 413u);
  EXPECT_EQ(harness_->response_body, "Payload Too Large");
  EXPECT_EQ(harness_->info.response_code_details, "request_payload_too_large");
  EXPECT_EQ(harness_->too_large, 1);
}

TEST_F(BufferFilterTest, OverTheLimitInTheLastChunkIs413Too) {
  start("", post(), false);
  harness_->data("12345678901", true);
  EXPECT_FALSE(upstream_->headers.has_value());
  ASSERT_TRUE(harness_->response.has_value());
  EXPECT_EQ(harness_->response->status(), 413u);
  EXPECT_EQ(harness_->too_large, 1);
}

TEST_F(BufferFilterTest, RouteDisablesBuffering) {
  start(R"("disabled":true)", post(), false);
  ASSERT_TRUE(upstream_->headers.has_value());
  harness_->data("123456789012345", false);
  EXPECT_EQ(upstream_->chunks, (std::vector<std::string>{"123456789012345"}));
  EXPECT_FALSE(harness_->response.has_value());
}

TEST_F(BufferFilterTest, RouteRaisesTheLimit) {
  start(R"("buffer":{"max_request_bytes":20})", post(), false);
  harness_->data("123456789012345", true);
  EXPECT_EQ(forwardedHeader("content-length"), "15");
  EXPECT_FALSE(harness_->response.has_value());
}

TEST(BufferConfigTest, PerRouteRulesAreChecked) {
  EXPECT_EQ(router::test::buildError(table(R"("disabled":true)")), "");
  std::string error = router::test::buildError(table(R"("disabled":false)"));
  EXPECT_NE(error.find("envoy.filters.http.buffer\"].disabled: value must equal true"),
            std::string::npos)
      << error;
  error = router::test::buildError(R"({"virtual_hosts":[{"name":"v","domains":["*"],
      "typed_per_filter_config":{"envoy.filters.http.buffer":
        {"@type":"type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute"}}}]})");
  EXPECT_NE(error.find("override: value is required"), std::string::npos) << error;
  EXPECT_NE(router::test::buildError(table(R"("buffer":{})"))
                .find("max_request_bytes: value is required"),
            std::string::npos);
}

}  // namespace
}  // namespace remora::filters::http::buffer
