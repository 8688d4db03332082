#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

namespace remora::fuzz {

// Aborts with a message: libFuzzer records the input as a crash.
#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      __builtin_printf("fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (false)

// An exactly-sized heap copy: any read past the end is an ASan heap-buffer-overflow, which a
// view into libFuzzer's own (larger) buffer would not always be.
struct ExactCopy {
  ExactCopy(const uint8_t* data, size_t size) : bytes(new char[size == 0 ? 1 : size]), size(size) {
    if (size > 0) std::memcpy(bytes.get(), data, size);
  }
  std::string_view view() const { return {bytes.get(), size}; }
  std::unique_ptr<char[]> bytes;
  size_t size;
};

// A small deterministic generator so a split pattern is a function of the input (reproducible).
struct SplitRng {
  explicit SplitRng(const uint8_t* data, size_t size) {
    for (size_t i = 0; i < size; ++i) state = (state ^ data[i]) * 0x100000001b3ull;
  }
  // The next piece length in [1, max].
  size_t next(size_t max) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    // Mostly tiny pieces (where boundary bugs live), sometimes large ones.
    size_t bound = (state & 3) == 0 ? max : (max < 8 ? max : 8);
    return 1 + static_cast<size_t>((state >> 8) % bound);
  }
  uint64_t state = 0xcbf29ce484222325ull;
};

}  // namespace remora::fuzz
