#pragma once

#include <cstddef>
#include <cstdint>

namespace remora::memory {

// A per-thread cache of freed small heap blocks in front of malloc, the role tcmalloc's front end
// plays for Envoy. A request through the proxy allocates and frees ~30 small objects (header
// entries, stream state, timers, callbacks); glibc serves most of them through its shared bins and
// consolidation instead of its small per-thread cache, which costs more than any other user-space
// work per request. Here a freed block goes onto its thread's list for its 16-byte size class and
// the next allocation of that class takes it back without touching malloc.
//
// Every block is a real malloc chunk: the cache only postpones free(), so a block may be freed on
// any thread, and a block that skipped the cache is still released correctly. The cache holds at
// most kMaxCachedBytes per thread and kMaxClassBytes per size class; beyond that free() runs at once.
class ThreadCache {
 public:
  static constexpr size_t kGranule = 16;
  static constexpr size_t kMaxSize = 4096;
  static constexpr size_t kClasses = kMaxSize / kGranule;
  static constexpr size_t kMaxClassBytes = 64 * 1024;
  static constexpr size_t kMaxCachedBytes = 2 * 1024 * 1024;

  // A block of at least `size` bytes (size > 0), or nullptr when malloc fails.
  static void* allocate(size_t size);
  // Returns a block from allocate(); `size` is the size asked for, or 0 when unknown.
  static void deallocate(void* block, size_t size);

  // Bytes cached on the calling thread (for tests).
  static size_t cachedBytes();
  // Frees every block cached on the calling thread; runs at thread exit.
  static void releaseAll();
};

}  // namespace remora::memory
