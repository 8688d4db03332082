#include "common/ascii_words.h"

#include <gtest/gtest.h>

#include <string>

#include "http/http1/chars.h"

namespace remora::ascii {
namespace {

char reference(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

// Word-at-a-time folding agrees with byte-by-byte folding for every pair of byte values, at every
// position of every length class (under 4, 4-7 with overlapping halves, whole and overlapping
// 8-byte words), on either side and with a pre-folded left side.
TEST(AsciiWordsTest, FoldedEqualAgreesWithBytewiseFolding) {
  for (size_t n : {1, 3, 4, 5, 7, 8, 9, 15, 16, 17}) {
    for (size_t pos = 0; pos < n; ++pos) {
      std::string a(n, 'k');
      std::string b(n, 'K');
      for (int x = 0; x < 256; ++x) {
        for (int y = 0; y < 256; ++y) {
          a[pos] = static_cast<char>(x);
          b[pos] = static_cast<char>(y);
          const bool expected = reference(a[pos]) == reference(b[pos]);
          ASSERT_EQ(foldedEqual<false>(a.data(), b.data(), n), expected)
              << n << " " << pos << " " << x << " " << y;
          ASSERT_EQ(http::http1::equalsIgnoreCase(a, b), expected);
          if (reference(a[pos]) == a[pos]) {
            ASSERT_EQ(foldedEqual<true>(a.data(), b.data(), n), expected);
          }
        }
      }
    }
  }
}

TEST(AsciiWordsTest, LowerWordFoldsOnlyCapitals) {
  for (int c = 0; c < 256; ++c) {
    const uint64_t w = kOnes * static_cast<uint8_t>(c);
    EXPECT_EQ(lowerWord(w), kOnes * static_cast<uint8_t>(reference(static_cast<char>(c)))) << c;
  }
}

}  // namespace
}  // namespace remora::ascii
