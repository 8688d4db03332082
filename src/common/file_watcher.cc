#include "common/file_watcher.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>

#include "common/assert.h"

namespace remora {

FileWatcher::FileWatcher(event::Dispatcher& dispatcher)
    : fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
  RELEASE_ASSERT(fd_ >= 0, "inotify_init1 failed");
  file_event_ = dispatcher.createFileEvent(
      fd_, [this](uint32_t) { onReadable(); }, event::FileReadyType::Read);
}

FileWatcher::~FileWatcher() {
  file_event_.reset();
  ::close(fd_);
}

bool FileWatcher::addDirectory(const std::string& directory, bool include_writes, Callback cb) {
  const uint32_t mask = IN_MOVED_TO | (include_writes ? IN_CLOSE_WRITE : 0u);
  const int wd = inotify_add_watch(fd_, directory.c_str(), mask);
  if (wd < 0) return false;
  callbacks_[wd] = std::move(cb);
  return true;
}

void FileWatcher::onReadable() {
  // Edge-triggered: drain every queued event.
  alignas(inotify_event) char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd_, buffer, sizeof(buffer));
    if (n <= 0) break;
    for (ssize_t offset = 0; offset < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buffer + offset);
      offset += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      auto it = callbacks_.find(ev->wd);
      if (it == callbacks_.end() || ev->len == 0) continue;
      it->second(std::string(ev->name));
    }
  }
}

}  // namespace remora
