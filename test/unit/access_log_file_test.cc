#include "access_log/access_log_file.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "access_log/access_log_config.h"
#include "access_log_fixtures.h"
#include "config/supported_fields.h"
#include "envoy/extensions/access_loggers/file/v3/file.pb.h"

namespace remora::access_log {
namespace {

using envoy::config::accesslog::v3::AccessLog;
using test::Fixture;

// A temp directory removed with everything in it when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "remora_al_XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Polls until the file holds `expected` (the flush thread writes within about a second); bounded
// so a broken flush fails the test instead of hanging it.
std::string waitForContent(const std::string& path, const std::string& expected) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::string content;
  while (std::chrono::steady_clock::now() < deadline) {
    content = readFile(path);
    if (content == expected) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return content;
}

AccessLog parseAccessLog(const std::string& json) {
  AccessLog config;
  auto status = google::protobuf::util::JsonStringToMessage(json, &config);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return config;
}

std::string fileConfig(const std::string& path, const std::string& extra) {
  return R"({"name": "envoy.access_loggers.file", "typed_config": {"@type":
    "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", "path": ")" +
         path + "\"" + extra + "}}";
}

TEST(AccessLogFileTest, FileLoggerWritesLinesInOrder) {
  TempDir dir;
  const std::string path = dir.file("access.log");
  auto log = createAccessLog(
      parseAccessLog(fileConfig(path, R"(, "log_format": {"text_format_source": {"inline_string":
                 "%RESPONSE_CODE% %REQ(:PATH)%\n"}})")));
  ASSERT_TRUE(log.ok()) << log.status().message();
  Fixture f;
  log.value()->log(&f.request, &f.response, nullptr, f.info);
  f.info.response_code = 503;
  log.value()->log(&f.request, nullptr, nullptr, f.info);
  EXPECT_EQ(waitForContent(path, "204 /api/v1/locations\n503 /api/v1/locations\n"),
            "204 /api/v1/locations\n503 /api/v1/locations\n");
}

TEST(AccessLogFileTest, DefaultFormatAndFilter) {
  TempDir dir;
  const std::string path = dir.file("default.log");
  auto log = createAccessLog(parseAccessLog(
      R"({"name": "x", "filter": {"status_code_filter": {"comparison": {"op": "GE",
          "value": {"default_value": 500, "runtime_key": "k"}}}},)" +
      fileConfig(path, "").substr(1)));
  ASSERT_TRUE(log.ok()) << log.status().message();
  Fixture f;
  log.value()->log(&f.request, &f.response, nullptr, f.info);  // 204: filtered out
  f.info.response_code = 503;
  log.value()->log(&f.request, &f.response, nullptr, f.info);
  const std::string expected =
      "[2016-04-15T20:17:00.310Z] \"POST /api/v1/locations HTTP/2\" 503 - 154 0 226 100 "
      "\"10.0.35.28\" \"nsq2http\" \"cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2\" \"locations\" "
      "\"10.0.2.1:80\"\n";
  EXPECT_EQ(waitForContent(path, expected), expected);
}

TEST(AccessLogFileTest, JsonFormatsOneObjectPerLine) {
  TempDir dir;
  const std::string typed = dir.file("typed.log");
  const std::string untyped = dir.file("untyped.log");
  auto a = createAccessLog(
      parseAccessLog(fileConfig(typed, R"(, "typed_json_format": {"code": "%RESPONSE_CODE%"})")));
  auto b = createAccessLog(
      parseAccessLog(fileConfig(untyped, R"(, "json_format": {"code": "%RESPONSE_CODE%"})")));
  ASSERT_TRUE(a.ok() && b.ok());
  Fixture f;
  a.value()->log(nullptr, nullptr, nullptr, f.info);
  a.value()->log(nullptr, nullptr, nullptr, f.info);
  b.value()->log(nullptr, nullptr, nullptr, f.info);
  EXPECT_EQ(waitForContent(typed, "{\"code\":204}\n{\"code\":204}\n"),
            "{\"code\":204}\n{\"code\":204}\n");
  EXPECT_EQ(waitForContent(untyped, "{\"code\":\"204\"}\n"), "{\"code\":\"204\"}\n");
}

TEST(AccessLogFileTest, LoggersOnOnePathShareOneFile) {
  TempDir dir;
  const std::string path = dir.file("shared.log");
  auto first = AccessLogFileManager::get().getOrOpen(path);
  auto second = AccessLogFileManager::get().getOrOpen(path);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first.value().get(), second.value().get());
}

