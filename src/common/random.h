#pragma once

#include <cstdint>

namespace remora {

// A fast per-thread pseudo-random source for load balancing, sampling, back-off jitter and request
// ids. Seeded once per thread from the OS; never for secrets (keys come from OpenSSL).
uint64_t randomU64();

}  // namespace remora
