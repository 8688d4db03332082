// remora-pilot's --config-dir source: multi-document files, malformed files keeping their last
// good objects, duplicates across files (the earlier file wins) and removals.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "pilot/dir_source.h"

namespace remora::pilot {
namespace {

namespace fs = std::filesystem;

class DirSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("pilot-dir-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  fs::path dir_;
};

std::string service(const std::string& name, int port) {
  return "apiVersion: v1\nkind: Service\nmetadata: {name: " + name +
         "}\nspec: {ports: [{port: " + std::to_string(port) + "}]}\n";
}

int portOf(const SourceSnapshot& s, const std::string& name) {
  auto it = s.objects.find(ObjectKey{"Service", "default", name});
  return it == s.objects.end() ? 0 : std::get<Service>(it->second.body).ports[0].port;
}

TEST_F(DirSourceTest, LoadsEditsAndRemovals) {
  write("a.yaml", service("one", 80) + "---\n" + service("two", 81));
  DirSource source(dir_);
  SourceSnapshot s;
  ASSERT_TRUE(source.scan(s));
  EXPECT_EQ(portOf(s, "one"), 80);
  EXPECT_EQ(portOf(s, "two"), 81);
  EXPECT_FALSE(source.scan(s));  // nothing changed
  write("a.yaml", service("one", 90));
  ASSERT_TRUE(source.scan(s));
  EXPECT_EQ(portOf(s, "one"), 90);
  EXPECT_EQ(portOf(s, "two"), 0);
  EXPECT_TRUE(s.changed.count(ObjectKey{"Service", "default", "two"}));
  fs::remove(dir_ / "a.yaml");
  ASSERT_TRUE(source.scan(s));
  EXPECT_TRUE(s.objects.empty());
}

TEST_F(DirSourceTest, MalformedFileKeepsItsLastGoodObjects) {
  write("a.yaml", service("one", 80));
  DirSource source(dir_);
  SourceSnapshot s;
  ASSERT_TRUE(source.scan(s));
  write("a.yaml", service("one", 99) + "---\n" + service("two", 0));
  ASSERT_TRUE(source.scan(s));
  EXPECT_EQ(portOf(s, "one"), 80);  // still the last good version
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_EQ(s.errors[0].file, "a.yaml");
  EXPECT_EQ(s.errors[0].message, "document 1: spec.ports[0].port: expected a port 1-65535");
  EXPECT_TRUE(s.changed.empty());
}

TEST_F(DirSourceTest, DuplicateKeyAcrossFilesKeepsTheEarlierFile) {
  write("b.yaml", service("one", 80));
  DirSource source(dir_);
  SourceSnapshot s;
  ASSERT_TRUE(source.scan(s));
  write("a.yaml", service("one", 81));  // sorts first but was loaded later
  ASSERT_TRUE(source.scan(s));
  EXPECT_EQ(portOf(s, "one"), 80);
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_EQ(s.errors[0].file, "a.yaml");
  EXPECT_NE(s.errors[0].message.find("b.yaml"), std::string::npos);
  EXPECT_NE(s.errors[0].message.find("a.yaml"), std::string::npos);
}

}  // namespace
}  // namespace remora::pilot
