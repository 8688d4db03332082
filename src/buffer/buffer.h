#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace remora::buffer {

// Result of a socket read or write: bytes moved, or the errno that stopped it.
struct IoResult {
  size_t bytes = 0;
  size_t requested = 0;  // bytes the call asked for: fewer moved means the socket is drained
  int error = 0;  // 0, EAGAIN, or a hard error
  bool end_of_stream = false;  // read saw EOF (peer's FIN)
  bool wouldBlock() const { return error == EAGAIN; }
  bool failed() const { return error != 0 && error != EAGAIN; }
};

// Told when a buffer crosses its high watermark upward or its low watermark downward; the owner
// pauses or resumes whoever fills the buffer. Each crossing is reported once.
class WatermarkCallbacks {
 public:
  virtual ~WatermarkCallbacks() = default;
  virtual void onAboveHighWatermark() = 0;
  virtual void onBelowLowWatermark() = 0;
};

// A byte queue stored as a chain of slices. Moving data between buffers hands over whole slices
// instead of copying; reads fill pooled fixed-size blocks; writes gather with one writev.
class Buffer {
 public:
  static constexpr size_t kBlockSize = 16 * 1024;

  Buffer() = default;
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  size_t length() const { return length_; }
  bool empty() const { return length_ == 0; }

  void add(const void* data, size_t size);
  void add(std::string_view data) { add(data.data(), data.size()); }
  // Moves all of `other` to the end of this buffer.
  void move(Buffer& other);
  // Moves the first `size` bytes of `other` to the end of this buffer.
  void move(Buffer& other, size_t size);
  // Discards the first `size` bytes.
  void drain(size_t size);
  // Copies `size` bytes starting at `start` into `out`; the range must exist.
  void copyOut(size_t start, size_t size, void* out) const;
  std::string toString() const;
  // Calls fn(std::string_view) for each slice in order, without copying.
  template <class Fn>
  void forEachSlice(Fn&& fn) const {
    for (const Slice& s : slices_) fn(std::string_view(reinterpret_cast<const char*>(s.base + s.start), s.end - s.start));
  }

  // Reads up to `max_length` bytes from socket `fd` into new space at the end.
  IoResult readFrom(int fd, size_t max_length);
  // Writes as much as socket `fd` takes (one send, or one writev of up to 64 slices) and drains it.
  IoResult writeTo(int fd);

  // Watermarks: above `high` the callbacks hear onAboveHighWatermark; once back at or below
  // high/2, onBelowLowWatermark. high == 0 disables them.
  void setWatermarks(size_t high, WatermarkCallbacks* callbacks);
  bool aboveHighWatermark() const { return above_high_; }
  size_t highWatermark() const { return high_; }

 private:
  struct Slice {
    uint8_t* base;
    size_t capacity;
    size_t start;
    size_t end;
    bool pooled;
    size_t length() const { return end - start; }
    size_t reservable() const { return capacity - end; }
  };

  // A FIFO of slices in a power-of-two ring. The first kInline slices live inside the Buffer, so
  // the many short-lived buffers of a request (a header block, a small body) never allocate for
  // their bookkeeping; std::deque allocates even when empty.
  class SliceQueue {
   public:
    SliceQueue() = default;
    ~SliceQueue() {
      if (data_ != inline_) delete[] data_;
    }
    SliceQueue(const SliceQueue&) = delete;
    SliceQueue& operator=(const SliceQueue&) = delete;

    bool empty() const { return size_ == 0; }
    size_t size() const { return size_; }
    Slice& operator[](size_t i) { return data_[(head_ + i) & (capacity_ - 1)]; }
    const Slice& operator[](size_t i) const { return data_[(head_ + i) & (capacity_ - 1)]; }
    Slice& front() { return (*this)[0]; }
    Slice& back() { return (*this)[size_ - 1]; }
    void push_back(const Slice& slice) {
      if (size_ == capacity_) grow();
      (*this)[size_++] = slice;
    }
    void pop_back() { --size_; }
    void pop_front() {
      head_ = (head_ + 1) & (capacity_ - 1);
      --size_;
    }
    void clear() { head_ = size_ = 0; }

    // Range-for support, front to back.
    template <class Queue, class Value>
    struct Iterator {
      Queue* queue;
      size_t index;
      Value& operator*() const { return (*queue)[index]; }
      Iterator& operator++() {
        ++index;
        return *this;
      }
      bool operator!=(const Iterator& other) const { return index != other.index; }
    };
    Iterator<SliceQueue, Slice> begin() { return {this, 0}; }
    Iterator<SliceQueue, Slice> end() { return {this, size_}; }
    Iterator<const SliceQueue, const Slice> begin() const { return {this, 0}; }
    Iterator<const SliceQueue, const Slice> end() const { return {this, size_}; }

   private:
    static constexpr size_t kInline = 4;
    void grow();

    Slice inline_[kInline];
    Slice* data_ = inline_;
    size_t capacity_ = kInline;
    size_t head_ = 0;
    size_t size_ = 0;
  };

  IoResult recvIntoTail(int fd, size_t max_length);
  IoResult readvFresh(int fd, size_t max_length);
  static Slice newSlice(size_t min_capacity);
  static void freeSlice(Slice& slice);
  void checkWatermarks();

  SliceQueue slices_;
  size_t length_ = 0;
  size_t high_ = 0;
  size_t low_ = 0;
  bool above_high_ = false;
  WatermarkCallbacks* callbacks_ = nullptr;
};

}  // namespace remora::buffer
