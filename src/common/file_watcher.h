#pragma once

#include <functional>
#include <map>
#include <string>

#include "event/dispatcher.h"

namespace remora {

// Watches directories with inotify on a dispatcher. Watching a directory rather than a file is
// what sees an atomic update: `mv new path` replaces the file's inode, which a watch on the file
// itself would lose. The callback gets the name (within the directory) of each entry that was
// moved in, and of each file closed after writing when `include_writes` is set.
class FileWatcher {
 public:
  using Callback = std::function<void(const std::string& name)>;

  explicit FileWatcher(event::Dispatcher& dispatcher);
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  // False (with errno set) when the directory cannot be watched.
  bool addDirectory(const std::string& directory, bool include_writes, Callback cb);

 private:
  void onReadable();

  int fd_ = -1;
  event::FileEventPtr file_event_;
  std::map<int, Callback> callbacks_;  // by inotify watch descriptor
};

}  // namespace remora
