#include "pilot/dir_source.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include "pilot/manifest_parser.h"

namespace remora::pilot {
namespace fs = std::filesystem;

namespace {

// A file modified this recently is read on every scan whatever its stat says.
constexpr int64_t kRecentNs = 2'000'000'000;

int64_t nowRealtimeNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

DirSource::DirSource(fs::path dir, int poll_ms) : dir_(std::move(dir)), poll_ms_(poll_ms) {}

DirSource::~DirSource() {
  stop();
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void DirSource::start(Callback on_change) {
  on_change_ = std::move(on_change);
  SourceSnapshot initial;
  scan(initial);
  on_change_(std::move(initial));
  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  thread_ = std::thread([this] { run(); });
}

void DirSource::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
}

void DirSource::run() {
  for (;;) {
    watchDirectories();
    waitForChange();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    SourceSnapshot snapshot;
    if (scan(snapshot)) on_change_(std::move(snapshot));
  }
}

void DirSource::watchDirectories() {
  if (inotify_fd_ < 0) return;
  // Adding a watch that exists is a no-op; new subdirectories get theirs here.
  constexpr uint32_t kEvents =
      IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_DELETE_SELF;
  inotify_add_watch(inotify_fd_, dir_.c_str(), kEvents);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir_, ec); !ec && it != fs::end(it);
       it.increment(ec))
    if (it->is_directory(ec)) inotify_add_watch(inotify_fd_, it->path().c_str(), kEvents);
}

void DirSource::waitForChange() {
  if (inotify_fd_ < 0 || wake_fd_ < 0) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(poll_ms_), [this] { return stopping_; });
    return;
  }
  pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  if (::poll(fds, 2, poll_ms_) <= 0 || !(fds[0].revents & POLLIN)) return;
  // Drain the events: which file changed does not matter, the scan finds it.
  alignas(inotify_event) char buffer[8192];
  while (::read(inotify_fd_, buffer, sizeof buffer) > 0) {
  }
}

bool DirSource::scan(SourceSnapshot& out) {
  std::vector<std::string> present;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir_, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const auto ext = it->path().extension().string();
    const auto name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;  // editors' swap and temporary files
    if (ext == ".yaml" || ext == ".yml" || ext == ".json")
      present.push_back(it->path().lexically_relative(dir_).string());
  }
  std::sort(present.begin(), present.end());

  std::set<ObjectKey> changed;
  bool any = false;
  for (auto it = files_.begin(); it != files_.end();) {
    if (std::binary_search(present.begin(), present.end(), it->first)) {
      ++it;
      continue;
    }
    for (const auto& o : it->second.objects) changed.insert(o.key);
    it = files_.erase(it);
    any = true;
  }
  const int64_t now_ns = nowRealtimeNs();
  for (const auto& rel : present) {
    struct stat st {};
    if (::stat((dir_ / rel).c_str(), &st) != 0) continue;  // vanished: the next scan sees it
    const int64_t mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
    if (auto known = files_.find(rel); known != files_.end()) {
      const FileState& f = known->second;
      if (f.inode == st.st_ino && f.size == static_cast<uint64_t>(st.st_size) &&
          f.mtime_ns == mtime_ns && now_ns - mtime_ns > kRecentNs)
        continue;
    }
    std::ifstream in(dir_ / rel, std::ios::binary);
    if (!in) continue;  // vanished between listing and reading: the next scan sees it
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string content = buffer.str();
    auto [it, inserted] = files_.try_emplace(rel);
    FileState& file = it->second;
    file.inode = st.st_ino;
    file.size = static_cast<uint64_t>(st.st_size);
    file.mtime_ns = mtime_ns;
    if (inserted)
      file.seq = next_seq_++;
    else if (file.content == content)
      continue;
    any = true;
    file.content = std::move(content);
    file.errors.clear();
    std::vector<Object> objects;
    for (auto& doc : parseManifests(file.content)) {
      if (doc.error)
        file.errors.push_back("document " + std::to_string(doc.index) + ": " + *doc.error);
      else
        objects.push_back(std::move(*doc.object));
    }
    if (!file.errors.empty()) continue;  // keep serving the file's last good objects
    for (const auto& o : file.objects) changed.insert(o.key);
    for (const auto& o : objects) changed.insert(o.key);
    file.objects = std::move(objects);
  }
  if (!any) return false;
  out = merge(std::move(changed));
  return true;
}

SourceSnapshot DirSource::merge(std::set<ObjectKey> changed) const {
  SourceSnapshot out;
  out.changed = std::move(changed);
  std::vector<const std::pair<const std::string, FileState>*> order;
  for (const auto& entry : files_) order.push_back(&entry);
  std::sort(order.begin(), order.end(),
            [](const auto* a, const auto* b) { return a->second.seq < b->second.seq; });
  std::map<ObjectKey, std::string> owner;
  for (const auto* entry : order) {
    const std::string& file = entry->first;
    for (const auto& error : entry->second.errors) out.errors.push_back({file, error});
    for (const auto& object : entry->second.objects) {
      auto [it, inserted] = owner.try_emplace(object.key, file);
      if (!inserted) {
        out.errors.push_back({file, object.key.str() + " is already defined in " + it->second +
                                        " (keeping that one; also defined in " + file + ")"});
        continue;
      }
      out.objects.emplace(object.key, object);
    }
  }
  return out;
}

}  // namespace remora::pilot
