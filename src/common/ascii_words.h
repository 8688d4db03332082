#pragma once

#include <cstdint>
#include <cstring>

namespace remora::ascii {

// ASCII case folding eight bytes at a time, for header names compared and lower-cased on every
// request. Only 'A'..'Z' fold; every other byte (digits, punctuation, obs-text) is left as is.

inline constexpr uint64_t kOnes = 0x0101010101010101ull;
inline constexpr uint64_t kHighBits = 0x8080808080808080ull;

// Adds 0x20 to each byte in 'A'..'Z'. No carry crosses a byte: each sum stays below 0x100, and
// bytes with the high bit set are excluded.
inline uint64_t lowerWord(uint64_t w) {
  const uint64_t heptets = w & ~kHighBits;
  const uint64_t at_least_a = heptets + kOnes * (0x80 - 'A');
  const uint64_t above_z = heptets + kOnes * (0x80 - 'Z' - 1);
  return w | (((at_least_a ^ above_z) & ~w & kHighBits) >> 2);
}

inline uint64_t load8(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
inline uint32_t load4(const char* p) {
  uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}
inline uint32_t lowerWord4(uint32_t w) { return static_cast<uint32_t>(lowerWord(w)); }

// Whether the n bytes at a and b are equal once both are case-folded; `a_folded` says a is
// already lower-case (a stored header name), which saves folding it. Words overlap at the end
// when n is not a multiple of their size; below 4 bytes, byte by byte.
template <bool a_folded>
inline bool foldedEqual(const char* a, const char* b, size_t n) {
  auto fa8 = [](uint64_t w) { return a_folded ? w : lowerWord(w); };
  auto fa4 = [](uint32_t w) { return a_folded ? w : lowerWord4(w); };
  if (n >= 8) {
    for (size_t i = 0; i + 8 <= n; i += 8) {
      if (fa8(load8(a + i)) != lowerWord(load8(b + i))) return false;
    }
    return n % 8 == 0 || fa8(load8(a + n - 8)) == lowerWord(load8(b + n - 8));
  }
  if (n >= 4) {
    return fa4(load4(a)) == lowerWord4(load4(b)) &&
           fa4(load4(a + n - 4)) == lowerWord4(load4(b + n - 4));
  }
  for (size_t i = 0; i < n; ++i) {
    const uint32_t x = static_cast<unsigned char>(a[i]);
    const uint32_t y = static_cast<unsigned char>(b[i]);
    if (fa4(x) != lowerWord4(y)) return false;
  }
  return true;
}

}  // namespace remora::ascii
