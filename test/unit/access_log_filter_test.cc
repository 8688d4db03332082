#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "access_log/filter.h"
#include "access_log_fixtures.h"

namespace remora::access_log {
namespace {

using envoy::config::accesslog::v3::AccessLogFilter;
using test::Fixture;

StatusOr<FilterPtr> build(const std::string& json) {
  AccessLogFilter config;
  auto status = google::protobuf::util::JsonStringToMessage(json, &config);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return createFilter(config, "filter");
}

bool passes(const std::string& json, const FormatContext& context) {
  auto filter = build(json);
  EXPECT_TRUE(filter.ok()) << filter.status().message();
  return filter.ok() && filter.value()->evaluate(context);
}

std::string statusFilter(const std::string& op, int value) {
  return R"({"status_code_filter": {"comparison": {"op": ")" + op +
         R"(", "value": {"default_value": )" + std::to_string(value) +
         R"(, "runtime_key": "access_log.status"}}}})";
}

TEST(AccessLogFilterTest, StatusCode) {
  Fixture f;  // 204
  EXPECT_TRUE(passes(statusFilter("GE", 200), f.context()));
  EXPECT_FALSE(passes(statusFilter("GE", 400), f.context()));
  EXPECT_TRUE(passes(statusFilter("EQ", 204), f.context()));
  EXPECT_TRUE(passes(statusFilter("LE", 204), f.context()));
  EXPECT_FALSE(passes(statusFilter("LE", 203), f.context()));
  f.info.response_code.reset();  // no response compares as 0
  EXPECT_TRUE(passes(statusFilter("EQ", 0), f.context()));
}

TEST(AccessLogFilterTest, Duration) {
  Fixture f;  // 226 ms
  auto duration = [](const std::string& op, int ms) {
    return R"({"duration_filter": {"comparison": {"op": ")" + op +
           R"(", "value": {"default_value": )" + std::to_string(ms) + R"(, "runtime_key": "k"}}}})";
  };
  EXPECT_TRUE(passes(duration("GE", 200), f.context()));
  EXPECT_FALSE(passes(duration("GE", 227), f.context()));
  EXPECT_TRUE(passes(duration("EQ", 226), f.context()));
  f.info.request_complete.reset();
  EXPECT_FALSE(passes(duration("LE", 1000), f.context()));
}

TEST(AccessLogFilterTest, NotHealthCheck) {
  Fixture f;
  EXPECT_TRUE(passes(R"({"not_health_check_filter": {}})", f.context()));
  f.info.health_check = true;
  EXPECT_FALSE(passes(R"({"not_health_check_filter": {}})", f.context()));
}

