#include "common/thread_cache.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace remora::memory {
namespace {

using Cache = ThreadCache;

class ThreadCacheTest : public testing::Test {
 protected:
  void SetUp() override { Cache::releaseAll(); }
  void TearDown() override { Cache::releaseAll(); }
};

TEST_F(ThreadCacheTest, FreedBlockIsReusedForItsSizeClass) {
  void* first = Cache::allocate(40);
  Cache::deallocate(first, 40);
  EXPECT_EQ(Cache::cachedBytes(), 48u);
  // 33..48 bytes share the class; the cached block comes back.
  EXPECT_EQ(Cache::allocate(33), first);
  EXPECT_EQ(Cache::cachedBytes(), 0u);
  Cache::deallocate(first, 33);
}

TEST_F(ThreadCacheTest, OtherSizeClassesDoNotShareBlocks) {
  void* small = Cache::allocate(16);
  Cache::deallocate(small, 16);
  void* larger = Cache::allocate(17);
  EXPECT_NE(larger, small);
  Cache::deallocate(larger, 17);
}

TEST_F(ThreadCacheTest, BlocksHaveRoomForTheirWholeClass) {
  for (size_t size = 1; size <= Cache::kMaxSize; size += 7) {
    void* block = Cache::allocate(size);
    ASSERT_NE(block, nullptr);
    EXPECT_GE(malloc_usable_size(block), (size + Cache::kGranule - 1) / Cache::kGranule * Cache::kGranule);
    Cache::deallocate(block, size);
  }
}

TEST_F(ThreadCacheTest, UnsizedDeallocateFindsAClassTheBlockFits) {
  void* block = Cache::allocate(100);  // class 112
  Cache::deallocate(block, 0);
  void* again = Cache::allocate(112);
  EXPECT_EQ(again, block);
  EXPECT_GE(malloc_usable_size(again), 112u);
  Cache::deallocate(again, 112);
}

TEST_F(ThreadCacheTest, LargeBlocksBypassTheCache) {
  void* block = Cache::allocate(Cache::kMaxSize + 1);
  Cache::deallocate(block, Cache::kMaxSize + 1);
  EXPECT_EQ(Cache::cachedBytes(), 0u);
  block = Cache::allocate(64 * 1024);
  Cache::deallocate(block, 0);
  EXPECT_EQ(Cache::cachedBytes(), 0u);
}

TEST_F(ThreadCacheTest, CachedBytesStayBounded) {
  std::vector<void*> blocks;
  blocks.reserve(20000);  // its own storage skips the cache (over kMaxSize)
  for (int i = 0; i < 10000; ++i) blocks.push_back(Cache::allocate(1024));
  for (void* block : blocks) Cache::deallocate(block, 1024);
  EXPECT_LE(Cache::cachedBytes(), Cache::kMaxClassBytes);
  Cache::releaseAll();
  blocks.clear();
  for (size_t size = 16; size <= Cache::kMaxSize; size += 16) {
    for (int i = 0; i < 64; ++i) blocks.push_back(Cache::allocate(size));
  }
  for (void* block : blocks) Cache::deallocate(block, 0);
  EXPECT_LE(Cache::cachedBytes(), Cache::kMaxCachedBytes);
  EXPECT_GT(Cache::cachedBytes(), 0u);
}

TEST_F(ThreadCacheTest, BlocksMayBeFreedOnAnotherThread) {
  std::vector<void*> blocks;
  for (int i = 0; i < 100; ++i) blocks.push_back(Cache::allocate(64));
  size_t cached_by_other = 0;
  std::thread other([&] {
    for (void* block : blocks) Cache::deallocate(block, 64);
    cached_by_other = Cache::cachedBytes();
    // The thread's cached blocks are freed when it exits.
  });
  other.join();
  EXPECT_GE(cached_by_other, 100u * 64);
}

#ifndef REMORA_SANITIZED
TEST_F(ThreadCacheTest, OperatorNewAndDeleteGoThroughTheCache) {
  auto* text = new std::string(100, 'x');
  void* storage = text->data();
  delete text;  // frees the 101-byte character block, then the string object
  EXPECT_GT(Cache::cachedBytes(), 0u);
  auto* again = new std::string(100, 'y');
  EXPECT_EQ(static_cast<void*>(again->data()), storage);
  delete again;
}
#endif

}  // namespace
}  // namespace remora::memory
