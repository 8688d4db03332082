#include "access_log/access_log_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace remora::access_log {
namespace {

int openForAppend(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

// Writes all of `data`, retrying short writes and EINTR. A failing disk loses log lines rather
// than stalling the flush thread forever.
void writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

StatusOr<std::unique_ptr<AccessLogFile>> AccessLogFile::open(const std::string& path) {
  int fd = -1;
  bool reopenable = true;
  if (path == "/dev/stdout" || path == "/dev/stderr") {
    fd = ::fcntl(path == "/dev/stdout" ? STDOUT_FILENO : STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
    reopenable = false;
  } else {
    fd = openForAppend(path);
  }
  if (fd < 0) {
    return Status::error("unable to open access log file " + path + ": " + std::strerror(errno));
  }
  return std::unique_ptr<AccessLogFile>(new AccessLogFile(path, fd, reopenable));
}

AccessLogFile::AccessLogFile(std::string path, int fd, bool reopenable)
    : path_(std::move(path)), reopenable_(reopenable), fd_(fd) {
  flush_thread_ = std::thread([this] { flushThreadMain(); });
}

AccessLogFile::~AccessLogFile() {
  {
    std::lock_guard<std::mutex> lock(buffer_mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  flush_thread_.join();
  flush();  // whatever arrived after the thread's last pass
  ::close(fd_);
}

void AccessLogFile::write(std::string_view data) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(buffer_mutex_);
    buffer_.append(data);
    if (buffer_.size() >= kFlushThreshold && !flush_requested_) {
      flush_requested_ = true;
      wake = true;
    }
  }
  if (wake) wake_.notify_one();
}

void AccessLogFile::writeOutLocked(std::string& data) {
  if (!data.empty()) writeAll(fd_, data);
  data.clear();
}

void AccessLogFile::flush() {
  std::lock_guard<std::mutex> fd_lock(fd_mutex_);
  std::string data;
  {
    std::lock_guard<std::mutex> lock(buffer_mutex_);
    data.swap(buffer_);
  }
  writeOutLocked(data);
}

void AccessLogFile::reopen() {
  std::lock_guard<std::mutex> fd_lock(fd_mutex_);
  std::string data;
  {
    std::lock_guard<std::mutex> lock(buffer_mutex_);
    data.swap(buffer_);
  }
  writeOutLocked(data);
  if (!reopenable_) return;
  int fd = openForAppend(path_);
  if (fd < 0) return;  // keep writing to the old file rather than losing lines
  ::close(fd_);
  fd_ = fd;
}

void AccessLogFile::flushThreadMain() {
  std::string data;
  std::unique_lock<std::mutex> lock(buffer_mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, kFlushInterval, [this] { return stopping_ || flush_requested_; });
    flush_requested_ = false;
    data.swap(buffer_);
    lock.unlock();
    {
      // Taking fd_mutex_ without buffer_mutex_ held keeps workers appending while we write.
      std::lock_guard<std::mutex> fd_lock(fd_mutex_);
      writeOutLocked(data);
    }
    lock.lock();
  }
}

AccessLogFileManager& AccessLogFileManager::get() {
  static auto* instance = new AccessLogFileManager();
  return *instance;
}

StatusOr<std::shared_ptr<AccessLogFile>> AccessLogFileManager::getOrOpen(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = files_.find(path);
  if (it != files_.end()) {
    if (auto file = it->second.lock()) return file;
  }
  auto opened = AccessLogFile::open(path);
  if (!opened.ok()) return opened.status();
  std::shared_ptr<AccessLogFile> file = std::move(opened.value());
  files_[path] = file;
  return file;
}

void AccessLogFileManager::reopenAll() {
  std::vector<std::shared_ptr<AccessLogFile>> live;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = files_.begin(); it != files_.end();) {
      if (auto file = it->second.lock()) {
        live.push_back(std::move(file));
        ++it;
      } else {
        it = files_.erase(it);
      }
    }
  }
  for (const auto& file : live) file->reopen();
}

}  // namespace remora::access_log