TEST(AccessLogFilterTest, ResponseFlags) {
  Fixture f;
  EXPECT_FALSE(passes(R"({"response_flag_filter": {}})", f.context()));
  EXPECT_FALSE(passes(R"({"response_flag_filter": {"flags": ["UF", "UH"]}})", f.context()));
  f.info.setResponseFlag(stream_info::NoHealthyUpstream);
  EXPECT_TRUE(passes(R"({"response_flag_filter": {}})", f.context()));
  EXPECT_TRUE(passes(R"({"response_flag_filter": {"flags": ["UF", "UH"]}})", f.context()));
  EXPECT_FALSE(passes(R"({"response_flag_filter": {"flags": ["NR"]}})", f.context()));
  auto bad = build(R"({"response_flag_filter": {"flags": ["UH", "XX"]}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("filter.response_flag_filter.flags[1]"), std::string::npos);
}

TEST(AccessLogFilterTest, Header) {
  Fixture f;
  auto header = [](const std::string& matcher) {
    return R"({"header_filter": {"header": )" + matcher + "}}";
  };
  auto c = f.context();
  EXPECT_TRUE(passes(header(R"({"name": "User-Agent", "exact_match": "nsq2http"})"), c));
  EXPECT_FALSE(passes(header(R"({"name": "user-agent", "exact_match": "curl"})"), c));
  EXPECT_TRUE(passes(header(R"({"name": "user-agent", "prefix_match": "nsq"})"), c));
  EXPECT_TRUE(passes(header(R"({"name": "user-agent", "suffix_match": "http"})"), c));
  EXPECT_TRUE(passes(header(R"({"name": "user-agent", "contains_match": "2h"})"), c));
  EXPECT_TRUE(passes(header(R"({"name": "user-agent", "present_match": true})"), c));
  EXPECT_FALSE(passes(header(R"({"name": "x-missing", "present_match": true})"), c));
  EXPECT_TRUE(passes(header(R"({"name": "x-missing", "present_match": false})"), c));
  EXPECT_TRUE(passes(header(R"({"name": "x-missing", "present_match": true,
                                "invert_match": true})"),
                     c));
  EXPECT_FALSE(passes(header(R"({"name": "x-missing", "exact_match": "a"})"), c));
  EXPECT_TRUE(passes(header(R"({"name": "user-agent", "exact_match": "curl",
                                "invert_match": true})"),
                     c));
  EXPECT_TRUE(passes(header(R"({"name": "user-agent",
                                "safe_regex_match": {"regex": "nsq[0-9]http"}})"),
                     c));
  EXPECT_FALSE(passes(header(R"({"name": "user-agent",
                                 "safe_regex_match": {"regex": "nsq"}})"),
                      c));
  EXPECT_TRUE(passes(header(R"({"name": "user-agent",
                                "string_match": {"exact": "NSQ2HTTP", "ignore_case": true}})"),
                     c));
  EXPECT_FALSE(
      passes(header(R"({"name": "user-agent", "string_match": {"exact": "NSQ2HTTP"}})"), c));
  EXPECT_TRUE(passes(header(R"({"name": "x-missing", "string_match": {"exact": ""},
                                "treat_missing_header_as_empty": true})"),
                     c));
  f.request.add("x-multi", "a");
  f.request.add("x-multi", "b");
  EXPECT_TRUE(passes(header(R"({"name": "x-multi", "exact_match": "a,b"})"), c));
  auto bad = build(header(R"({"name": "x", "safe_regex_match": {"regex": "("}})"));
  EXPECT_FALSE(bad.ok());
  auto range = build(header(R"({"name": "x", "range_match": {"start": 1, "end": 2}})"));
  ASSERT_FALSE(range.ok());
  EXPECT_NE(range.status().message().find("not supported by remora"), std::string::npos);
}

TEST(AccessLogFilterTest, AndOr) {
  Fixture f;  // 204, no flags
  const std::string ok = statusFilter("EQ", 204);
  const std::string no = statusFilter("EQ", 500);
  EXPECT_TRUE(passes(R"({"and_filter": {"filters": [)" + ok + "," + ok + "]}}", f.context()));
  EXPECT_FALSE(passes(R"({"and_filter": {"filters": [)" + ok + "," + no + "]}}", f.context()));
  EXPECT_TRUE(passes(R"({"or_filter": {"filters": [)" + no + "," + ok + "]}}", f.context()));
  EXPECT_FALSE(passes(R"({"or_filter": {"filters": [)" + no + "," + no + "]}}", f.context()));
  auto nested_bad = build(R"({"or_filter": {"filters": [)" + ok +
                          R"(, {"response_flag_filter": {"flags": ["ZZ"]}}]}})");
  ASSERT_FALSE(nested_bad.ok());
  EXPECT_NE(nested_bad.status().message().find("filter.or_filter.filters[1]"), std::string::npos);
}

TEST(AccessLogFilterTest, UnimplementedFiltersAreNotSupported) {
  auto runtime = build(R"({"runtime_filter": {"runtime_key": "k"}})");
  ASSERT_FALSE(runtime.ok());
  EXPECT_EQ(runtime.status().message(), "not supported by remora: filter.runtime_filter");
  auto traceable = build(R"({"traceable_filter": {}})");
  ASSERT_FALSE(traceable.ok());
  EXPECT_EQ(traceable.status().message(), "not supported by remora: filter.traceable_filter");
}

}  // namespace
}  // namespace remora::access_log
