#include "common/random.h"

#include <random>

namespace remora {

namespace {
// xoshiro256** (Blackman and Vigna): a few cycles per draw and 32 bytes of state, where
// std::mt19937_64 carries 2.5 KB and std::random_device opens /dev/urandom or runs RDRAND.
struct Xoshiro256 {
  uint64_t s[4];

  Xoshiro256() {
    std::random_device device;
    for (uint64_t& word : s) word = (static_cast<uint64_t>(device()) << 32) ^ device();
  }

  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  uint64_t next() {
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
};
}  // namespace

uint64_t randomU64() {
  thread_local Xoshiro256 generator;
  return generator.next();
}

}  // namespace remora
