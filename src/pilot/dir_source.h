#pragma once

// ConfigSource over a directory of manifests (`--config-dir`): every *.yaml, *.yml and *.json file
// below it, multi-document. Changes are noticed through inotify at once, and by a scan every
// 200 ms besides (a filesystem without inotify events, a missed event). A scan re-reads only
// files whose inode, size or mtime changed, or that changed in the last two seconds (an mtime
// tick can hide a quick second write).
// A malformed file is reported with its document index and field path and leaves that file's
// previously accepted objects in place; a kind/namespace/name defined by two files is an error
// naming both, and the file loaded first keeps it.

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "pilot/config_source.h"

namespace remora::pilot {

class DirSource : public ConfigSource {
 public:
  explicit DirSource(std::filesystem::path dir, int poll_ms = 200);
  ~DirSource() override;

  void start(Callback on_change) override;
  void stop() override;

  // One scan: re-reads changed files; true (and fills `out`) when anything changed. Public so
  // tests can drive the source without its thread.
  bool scan(SourceSnapshot& out);

 private:
  struct FileState {
    uint64_t seq = 0;             // load order: the earlier file wins a duplicate key
    std::string content;          // the last content read
    std::vector<Object> objects;  // the last content that parsed cleanly
    std::vector<std::string> errors;
    // What the file looked like when last read: an unchanged file is not read again.
    uint64_t inode = 0, size = 0;
    int64_t mtime_ns = 0;
  };
  void run();
  // Blocks until a filesystem event under dir_, the poll interval, or stop().
  void waitForChange();
  void watchDirectories();
  SourceSnapshot merge(std::set<ObjectKey> changed) const;

  std::filesystem::path dir_;
  int poll_ms_;
  std::map<std::string, FileState> files_;  // by path relative to dir_
  uint64_t next_seq_ = 0;
  Callback on_change_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  int inotify_fd_ = -1, wake_fd_ = -1;  // wake_fd_ (an eventfd) interrupts the wait on stop()
  std::thread thread_;
};

}  // namespace remora::pilot
