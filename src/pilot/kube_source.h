#pragma once

// ConfigSource over a Kubernetes API server (`--kubeconfig` / `--kube-api-server`), as client-go's
// reflector does it: per resource, LIST in pages (`limit` + `continue`), then WATCH from the
// list's resourceVersion with bookmarks, applying ADDED/MODIFIED/DELETED and advancing the
// resourceVersion on every event and BOOKMARK. A watch that ends is reopened from the last
// resourceVersion; `410 Gone` (HTTP status or an ERROR event with code 410) relists and diffs
// against what is held. Connection errors back off (jittered, 200 ms up to 5 s) while the last
// state stays served. One thread per resource; a delivery thread coalesces bursts (50 ms).
//
// Istio's groups are discovered (GET /apis/<group>) and watched in their preferred version; a group
// the server does not serve is skipped.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "pilot/config_source.h"
#include "pilot/http_client.h"
#include "pilot/kube_config.h"
#include "pilot/kube_store.h"

namespace remora::pilot {

struct KubeSourceOptions {
  std::chrono::milliseconds coalesce{50};
  // start() waits this long for every resource's first list, then serves what it has.
  std::chrono::milliseconds initial_sync_timeout{10000};
  // The server ends each watch after this, plus up to as much again at random so that the
  // watches of one pilot (and of many) do not all reopen together (client-go: 5-10 min).
  int watch_timeout_seconds = 300;
  int page_size = 500;
  std::chrono::milliseconds backoff_base{200};
  std::chrono::milliseconds backoff_max{5000};
};

class KubeSource : public ConfigSource {
 public:
  explicit KubeSource(KubeApiTarget target, KubeSourceOptions options = {});
  ~KubeSource() override;

  void start(Callback on_change) override;
  void stop() override;

  // Every resource watched: the Kubernetes kinds, then Istio's (version "" until discovered).
  static std::vector<KubeResource> resources();

 private:
  enum class WatchEnd { Ended, Gone, Failed };
  void runResource(KubeResource resource);
  bool discoverVersion(KubeResource& resource);
  Status listAll(const KubeResource& resource, std::vector<YAML::Node>& items, std::string& rv);
  WatchEnd watch(const KubeResource& resource, std::string& rv, bool& got_events);
  StatusOr<std::unique_ptr<HttpResponseStream>> get(const std::string& target,
                                                    std::chrono::milliseconds timeout);
  void markSynced();
  void sleepFor(std::chrono::milliseconds duration);
  void deliverLoop();

  const KubeApiTarget target_;
  const KubeSourceOptions options_;
  Callback on_change_;
  std::mutex mu_;
  std::condition_variable cv_;  // store changes, first lists, stop
  KubeStore store_;
  size_t synced_ = 0;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> watchers_;
  std::thread deliverer_;
};

}  // namespace remora::pilot
