#include "buffer/buffer.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/assert.h"

namespace remora::buffer {

namespace {

// Per-thread cache of free blocks: steady-state proxying allocates nothing. Bounded so an idle
// worker returns memory after a burst.
constexpr size_t kMaxPooledBlocks = 128;  // 2 MiB per thread

struct BlockPool {
  std::vector<uint8_t*> free;
  ~BlockPool() {
    for (auto* b : free) std::free(b);
  }
};
thread_local BlockPool tls_pool;

uint8_t* takeBlock() {
  if (!tls_pool.free.empty()) {
    uint8_t* b = tls_pool.free.back();
    tls_pool.free.pop_back();
    return b;
  }
  auto* b = static_cast<uint8_t*>(std::malloc(Buffer::kBlockSize));
  RELEASE_ASSERT(b != nullptr, "out of memory");
  return b;
}

void returnBlock(uint8_t* b) {
  if (tls_pool.free.size() < kMaxPooledBlocks) {
    tls_pool.free.push_back(b);
  } else {
    std::free(b);
  }
}

}  // namespace

void Buffer::SliceQueue::grow() {
  const size_t capacity = capacity_ * 2;
  auto* data = new Slice[capacity];
  for (size_t i = 0; i < size_; ++i) data[i] = (*this)[i];
  if (data_ != inline_) delete[] data_;
  data_ = data;
  capacity_ = capacity;
  head_ = 0;
}

Buffer::~Buffer() {
  for (auto& s : slices_) freeSlice(s);
}

Buffer::Slice Buffer::newSlice(size_t min_capacity) {
  if (min_capacity <= kBlockSize) return Slice{takeBlock(), kBlockSize, 0, 0, true};
  auto* b = static_cast<uint8_t*>(std::malloc(min_capacity));
  RELEASE_ASSERT(b != nullptr, "out of memory");
  return Slice{b, min_capacity, 0, 0, false};
}

void Buffer::freeSlice(Slice& slice) {
  if (slice.pooled) {
    returnBlock(slice.base);
  } else {
    std::free(slice.base);
  }
  slice.base = nullptr;
}

void Buffer::add(const void* data, size_t size) {
  const auto* src = static_cast<const uint8_t*>(data);
  while (size > 0) {
    if (slices_.empty() || slices_.back().reservable() == 0) {
      slices_.push_back(newSlice(std::min(size, kBlockSize)));
    }
    Slice& tail = slices_.back();
    size_t n = std::min(size, tail.reservable());
    std::memcpy(tail.base + tail.end, src, n);
    tail.end += n;
    src += n;
    size -= n;
    length_ += n;
  }
  checkWatermarks();
}

void Buffer::move(Buffer& other) {
  if (other.empty()) return;
  for (auto& s : other.slices_) {
    // Coalesce small tails into our free space rather than chaining many tiny slices.
    if (!slices_.empty() && s.length() <= 1024 && slices_.back().reservable() >= s.length()) {
      Slice& tail = slices_.back();
      std::memcpy(tail.base + tail.end, s.base + s.start, s.length());
      tail.end += s.length();
      freeSlice(s);
    } else {
      slices_.push_back(s);
    }
  }
  length_ += other.length_;
  other.slices_.clear();
  other.length_ = 0;
  checkWatermarks();
  other.checkWatermarks();
}

void Buffer::move(Buffer& other, size_t size) {
  RELEASE_ASSERT(size <= other.length_, "move past end of buffer");
  if (size == other.length_) {
    move(other);
    return;
  }
  while (size > 0) {
    Slice& head = other.slices_.front();
    if (head.length() <= size) {
      size -= head.length();
      length_ += head.length();
      other.length_ -= head.length();
      slices_.push_back(head);
      other.slices_.pop_front();
    } else {
      add(head.base + head.start, size);
      head.start += size;
      other.length_ -= size;
      size = 0;
    }
  }
  checkWatermarks();
  other.checkWatermarks();
}

void Buffer::drain(size_t size) {
  RELEASE_ASSERT(size <= length_, "drain past end of buffer");
  length_ -= size;
  while (size > 0) {
    Slice& head = slices_.front();
    if (head.length() <= size) {
      size -= head.length();
      freeSlice(head);
      slices_.pop_front();
    } else {
      head.start += size;
      size = 0;
    }
  }
  // Keep an emptied tail block for the next read instead of returning it to the pool.
  checkWatermarks();
}

void Buffer::copyOut(size_t start, size_t size, void* out) const {
  RELEASE_ASSERT(start + size <= length_, "copyOut past end of buffer");
  auto* dst = static_cast<uint8_t*>(out);
  for (const auto& s : slices_) {
    if (size == 0) break;
    if (start >= s.length()) {
      start -= s.length();
      continue;
    }
    size_t n = std::min(size, s.length() - start);
    std::memcpy(dst, s.base + s.start + start, n);
    dst += n;
    size -= n;
    start = 0;
  }
}

std::string Buffer::toString() const {
  std::string out(length_, '\0');
  copyOut(0, length_, out.data());
  return out;
}

IoResult Buffer::readFrom(int fd, size_t max_length) {
  // Most reads are one small message: recv into a single slice skips readv's iovec import and
  // the taking and returning of blocks that end up empty. Only a read that fills that slice goes
  // on to gather the rest of the budget with readv.
  IoResult result = recvIntoTail(fd, max_length);
  if (result.error != 0 || result.end_of_stream || result.bytes < result.requested ||
      result.bytes == max_length) {
    return result;
  }
  IoResult rest = readvFresh(fd, max_length - result.bytes);
  result.bytes += rest.bytes;
  result.requested += rest.requested;
  result.end_of_stream = rest.end_of_stream;
  if (rest.failed()) result.error = rest.error;
  return result;
}

IoResult Buffer::recvIntoTail(int fd, size_t max_length) {
  const bool fresh = slices_.empty() || slices_.back().reservable() < 512;
  if (fresh) slices_.push_back(newSlice(kBlockSize));
  Slice& tail = slices_.back();
  IoResult result;
  result.requested = std::min(tail.reservable(), max_length);
  ssize_t rc;
  do {
    rc = ::recv(fd, tail.base + tail.end, result.requested, 0);
  } while (rc < 0 && errno == EINTR);
  if (rc > 0) {
    tail.end += static_cast<size_t>(rc);
    result.bytes = static_cast<size_t>(rc);
    length_ += result.bytes;
    checkWatermarks();
    return result;
  }
  if (fresh) {
    freeSlice(tail);
    slices_.pop_back();
  }
  if (rc == 0) {
    result.end_of_stream = true;
  } else {
    result.error = errno == EWOULDBLOCK ? EAGAIN : errno;
  }
  return result;
}

IoResult Buffer::readvFresh(int fd, size_t max_length) {
  constexpr int kMaxIov = 8;
  iovec iov[kMaxIov];
  Slice fresh[kMaxIov];
  int count = 0;
  IoResult result;
  while (result.requested < max_length && count < kMaxIov) {
    fresh[count] = newSlice(kBlockSize);
    const size_t n = std::min(kBlockSize, max_length - result.requested);
    iov[count] = {fresh[count].base, n};
    result.requested += n;
    ++count;
  }
  ssize_t rc;
  do {
    rc = ::readv(fd, iov, count);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    result.error = errno == EWOULDBLOCK ? EAGAIN : errno;
  } else if (rc == 0) {
    result.end_of_stream = true;
  }
  size_t remaining = rc > 0 ? static_cast<size_t>(rc) : 0;
  result.bytes = remaining;
  for (int i = 0; i < count; ++i) {
    const size_t n = std::min(remaining, iov[i].iov_len);
    remaining -= n;
    if (n > 0) {
      fresh[i].end = n;
      slices_.push_back(fresh[i]);
    } else {
      freeSlice(fresh[i]);
    }
  }
  length_ += result.bytes;
  if (result.bytes > 0) checkWatermarks();
  return result;
}

IoResult Buffer::writeTo(int fd) {
  constexpr size_t kMaxIov = 64;
  iovec iov[kMaxIov];
  size_t count = 0;
  for (const auto& s : slices_) {
    if (count == kMaxIov) break;
    if (s.length() == 0) continue;
    iov[count++] = {s.base + s.start, s.length()};
  }
  IoResult result;
  if (count == 0) return result;
  result.requested = length_;
  ssize_t rc;
  do {
    // One slice (most responses) goes with send(), which skips writev's iovec import.
    rc = count == 1 ? ::send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL)
                    : ::writev(fd, iov, static_cast<int>(count));
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    result.error = errno == EWOULDBLOCK ? EAGAIN : errno;
    return result;
  }
  result.bytes = static_cast<size_t>(rc);
  drain(result.bytes);
  return result;
}

void Buffer::setWatermarks(size_t high, WatermarkCallbacks* callbacks) {
  high_ = high;
  low_ = high / 2;
  callbacks_ = callbacks;
  above_high_ = false;
  checkWatermarks();
}

void Buffer::checkWatermarks() {
  if (high_ == 0 || callbacks_ == nullptr) return;
  if (!above_high_ && length_ > high_) {
    above_high_ = true;
    callbacks_->onAboveHighWatermark();
  } else if (above_high_ && length_ <= low_) {
    above_high_ = false;
    callbacks_->onBelowLowWatermark();
  }
}

}  // namespace remora::buffer
