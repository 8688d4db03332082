#include "common/hash.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

namespace remora {
namespace {

TEST(XxHash64Test, KnownVectors) {
  // From the reference implementation (libxxhash's XXH64).
  EXPECT_EQ(xxHash64(""), 0xef46db3751d8e999ULL);
  EXPECT_EQ(xxHash64("abc"), 0x44bc2cf5ad770999ULL);
  EXPECT_EQ(xxHash64("127.0.0.1:8080_0"), 0xf673a43b9624fa24ULL);
  // 43 bytes: the 32-byte stripe loop, then an 8-byte word, then single bytes.
  EXPECT_EQ(xxHash64("The quick brown fox jumps over the lazy dog"), 0x0b242d361fda71bcULL);
  EXPECT_EQ(xxHash64("127.0.0.1:8080", 1), 0xa5d6dc0053ab4ed8ULL);
}

TEST(XxHash64Test, EveryTailLengthDiffers) {
  // Lengths 0..40 exercise every path through the tail; neighbours must not collide.
  std::string s;
  uint64_t previous = xxHash64(s);
  for (int n = 1; n <= 40; ++n) {
    s.push_back(static_cast<char>('a' + n % 26));
    const uint64_t h = xxHash64(s);
    EXPECT_NE(h, previous) << n;
    previous = h;
  }
}

TEST(MurmurHash2Test, MatchesLibstdcxxStringHash) {
  // Envoy's MURMUR_HASH_2 is libstdc++'s std::hash<std::string> on 64-bit platforms.
  std::string s;
  for (int n = 0; n < 40; ++n) {
    EXPECT_EQ(murmurHash2(s, kStdHashSeed), std::hash<std::string>{}(s)) << n;
    s.push_back(static_cast<char>(n % 2 ? 'a' + n : 0x80 + n));
  }
}

}  // namespace
}  // namespace remora
