#include "common/thread_cache.h"

#include <malloc.h>

#include <cstdlib>
#include <new>

namespace remora::memory {

namespace {

struct FreeBlock {
  FreeBlock* next;
};

// Plain data, zero-initialised in static TLS: reaching it costs no guard check or constructor.
struct CacheState {
  FreeBlock* heads[ThreadCache::kClasses];
  uint32_t counts[ThreadCache::kClasses];
  size_t cached_bytes;
  bool caching;  // the exit hook is registered and has not run: freed blocks may be cached
  bool exiting;  // the thread's TLS is being torn down: stop caching
};
constinit thread_local CacheState tls{};

constexpr size_t classIndex(size_t size) { return (size - 1) / ThreadCache::kGranule; }
constexpr size_t classBytes(size_t index) { return (index + 1) * ThreadCache::kGranule; }

struct ExitHook {
  ~ExitHook() {
    tls.caching = false;
    tls.exiting = true;
    ThreadCache::releaseAll();
  }
};

void registerExitHook() {
  tls.caching = true;
  thread_local ExitHook hook;
  (void)hook;
}

// The size class a block belongs to when its requested size is unknown (unsized delete). Blocks
// are malloc'd at whole class sizes, so malloc's usable size is at least the class size; a larger
// usable size (malloc kept a small remainder in the chunk) only files the block one class up, where
// it still has room for that class.
size_t indexFromUsableSize(void* block) {
  const size_t whole_granules = malloc_usable_size(block) / ThreadCache::kGranule;
  return whole_granules > ThreadCache::kClasses ? ThreadCache::kClasses : whole_granules - 1;
}

}  // namespace

void* ThreadCache::allocate(size_t size) {
  if (size > kMaxSize) return std::malloc(size);
  const size_t index = classIndex(size == 0 ? 1 : size);
  if (FreeBlock* block = tls.heads[index]) {
    tls.heads[index] = block->next;
    --tls.counts[index];
    tls.cached_bytes -= classBytes(index);
    return block;
  }
  return std::malloc(classBytes(index));
}

namespace {
// Files `block` under class `index` when the limits allow; the common case of every delete, kept
// small enough to need no saved registers.
inline bool tryCache(void* block, size_t index) {
  const size_t bytes = classBytes(index);
  const size_t cached = tls.cached_bytes + bytes;
  const uint32_t count = tls.counts[index] + 1;
  if (!tls.caching || cached > ThreadCache::kMaxCachedBytes ||
      count * bytes > ThreadCache::kMaxClassBytes) {
    return false;
  }
  auto* node = static_cast<FreeBlock*>(block);
  node->next = tls.heads[index];
  tls.heads[index] = node;
  tls.counts[index] = count;
  tls.cached_bytes = cached;
  return true;
}

// Everything but a sized delete into a running cache: null, unsized, large, the thread's first
// cached block (which registers the exit hook) and the thread's exit.
[[gnu::noinline, gnu::cold]] void deallocateSlow(void* block, size_t size) {
  if (block == nullptr) return;
  if (size > ThreadCache::kMaxSize || tls.exiting) {
    std::free(block);
    return;
  }
  const size_t index = size == 0 ? indexFromUsableSize(block) : classIndex(size);
  if (index >= ThreadCache::kClasses) {
    std::free(block);
    return;
  }
  // Whatever the thread caches is freed when it exits.
  if (!tls.caching) registerExitHook();
  if (!tryCache(block, index)) std::free(block);
}
}  // namespace

void ThreadCache::deallocate(void* block, size_t size) {
  // size - 1 wraps for an unknown size (0), sending it to the slow path with the large ones.
  if (size - 1 < kMaxSize && block != nullptr && tryCache(block, classIndex(size))) return;
  deallocateSlow(block, size);
}

size_t ThreadCache::cachedBytes() { return tls.cached_bytes; }

void ThreadCache::releaseAll() {
  for (size_t i = 0; i < kClasses; ++i) {
    while (FreeBlock* block = tls.heads[i]) {
      tls.heads[i] = block->next;
      std::free(block);
    }
    tls.counts[i] = 0;
  }
  tls.cached_bytes = 0;
}

}  // namespace remora::memory

// The program-wide allocation functions go through the cache. Sanitizer builds keep the
// sanitizer's own operator new so use-after-free and leaks are still caught at the object.
#ifndef REMORA_SANITIZED

namespace {
void* allocateOrThrow(size_t size) {
  for (;;) {
    if (void* block = remora::memory::ThreadCache::allocate(size)) return block;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}
}  // namespace

void* operator new(size_t size) { return allocateOrThrow(size); }
void* operator new[](size_t size) { return allocateOrThrow(size); }
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  return remora::memory::ThreadCache::allocate(size);
}
void* operator new[](size_t size, const std::nothrow_t&) noexcept {
  return remora::memory::ThreadCache::allocate(size);
}
void operator delete(void* block) noexcept { remora::memory::ThreadCache::deallocate(block, 0); }
void operator delete[](void* block) noexcept { remora::memory::ThreadCache::deallocate(block, 0); }
void operator delete(void* block, size_t size) noexcept {
  remora::memory::ThreadCache::deallocate(block, size);
}
void operator delete[](void* block, size_t size) noexcept {
  remora::memory::ThreadCache::deallocate(block, size);
}
void operator delete(void* block, const std::nothrow_t&) noexcept {
  remora::memory::ThreadCache::deallocate(block, 0);
}
void operator delete[](void* block, const std::nothrow_t&) noexcept {
  remora::memory::ThreadCache::deallocate(block, 0);
}

#endif
