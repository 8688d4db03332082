#include "pilot/kube_source.h"

#include <spdlog/spdlog.h>

#include "common/backoff.h"
#include "common/random.h"

namespace remora::pilot {
namespace {

constexpr size_t kMaxListBytes = 512u << 20;  // one page of a list
constexpr size_t kMaxEventBytes = 64u << 20;  // one watch event line
constexpr size_t kMaxErrorBodyBytes = 64u << 10;
const std::chrono::milliseconds kRequestTimeout{30000};

// Query parameter values (continue tokens are base64, resourceVersions opaque).
std::string percentEncode(const std::string& value) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

StatusOr<YAML::Node> parseJson(const std::string& text) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Status::error(std::string("malformed JSON: ") + e.what());
  }
}

std::string scalar(const YAML::Node& map, const char* key) {
  if (!map.IsMap()) return "";
  const YAML::Node& m = map;
  const YAML::Node v = m[key];
  return v.IsDefined() && v.IsScalar() ? v.Scalar() : "";
}

// The `message` of a Kubernetes Status body, or the body itself, for logs.
std::string statusMessage(const std::string& body) {
  auto node = parseJson(body);
  if (node.ok()) {
    std::string message = scalar(*node, "message");
    if (!message.empty()) return message;
  }
  return body.substr(0, 200);
}

}  // namespace

KubeSource::KubeSource(KubeApiTarget target, KubeSourceOptions options)
    : target_(std::move(target)), options_(options) {}

KubeSource::~KubeSource() { stop(); }

std::vector<KubeResource> KubeSource::resources() {
  return {
      {"", "v1", "services", "Service"},
      {"", "v1", "endpoints", "Endpoints"},
      {"", "v1", "pods", "Pod"},
      {"", "v1", "serviceaccounts", "ServiceAccount"},
      {"apps", "v1", "deployments", "Deployment"},
      {"apps", "v1", "statefulsets", "StatefulSet"},
      {"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"},
      {"networking.istio.io", "", "virtualservices", "VirtualService"},
      {"networking.istio.io", "", "destinationrules", "DestinationRule"},
      {"networking.istio.io", "", "serviceentries", "ServiceEntry"},
      {"networking.istio.io", "", "gateways", "Gateway"},
      {"networking.istio.io", "", "sidecars", "Sidecar"},
      {"security.istio.io", "", "authorizationpolicies", "AuthorizationPolicy"},
      {"security.istio.io", "", "peerauthentications", "PeerAuthentication"},
      {"security.istio.io", "", "requestauthentications", "RequestAuthentication"},
  };
}

void KubeSource::start(Callback on_change) {
  on_change_ = std::move(on_change);
  const auto all = resources();
  spdlog::info("kubernetes: watching {} resources at {}", all.size(), target_.server);
  for (const auto& resource : all)
    watchers_.emplace_back([this, resource] { runResource(resource); });
  SourceSnapshot initial;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, options_.initial_sync_timeout,
                      [&] { return stopping_ || synced_ == all.size(); }))
      spdlog::warn(
          "kubernetes: {} of {} resources listed within {} ms; serving those, the rest "
          "follow as they are listed",
          synced_, all.size(), options_.initial_sync_timeout.count());
    initial = store_.take();
  }
  on_change_(std::move(initial));
  deliverer_ = std::thread([this] { deliverLoop(); });
}

void KubeSource::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : watchers_)
    if (t.joinable()) t.join();
  if (deliverer_.joinable()) deliverer_.join();
}

void KubeSource::deliverLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || store_.dirty(); });
    if (stopping_) return;
    // A burst of events (a relist, a rollout) becomes one snapshot.
    cv_.wait_for(lock, options_.coalesce, [this] { return stopping_.load(); });
    if (stopping_) return;
    SourceSnapshot snapshot = store_.take();
    lock.unlock();
    on_change_(std::move(snapshot));
    lock.lock();
  }
}

void KubeSource::markSynced() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++synced_;
  }
  cv_.notify_all();
}

void KubeSource::sleepFor(std::chrono::milliseconds duration) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, duration, [this] { return stopping_.load(); });
}

