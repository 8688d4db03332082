#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/status.h"

namespace remora::access_log {

// One access log destination, shared by every logger and every worker that names the same path.
// As in Envoy, workers only append to an in-memory buffer under a short mutex; a background
// thread writes it out every second, or sooner once it passes kFlushThreshold bytes, so request
// threads never block on disk. The buffer is also written on flush(), reopen() and destruction.
class AccessLogFile {
 public:
  static constexpr size_t kFlushThreshold = 64 * 1024;
  static constexpr std::chrono::milliseconds kFlushInterval{1000};

  // Opens `path` for appending (created 0644 if missing). "/dev/stdout" and "/dev/stderr" write
  // to this process's fds 1 and 2 even when they are pipes or sockets.
  static StatusOr<std::unique_ptr<AccessLogFile>> open(const std::string& path);
  ~AccessLogFile();
  AccessLogFile(const AccessLogFile&) = delete;
  AccessLogFile& operator=(const AccessLogFile&) = delete;

  // Appends one entry to the buffer. Thread-safe; never touches the disk.
  void write(std::string_view data);
  // Writes everything buffered so far before returning.
  void flush();
  // Flushes, then closes and reopens the path (after log rotation moved the old file away).
  void reopen();
  const std::string& path() const { return path_; }

 private:
  AccessLogFile(std::string path, int fd, bool reopenable);
  void flushThreadMain();
  // Takes the buffer and writes it; fd_mutex_ must be held.
  void writeOutLocked(std::string& data);

  const std::string path_;
  const bool reopenable_;  // false for stdout/stderr

  std::mutex buffer_mutex_;  // guards buffer_ and the flags below
  std::condition_variable wake_;
  std::string buffer_;
  bool flush_requested_ = false;
  bool stopping_ = false;

  std::mutex fd_mutex_;  // serialises writes to fd_ and reopening it
  int fd_;

  std::thread flush_thread_;
};

// Every open access log file by path, so loggers naming one path share one buffer and one fd
// (two buffers appending to one file would interleave partial writes). Files close when their
// last logger goes away.
class AccessLogFileManager {
 public:
  static AccessLogFileManager& get();
  // The shared file for `path`, opened on first use.
  StatusOr<std::shared_ptr<AccessLogFile>> getOrOpen(const std::string& path);
  // Reopens every open file (Envoy's /reopen_logs, SIGUSR1).
  void reopenAll();

 private:
  std::mutex mutex_;
  std::map<std::string, std::weak_ptr<AccessLogFile>> files_;
};

}  // namespace remora::access_log
