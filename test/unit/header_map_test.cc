#include "http/header_map.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace remora::http {
namespace {

TEST(HeaderMapTest, KeysLowerCasedAndPseudoHeadersFirst) {
  HeaderMap map;
  map.add("Content-Type", "text/plain");
  map.add(":status", "200");
  map.add("X-A", "1");
  map.add(":Protocol", "websocket");
  ASSERT_EQ(map.size(), 4u);
  EXPECT_EQ(map.entries()[0].key, ":status");
  EXPECT_EQ(map.entries()[1].key, ":protocol");
  EXPECT_EQ(map.entries()[2].key, "content-type");
  EXPECT_EQ(map.entries()[3].key, "x-a");
  EXPECT_EQ(map.entries()[3].value, "1");
}

TEST(HeaderMapTest, LookupsIgnoreTheCaseOfTheQuery) {
  HeaderMap map;
  map.add("x-request-id", "abc");
  ASSERT_NE(map.get("X-Request-ID"), nullptr);
  EXPECT_EQ(*map.get("X-REQUEST-ID"), "abc");
  EXPECT_TRUE(map.has("x-request-Id"));
  EXPECT_EQ(map.getAll("X-Request-Id").size(), 1u);
  EXPECT_EQ(map.remove("X-Request-Id"), 1u);
  EXPECT_FALSE(map.has("x-request-id"));
}

// Names are lower-cased a word at a time on insertion: every length from 1 to 24, with the
// characters around 'A'..'Z' and a non-ASCII byte left as they are.
TEST(HeaderMapTest, InsertionLowerCasesEveryLength) {
  const std::string upper = "AZ@[`{\xc1QWERTYUIOPASDFGHJK";
  for (size_t n = 1; n <= 24; ++n) {
    const std::string name = upper.substr(0, n);
    std::string expected = name;
    for (char& c : expected) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    }
    HeaderMap map;
    map.add(name, "v");
    EXPECT_EQ(map.entries()[0].key, expected) << n;
  }
}

// Names are compared a word at a time: every length from 1 to 24 (short, 4-7 with overlapping
// halves, whole words, overlapping tails), the query in upper case, and a one-byte difference at
// every position (including the neighbours of 'A'..'Z' that case folding must not touch).
TEST(HeaderMapTest, LookupsCompareEveryByteOfEveryLength) {
  const std::string alphabet = "abcdefghijklmnopqrstuvwx";
  for (size_t n = 1; n <= alphabet.size(); ++n) {
    const std::string name = alphabet.substr(0, n);
    HeaderMap map;
    map.add(name, "v");
    std::string upper = name;
    for (char& c : upper) c = static_cast<char>(c - 32);
    EXPECT_NE(map.get(upper), nullptr) << upper;
    for (size_t i = 0; i < n; ++i) {
      for (char other : {'@', '[', '`', '{', '\xc1', static_cast<char>(name[i] + 1)}) {
        std::string query = name;
        query[i] = other;
        EXPECT_EQ(map.get(query), nullptr) << query;
      }
    }
  }
  HeaderMap symbols;
  symbols.add("a@[`{z", "v");  // stored as is: only 'A'..'Z' fold
  EXPECT_NE(symbols.get("A@[`{Z"), nullptr);
  EXPECT_EQ(symbols.get("a`{@[z"), nullptr);
}

TEST(HeaderMapTest, AbsentNamesAreNotFound) {
  HeaderMap map;
  EXPECT_EQ(map.get("host"), nullptr);
  EXPECT_EQ(map.get(""), nullptr);
  map.add("host", "a");
  EXPECT_EQ(map.get("hosT2"), nullptr);
  EXPECT_EQ(map.get("hose"), nullptr);
  EXPECT_EQ(map.remove("upgrade"), 0u);
  EXPECT_TRUE(map.getAll("te").empty());
  EXPECT_EQ(map.size(), 1u);
}