StatusOr<std::unique_ptr<HttpResponseStream>> KubeSource::get(const std::string& target,
                                                              std::chrono::milliseconds timeout) {
  HttpResponseStream::Headers headers;
  auto token = target_.bearerToken();
  if (!token.ok()) return token.status();
  if (!token->empty()) headers.emplace_back("Authorization", "Bearer " + *token);
  return HttpResponseStream::get(target_.url, target, headers, stopping_, timeout,
                                 target_.tls.get());
}

void KubeSource::runResource(KubeResource resource) {
  JitteredBackOff backoff(options_.backoff_base, options_.backoff_max);
  if (resource.version.empty() && !discoverVersion(resource)) return;
  bool listed = false;
  bool need_list = true;
  std::string rv;
  while (!stopping_) {
    if (need_list) {
      std::vector<YAML::Node> items;
      Status status = listAll(resource, items, rv);
      if (!status.ok()) {
        if (!stopping_) spdlog::warn("kubernetes: list {}: {}", resource.path(), status.message());
        sleepFor(backoff.next());
        continue;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        store_.replace(resource, items);
      }
      cv_.notify_all();
      spdlog::info("kubernetes: listed {} {} at resourceVersion {}", items.size(), resource.plural,
                   rv);
      if (!listed) markSynced();
      listed = true;
      need_list = false;
    }
    const auto opened = std::chrono::steady_clock::now();
    bool got_events = false;
    const WatchEnd end = watch(resource, rv, got_events);
    // A watch that ends at once with nothing in it, again and again, must not spin.
    const bool fruitless =
        !got_events && std::chrono::steady_clock::now() - opened < std::chrono::seconds(1);
    if (end == WatchEnd::Gone) {
      spdlog::info("kubernetes: watch {} from resourceVersion {}: 410 Gone, relisting",
                   resource.plural, rv);
      need_list = true;
    }
    // A watch the server ended (timeoutSeconds) reopens at once from the last version; failures
    // and watches that keep ending at once back off.
    if (end == WatchEnd::Failed || fruitless)
      sleepFor(backoff.next());
    else
      backoff.reset();
  }
}

bool KubeSource::discoverVersion(KubeResource& resource) {
  JitteredBackOff backoff(options_.backoff_base, options_.backoff_max);
  const std::string target = "/apis/" + resource.group;
  while (!stopping_) {
    auto stream = get(target, kRequestTimeout);
    Status error;
    if (stream.ok() && (*stream)->status() == 404) {
      spdlog::info("kubernetes: the API server does not serve {}; its {} are not watched",
                   resource.group, resource.plural);
      markSynced();
      return false;
    }
    if (stream.ok()) {
      auto body = (*stream)->readAll(kMaxErrorBodyBytes);
      if (!body.ok()) {
        error = body.status();
      } else if ((*stream)->status() != 200) {
        error = Status::error("HTTP " + std::to_string((*stream)->status()) + ": " +
                              statusMessage(*body));
      } else {
        auto group = parseJson(*body);
        const YAML::Node preferred =
            group.ok() && group->IsMap()
                ? static_cast<const YAML::Node&>(*group)["preferredVersion"]
                : YAML::Node();
        resource.version = preferred.IsDefined() ? scalar(preferred, "version") : "";
        if (!resource.version.empty()) return true;
        error = Status::error("no preferredVersion.version in the APIGroup");
      }
    } else {
      error = stream.status();
    }
    if (!stopping_) spdlog::warn("kubernetes: GET {}: {}", target, error.message());
    sleepFor(backoff.next());
  }
  return false;
}

Status KubeSource::listAll(const KubeResource& resource, std::vector<YAML::Node>& items,
                           std::string& rv) {
  std::string next;
  for (int restarts = 0;;) {
    std::string target = resource.path() + "?limit=" + std::to_string(options_.page_size);
    if (!next.empty()) target += "&continue=" + percentEncode(next);
    auto stream = get(target, kRequestTimeout);
    if (!stream.ok()) return stream.status();
    const int status = (*stream)->status();
    if (status == 410 && !next.empty() && ++restarts <= 3) {
      // The continue token expired (the list's resourceVersion was compacted): start over.
      spdlog::info("kubernetes: list {}: continue token expired, listing again", resource.plural);
      items.clear();
      next.clear();
      continue;
    }
    auto body = (*stream)->readAll(status == 200 ? kMaxListBytes : kMaxErrorBodyBytes);
    if (!body.ok()) return body.status();
    if (status != 200)
      return Status::error("HTTP " + std::to_string(status) + ": " + statusMessage(*body));
    auto list = parseJson(*body);
    if (!list.ok()) return list.status();
    if (!list->IsMap()) return Status::error("expected a List object");
    const YAML::Node& map = *list;
    const YAML::Node page = map["items"];
    if (page.IsDefined() && !page.IsNull()) {
      if (!page.IsSequence()) return Status::error("items: expected a list");
      for (const auto& item : page) items.push_back(item);
    }
    const YAML::Node metadata = map["metadata"];
    rv = resourceVersionOf(*list);
    next = metadata.IsDefined() ? scalar(metadata, "continue") : "";
    if (next.empty()) {
      if (rv.empty()) return Status::error("metadata.resourceVersion: missing in the List");
      return Status();
    }
  }
}

