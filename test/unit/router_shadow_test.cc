// The mirrored request's :authority, as Envoy writes it.
#include <gtest/gtest.h>

#include "filters/http/router/shadow_request.h"

namespace remora::router {
namespace {

TEST(ShadowHostTest, SuffixGoesBeforeThePort) {
  EXPECT_EQ(shadowHost("example.com"), "example.com-shadow");
  EXPECT_EQ(shadowHost("svc.local:8080"), "svc.local-shadow:8080");
  EXPECT_EQ(shadowHost("10.0.0.1:80"), "10.0.0.1-shadow:80");
  EXPECT_EQ(shadowHost("[::1]:9080"), "[::1]-shadow:9080");
  EXPECT_EQ(shadowHost("[::1]"), "[::1]-shadow");
  EXPECT_EQ(shadowHost(""), "-shadow");
}

}  // namespace
}  // namespace remora::router
