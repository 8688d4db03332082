#include "pilot/dir_source.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "pilot/manifest_parser.h"

namespace remora::pilot {
namespace fs = std::filesystem;

DirSource::DirSource(fs::path dir, int poll_ms) : dir_(std::move(dir)), poll_ms_(poll_ms) {}

DirSource::~DirSource() { stop(); }

void DirSource::start(Callback on_change) {
  on_change_ = std::move(on_change);
  SourceSnapshot initial;
  scan(initial);
  on_change_(std::move(initial));
  thread_ = std::thread([this] { run(); });
}

void DirSource::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DirSource::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(poll_ms_), [this] { return stopping_; })) {
    lock.unlock();
    SourceSnapshot snapshot;
    if (scan(snapshot)) on_change_(std::move(snapshot));
    lock.lock();
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
      present.push_back(fs::relative(it->path(), dir_, ec).string());
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
  for (const auto& rel : present) {
    std::ifstream in(dir_ / rel, std::ios::binary);
    if (!in) continue;  // vanished between listing and reading: the next scan sees it
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string content = buffer.str();
    auto [it, inserted] = files_.try_emplace(rel);
    FileState& file = it->second;
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
