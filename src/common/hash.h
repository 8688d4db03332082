#pragma once

#include <cstdint>
#include <string_view>

namespace remora {

// xxHash64 (XXH64 from the xxHash specification). Envoy hashes ring entries, Maglev
// permutations and request hash keys with it (seed 0 unless noted), so remora does too: the same
// key lands on the same endpoint as it would behind Envoy.
uint64_t xxHash64(std::string_view data, uint64_t seed = 0);

// MurmurHash2 in its 64-bit form as libstdc++'s std::hash<std::string> computes it (Envoy's
// RING_HASH hash_function MURMUR_HASH_2 uses it with kStdHashSeed).
uint64_t murmurHash2(std::string_view data, uint64_t seed);
inline constexpr uint64_t kStdHashSeed = 0xc70f6907ULL;

}  // namespace remora
