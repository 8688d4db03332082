#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config/pgv_rules.h"
#include "config/pgv_validator.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/core/v3/base.pb.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"

namespace remora::config {
namespace {

using ::testing::HasSubstr;

std::string err(const Status& s) { return s.ok() ? "OK" : s.message(); }

TEST(ConfigPgvTest, NumberRanges) {
  validate::UInt32Rules rules;
  rules.set_gte(1);
  rules.set_lte(10);
  EXPECT_EQ(err(pgv::checkNumber(5, rules)), "OK");
  EXPECT_EQ(err(pgv::checkNumber(11, rules)), "value must be inside range [1, 10]");
  // gt above lt inverts the range: the value must lie outside it.
  validate::Int64Rules outside;
  outside.set_gt(10);
  outside.set_lt(0);
  EXPECT_EQ(err(pgv::checkNumber(5, outside)), "value must be outside range (10, 0)");
  EXPECT_EQ(err(pgv::checkNumber(-1, outside)), "OK");
  validate::DoubleRules in;
  in.add_in(0.5);
  in.add_in(1);
  EXPECT_EQ(err(pgv::checkNumber(0.5, in)), "OK");
  EXPECT_EQ(err(pgv::checkNumber(2, in)), "value must be in list [0.5, 1]");
  validate::Int32Rules not_in;
  not_in.add_not_in(0);
  EXPECT_EQ(err(pgv::checkNumber(0, not_in)), "value must not be in list [0]");
  validate::UInt64Rules c;
  c.set_const_(7);
  EXPECT_EQ(err(pgv::checkNumber(8, c)), "value must equal 7");
}

TEST(ConfigPgvTest, StringRules) {
  validate::StringRules rules;
  rules.set_min_len(2);
  rules.set_max_bytes(4);
  rules.set_prefix("a");
  EXPECT_EQ(err(pgv::checkString("ab", rules)), "OK");
  EXPECT_EQ(err(pgv::checkString("a", rules)), "value length must be at least 2 characters");
  EXPECT_EQ(err(pgv::checkString("abcde", rules)), "value length must be at most 4 bytes");
  EXPECT_EQ(err(pgv::checkString("bb", rules)), "value does not have prefix \"a\"");
  validate::StringRules pattern;
  pattern.set_pattern("^[a-z]+$");
  EXPECT_THAT(err(pgv::checkString("A1", pattern)), HasSubstr("does not match regex pattern"));
  validate::StringRules ignore;
  ignore.set_min_len(3);
  ignore.set_ignore_empty(true);
  EXPECT_EQ(err(pgv::checkString("", ignore)), "OK");
  validate::StringRules in;
  in.add_in("x");
  EXPECT_THAT(err(pgv::checkString("y", in)), HasSubstr("must be in list"));
  validate::StringRules contains;
  contains.set_not_contains("..");
  EXPECT_THAT(err(pgv::checkString("a..b", contains)), HasSubstr("contains substring"));
}

TEST(ConfigPgvTest, WellKnownStrings) {
  validate::StringRules ip;
  ip.set_ip(true);
  EXPECT_EQ(err(pgv::checkString("::1", ip)), "OK");
  EXPECT_THAT(err(pgv::checkString("1.2.3", ip)), HasSubstr("valid IP"));
  validate::StringRules host;
  host.set_hostname(true);
  EXPECT_EQ(err(pgv::checkString("a-b.example.com", host)), "OK");
  EXPECT_THAT(err(pgv::checkString("-a.com", host)), HasSubstr("hostname"));
  validate::StringRules name;
  name.set_well_known_regex(validate::HTTP_HEADER_NAME);
  EXPECT_EQ(err(pgv::checkString(":authority", name)), "OK");
  EXPECT_THAT(err(pgv::checkString("bad header", name)), HasSubstr("HTTP header name"));
  name.set_strict(false);
  EXPECT_EQ(err(pgv::checkString("bad header", name)), "OK");
  EXPECT_THAT(err(pgv::checkString("bad\nheader", name)), HasSubstr("HTTP header name"));
}

TEST(ConfigPgvTest, HeaderValueMessage) {
  envoy::config::core::v3::HeaderValue header;
  header.set_key("x-ok");
  header.set_value("v");
  EXPECT_EQ(err(validateMessage(header)), "OK");
  header.set_key("x\r\nbad");
  EXPECT_THAT(err(validateMessage(header)),
              HasSubstr("key: value must be a valid HTTP header name"));
}

TEST(ConfigPgvTest, EnumDefinedOnly) {
  envoy::config::cluster::v3::Cluster cluster;
  cluster.set_name("c");
  cluster.set_lb_policy(static_cast<envoy::config::cluster::v3::Cluster::LbPolicy>(99));
  EXPECT_EQ(err(validateMessage(cluster)),
            "lb_policy: value must be one of the defined enum values");
}

TEST(ConfigPgvTest, RepeatedMinItems) {
  envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy proxy;
  proxy.set_stat_prefix("s");
  proxy.mutable_weighted_clusters();
  EXPECT_EQ(err(validateMessage(proxy)),
            "weighted_clusters.clusters: value must contain at least 1 item(s)");
  auto* cw = proxy.mutable_weighted_clusters()->add_clusters();
  cw->set_name("a");
  cw->set_weight(1);
  EXPECT_EQ(err(validateMessage(proxy)), "OK");
}

TEST(ConfigPgvTest, DurationRules) {
  validate::DurationRules rules;
  rules.mutable_gt();  // > 0s
  rules.mutable_lte()->set_seconds(10);
  google::protobuf::Duration d;
  d.set_seconds(5);
  EXPECT_EQ(err(pgv::checkDuration(d, rules)), "OK");
  d.set_seconds(11);
  EXPECT_EQ(err(pgv::checkDuration(d, rules)), "value must be inside range (0s, 10s]");
}

}  // namespace
}  // namespace remora::config