TEST(HeaderMapTest, RemovedThenAddedAgain) {
  HeaderMap map;
  map.add("connection", "close");
  map.add("connection", "upgrade");
  map.add("te", "trailers");
  EXPECT_EQ(map.remove("connection"), 2u);
  EXPECT_EQ(map.get("connection"), nullptr);
  EXPECT_EQ(map.remove("connection"), 0u);
  map.set("connection", "keep-alive");
  ASSERT_NE(map.get("connection"), nullptr);
  EXPECT_EQ(*map.get("connection"), "keep-alive");
  EXPECT_EQ(map.removeIf([](std::string_view k) { return k == "te"; }), 1u);
  EXPECT_FALSE(map.has("te"));
  map.clear();
  EXPECT_TRUE(map.empty());
  EXPECT_FALSE(map.has("connection"));
  map.add("te", "x");
  EXPECT_TRUE(map.has("te"));
}

TEST(HeaderMapTest, SetReplacesEveryEntryOfTheName) {
  HeaderMap map;
  map.add("a", "1");
  map.add("b", "2");
  map.add("A", "3");
  map.set("a", "4");
  ASSERT_EQ(map.size(), 2u);
  EXPECT_EQ(map.getAll("a"), std::vector<std::string_view>{"4"});
  map.set(":path", "/x");
  EXPECT_EQ(map.entries()[0].key, ":path");
  EXPECT_EQ(map.path(), "/x");
}

TEST(HeaderMapTest, Status) {
  HeaderMap map;
  EXPECT_EQ(map.status(), 0u);
  map.set(":status", "204");
  EXPECT_EQ(map.status(), 204u);
  map.set(":status", "2x4");
  EXPECT_EQ(map.status(), 0u);
  map.set(":status", " 20");
  EXPECT_EQ(map.status(), 0u);
  map.set(":status", "1000");
  EXPECT_EQ(map.status(), 1000u);
  map.set(":status", "");
  EXPECT_EQ(map.status(), 0u);
}

// Random adds, sets and removes over many names (more than the lookup filter has bits) agree
// with a plain list of pairs.
TEST(HeaderMapTest, AgreesWithAReferenceModel) {
  std::vector<std::string> names;
  for (int i = 0; i < 120; ++i) names.push_back("x-h" + std::to_string(i * 7919 % 1000));
  for (std::string_view n : {"host", "te", "upgrade", "connection", "keep-alive", "date", "server",
                             "content-length", "x-envoy-retry-on", ":path", ":status"}) {
    names.emplace_back(n);
  }
  std::mt19937 rng(7);
  HeaderMap map;
  std::vector<std::pair<std::string, std::string>> model;
  for (int step = 0; step < 5000; ++step) {
    const std::string& name = names[rng() % names.size()];
    const std::string value = std::to_string(step);
    switch (rng() % 4) {
      case 0:
      case 1:
        map.add(name, value);
        model.emplace_back(name, value);
        break;
      case 2: {
        size_t removed = std::erase_if(model, [&](const auto& e) { return e.first == name; });
        EXPECT_EQ(map.remove(name), removed);
        break;
      }
      case 3: {
        map.set(name, value);
        auto it = std::find_if(model.begin(), model.end(),
                               [&](const auto& e) { return e.first == name; });
        if (it == model.end()) {
          model.emplace_back(name, value);
        } else {
          it->second = value;
          std::erase_if(
              model, [&, first = &*it](const auto& e) { return &e != first && e.first == name; });
        }
        break;
      }
    }
    if (step % 500 == 499) {
      map.clear();
      model.clear();
    }
    for (const std::string& n : names) {
      const std::string* got = map.get(n);
      auto it =
          std::find_if(model.begin(), model.end(), [&](const auto& e) { return e.first == n; });
      ASSERT_EQ(got != nullptr, it != model.end()) << n << " at step " << step;
      if (got != nullptr) ASSERT_EQ(*got, it->second) << n;
    }
  }
}

}  // namespace
}  // namespace remora::http
