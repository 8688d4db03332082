#pragma once

// ConfigSource over a directory of manifests (`--config-dir`): every *.yaml, *.yml and *.json file
// below it, multi-document, polled for changes every 200 ms (an edit is served within a second).
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
  };
  void run();
  SourceSnapshot merge(std::set<ObjectKey> changed) const;

  std::filesystem::path dir_;
  int poll_ms_;
  std::map<std::string, FileState> files_;  // by path relative to dir_
  uint64_t next_seq_ = 0;
  Callback on_change_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace remora::pilot