KubeSource::WatchEnd KubeSource::watch(const KubeResource& resource, std::string& rv,
                                       bool& got_events) {
  const uint64_t base = static_cast<uint64_t>(std::max(1, options_.watch_timeout_seconds));
  const uint64_t timeout_seconds = base + randomU64() % base;
  const std::string target =
      resource.path() + "?watch=true&resourceVersion=" + percentEncode(rv) +
      "&allowWatchBookmarks=true&timeoutSeconds=" + std::to_string(timeout_seconds);
  // A silent connection is dead once the server's own timeout has long passed.
  const auto idle = std::chrono::seconds(timeout_seconds + 30);
  auto stream = get(target, idle);
  if (!stream.ok()) {
    if (!stopping_)
      spdlog::warn("kubernetes: watch {}: {}", resource.plural, stream.status().message());
    return WatchEnd::Failed;
  }
  const int status = (*stream)->status();
  if (status == 410) return WatchEnd::Gone;
  if (status != 200) {
    auto body = (*stream)->readAll(kMaxErrorBodyBytes);
    spdlog::warn("kubernetes: watch {}: HTTP {}: {}", resource.plural, status,
                 body.ok() ? statusMessage(*body) : body.status().message());
    return WatchEnd::Failed;
  }
  std::string buffer;
  while (true) {
    auto more = (*stream)->read(buffer);
    if (!more.ok()) {
      if (stopping_) return WatchEnd::Ended;
      spdlog::warn("kubernetes: watch {}: {}", resource.plural, more.status().message());
      return WatchEnd::Failed;
    }
    size_t start = 0, eol;
    while ((eol = buffer.find('\n', start)) != std::string::npos) {
      std::string line = buffer.substr(start, eol - start);
      start = eol + 1;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      auto event = parseJson(line);
      if (!event.ok() || !event->IsMap()) {
        spdlog::warn("kubernetes: watch {}: malformed event, reopening the watch", resource.plural);
        return WatchEnd::Failed;
      }
      const YAML::Node& map = *event;
      const std::string type = scalar(*event, "type");
      const YAML::Node object = map["object"];
      if (type == "ERROR") {
        // A Status object: 410 means our resourceVersion is too old (history compacted).
        if (object.IsDefined() && scalar(object, "code") == "410") return WatchEnd::Gone;
        spdlog::warn("kubernetes: watch {}: error event: {}", resource.plural,
                     object.IsDefined() ? scalar(object, "message") : "");
        return WatchEnd::Failed;
      }
      if (!object.IsDefined() || !object.IsMap()) {
        spdlog::warn("kubernetes: watch {}: {} event without an object", resource.plural, type);
        continue;
      }
      const std::string event_rv = resourceVersionOf(object);
      if (type == "ADDED" || type == "MODIFIED" || type == "DELETED") {
        {
          std::lock_guard<std::mutex> lock(mu_);
          store_.apply(resource, type, object);
        }
        cv_.notify_all();
        got_events = true;
      } else if (type != "BOOKMARK") {
        spdlog::warn("kubernetes: watch {}: unknown event type '{}'", resource.plural, type);
        continue;
      }
      if (!event_rv.empty()) rv = event_rv;
    }
    buffer.erase(0, start);
    if (buffer.size() > kMaxEventBytes) {
      spdlog::warn("kubernetes: watch {}: event larger than {} bytes", resource.plural,
                   kMaxEventBytes);
      return WatchEnd::Failed;
    }
    if (!*more) return WatchEnd::Ended;
  }
}

}  // namespace remora::pilot
