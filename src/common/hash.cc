#include "common/hash.h"

#include <cstring>

namespace remora {
namespace {

// Unaligned little-endian loads (x86 and arm64 are little-endian; the specification reads
// little-endian words).
uint64_t load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
uint32_t load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
constexpr uint64_t rotl(uint64_t v, int bits) { return (v << bits) | (v >> (64 - bits)); }

constexpr uint64_t kPrime1 = 0x9E3779B185EBCA87ULL;
constexpr uint64_t kPrime2 = 0xC2B2AE3D27D4EB4FULL;
constexpr uint64_t kPrime3 = 0x165667B19E3779F9ULL;
constexpr uint64_t kPrime4 = 0x85EBCA77C2B2AE63ULL;
constexpr uint64_t kPrime5 = 0x27D4EB2F165667C5ULL;

uint64_t accumulate(uint64_t acc, uint64_t lane) {
  acc += lane * kPrime2;
  return rotl(acc, 31) * kPrime1;
}
uint64_t mergeAccumulator(uint64_t hash, uint64_t acc) {
  hash ^= accumulate(0, acc);
  return hash * kPrime1 + kPrime4;
}

}  // namespace

uint64_t xxHash64(std::string_view data, uint64_t seed) {
  const char* p = data.data();
  const char* const end = p + data.size();
  uint64_t hash;
  if (data.size() >= 32) {
    // Four lanes over 32-byte stripes, then folded into one.
    uint64_t acc[4] = {seed + kPrime1 + kPrime2, seed + kPrime2, seed, seed - kPrime1};
    for (; end - p >= 32; p += 32) {
      for (int lane = 0; lane < 4; ++lane) acc[lane] = accumulate(acc[lane], load64(p + 8 * lane));
    }
    hash = rotl(acc[0], 1) + rotl(acc[1], 7) + rotl(acc[2], 12) + rotl(acc[3], 18);
    for (uint64_t a : acc) hash = mergeAccumulator(hash, a);
  } else {
    hash = seed + kPrime5;
  }
  hash += data.size();
  // The tail: 8-byte words, then one 4-byte word, then single bytes.
  for (; end - p >= 8; p += 8) {
    hash ^= accumulate(0, load64(p));
    hash = rotl(hash, 27) * kPrime1 + kPrime4;
  }
  if (end - p >= 4) {
    hash ^= static_cast<uint64_t>(load32(p)) * kPrime1;
    hash = rotl(hash, 23) * kPrime2 + kPrime3;
    p += 4;
  }
  for (; p < end; ++p) {
    hash ^= static_cast<uint64_t>(static_cast<uint8_t>(*p)) * kPrime5;
    hash = rotl(hash, 11) * kPrime1;
  }
  // Avalanche.
  hash ^= hash >> 33;
  hash *= kPrime2;
  hash ^= hash >> 29;
  hash *= kPrime3;
  hash ^= hash >> 32;
  return hash;
}

uint64_t murmurHash2(std::string_view data, uint64_t seed) {
  constexpr uint64_t kMul = (0xc6a4a793ULL << 32) + 0x5bd1e995ULL;
  auto shiftMix = [](uint64_t v) { return v ^ (v >> 47); };
  const char* p = data.data();
  const size_t len = data.size();
  const char* const words_end = p + (len & ~size_t{7});
  uint64_t hash = seed ^ (len * kMul);
  for (; p != words_end; p += 8) {
    const uint64_t word = shiftMix(load64(p) * kMul) * kMul;
    hash ^= word;
    hash *= kMul;
  }
  if ((len & 7) != 0) {
    // The last 1..7 bytes as one little-endian number.
    uint64_t tail = 0;
    for (size_t i = len & 7; i > 0; --i) tail = (tail << 8) | static_cast<uint8_t>(p[i - 1]);
    hash ^= tail;
    hash *= kMul;
  }
  hash = shiftMix(hash) * kMul;
  return shiftMix(hash);
}

}  // namespace remora