TEST(AccessLogFileTest, DestructionAndFlushWriteEverything) {
  TempDir dir;
  const std::string path = dir.file("flush.log");
  {
    auto file = AccessLogFile::open(path);
    ASSERT_TRUE(file.ok());
    file.value()->write("one\n");
    file.value()->flush();
    EXPECT_EQ(readFile(path), "one\n");
    file.value()->write("two\n");
  }
  EXPECT_EQ(readFile(path), "one\ntwo\n");
}

TEST(AccessLogFileTest, LargeBuffersFlushWithoutWaitingForTheTimer) {
  TempDir dir;
  const std::string path = dir.file("big.log");
  auto file = AccessLogFile::open(path);
  ASSERT_TRUE(file.ok());
  const std::string line(1024, 'x');
  std::string expected;
  for (int i = 0; i < 80; ++i) {
    file.value()->write(line);
    expected += line;
  }
  EXPECT_EQ(waitForContent(path, expected).size(), expected.size());
}

TEST(AccessLogFileTest, ConcurrentWritersNeverInterleaveEntries) {
  TempDir dir;
  const std::string path = dir.file("concurrent.log");
  auto file = AccessLogFile::open(path);
  ASSERT_TRUE(file.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) file.value()->write(std::string(50, 'a' + t) + "\n");
    });
  }
  for (auto& thread : threads) thread.join();
  file.value()->flush();
  std::ifstream in(path);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    ASSERT_EQ(line.size(), 50u);
    ASSERT_EQ(line.find_first_not_of(line[0]), std::string::npos);
  }
  EXPECT_EQ(lines, 2000);
}

TEST(AccessLogFileTest, ReopenFollowsRotation) {
  TempDir dir;
  const std::string path = dir.file("rotate.log");
  auto file = AccessLogFileManager::get().getOrOpen(path);
  ASSERT_TRUE(file.ok());
  file.value()->write("before\n");
  std::filesystem::rename(path, path + ".1");
  AccessLogFileManager::get().reopenAll();
  file.value()->write("after\n");
  file.value()->flush();
  EXPECT_EQ(readFile(path + ".1"), "before\n");
  EXPECT_EQ(readFile(path), "after\n");
}

TEST(AccessLogFileTest, ConfigErrors) {
  auto unopenable = createAccessLog(parseAccessLog(fileConfig("/nonexistent-dir/x.log", "")));
  ASSERT_FALSE(unopenable.ok());
  EXPECT_NE(unopenable.status().message().find("/nonexistent-dir/x.log"), std::string::npos);

  auto bad_format = createAccessLog(
      parseAccessLog(fileConfig("/dev/null", R"(, "log_format": {"text_format": "%NOPE%"})")));
  ASSERT_FALSE(bad_format.ok());
  EXPECT_EQ(bad_format.status().message(),
            "typed_config: log_format: text_format: unknown access log command operator %NOPE%");

  auto deprecated = createAccessLog(parseAccessLog(fileConfig("/dev/null", R"(, "format": "x")")));
  ASSERT_FALSE(deprecated.ok());
  EXPECT_NE(deprecated.status().message().find("not supported by remora: format"),
            std::string::npos);

  auto unknown_name = createAccessLog(parseAccessLog(R"({"name": "envoy.access_loggers.nope"})"));
  ASSERT_FALSE(unknown_name.ok());

  auto by_name = createAccessLog(parseAccessLog(R"({"name": "envoy.access_loggers.stderr"})"));
  EXPECT_TRUE(by_name.ok());
  auto stdout_log = createAccessLog(parseAccessLog(
      R"({"name": "envoy.access_loggers.stdout", "typed_config": {"@type":
          "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
          "log_format": {"json_format": {"a": "%PROTOCOL%"}}}})"));
  EXPECT_TRUE(stdout_log.ok());
}

TEST(AccessLogFileTest, SupportedFieldsCoverWhatIsImplemented) {
  auto ok = parseAccessLog(
      R"({"name": "envoy.access_loggers.file",
          "filter": {"and_filter": {"filters": [{"not_health_check_filter": {}},
            {"header_filter": {"header": {"name": "x", "string_match": {"prefix": "a"}}}}]}},
          "typed_config": {"@type":
            "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": "/dev/stdout", "log_format": {"json_format": {"a": "%PROTOCOL%"},
            "omit_empty_values": true}}})");
  EXPECT_TRUE(config::checkSupportedFields(ok).ok());
  auto runtime = parseAccessLog(R"({"name": "x", "filter": {"runtime_filter":
                                    {"runtime_key": "k"}}})");
  auto status = config::checkSupportedFields(runtime);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(), "not supported by remora: filter.runtime_filter");
  auto format = parseAccessLog(fileConfig("/dev/null", R"(, "format": "x")"));
  status = config::checkSupportedFields(format);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(), "not supported by remora: typed_config.format");
}

}  // namespace
}  // namespace remora::access_log
