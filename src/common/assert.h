#pragma once

#include <cstdio>
#include <cstdlib>

// Release asserts guard states that are impossible unless remora itself is wrong; they stay on in
// optimized builds because continuing with corrupted state is worse than a crash with a message.
#define RELEASE_ASSERT(cond, msg)                                                            \
  do {                                                                                       \
    if (!(cond)) [[unlikely]] {                                                              \
      std::fprintf(stderr, "assert failure: %s: %s (%s:%d)\n", #cond, msg, __FILE__, __LINE__); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (false)

#define PANIC(msg) RELEASE_ASSERT(false, msg)
