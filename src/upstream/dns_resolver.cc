#include "upstream/dns_resolver.h"

#include <netinet/in.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <mutex>

#include "common/assert.h"
#include "common/logger.h"

namespace remora::upstream {

struct DnsResolver::Query {
  DnsResolver* resolver;
  std::string name;
  DnsLookupFamily family;
  ResolveCb cb;
  // AUTO and V4_PREFERRED ask the other family when the first gives nothing.
  bool fallback_done = false;
};

DnsResolver::DnsResolver(event::Dispatcher& dispatcher, const DnsResolverOptions& options)
    : dispatcher_(dispatcher), timer_(dispatcher.createTimer([this] {
        ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
        updateTimer();
      })) {
  static std::once_flag library_init;
  std::call_once(library_init, [] { ares_library_init(ARES_LIB_INIT_ALL); });
  ares_options ares_opts{};
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_FLAGS;
  ares_opts.sock_state_cb = &DnsResolver::onSocketState;
  ares_opts.sock_state_cb_data = this;
  if (options.use_tcp) ares_opts.flags |= ARES_FLAG_USEVC;
  if (options.no_default_search_domain) ares_opts.flags |= ARES_FLAG_NOSEARCH;
  const int rc = ares_init_options(&channel_, &ares_opts, mask);
  RELEASE_ASSERT(rc == ARES_SUCCESS, "c-ares channel initialisation failed");
  if (!options.resolvers.empty()) {
    std::string csv;
    for (const auto& address : options.resolvers) {
      if (!csv.empty()) csv += ",";
      csv += address.asString();  // "ip:port" or "[ip6]:port", the form c-ares reads
    }
    const int set = ares_set_servers_ports_csv(channel_, csv.c_str());
    if (set != ARES_SUCCESS) LOG_WARN("dns: cannot use resolvers {}: {}", csv, ares_strerror(set));
  }
}

DnsResolver::~DnsResolver() {
  destroying_ = true;
  // Pending queries complete with ARES_EDESTRUCTION and free themselves without calling back.
  ares_destroy(channel_);
  sockets_.clear();
}

void DnsResolver::resolve(const std::string& name, DnsLookupFamily family, ResolveCb cb) {
  auto* query = new Query{this, name, family, std::move(cb)};
  int first = AF_UNSPEC;
  switch (family) {
    case DnsLookupFamily::V4Only:
    case DnsLookupFamily::V4Preferred:
      first = AF_INET;
      break;
    case DnsLookupFamily::V6Only:
    case DnsLookupFamily::Auto:
      first = AF_INET6;
      break;
    case DnsLookupFamily::All:
      first = AF_UNSPEC;
      break;
  }
  startQuery(query, first);
}

void DnsResolver::startQuery(Query* query, int family) {
  ares_addrinfo_hints hints{};
  hints.ai_family = family;
  // c-ares sorts answers by RFC 6724 against local routes unless told not to; keep the order
  // the server gave, as Envoy does.
  hints.ai_flags = ARES_AI_NOSORT;
  ares_getaddrinfo(channel_, query->name.c_str(), nullptr, &hints, &DnsResolver::onAddrInfo, query);
  updateTimer();
}

void DnsResolver::onAddrInfo(void* arg, int status, int, struct ares_addrinfo* result) {
  std::unique_ptr<Query> query(static_cast<Query*>(arg));
  std::vector<DnsAnswer> answers;
  if (status == ARES_SUCCESS && result != nullptr) {
    for (auto* node = result->nodes; node != nullptr; node = node->ai_next) {
      if (node->ai_family != AF_INET && node->ai_family != AF_INET6) continue;
      answers.push_back({net::Address::fromSockaddr(node->ai_addr, node->ai_addrlen),
                         std::chrono::seconds(std::max(0, node->ai_ttl))});
    }
  }
  if (result != nullptr) ares_freeaddrinfo(result);
  if (status == ARES_EDESTRUCTION || query->resolver->destroying_) return;
  const bool no_records = status == ARES_ENODATA || status == ARES_ENOTFOUND;
  const bool ok = status == ARES_SUCCESS || no_records;
  DnsResolver* resolver = query->resolver;
  if (answers.empty() && !query->fallback_done &&
      (query->family == DnsLookupFamily::Auto || query->family == DnsLookupFamily::V4Preferred)) {
    query->fallback_done = true;
    const int other = query->family == DnsLookupFamily::Auto ? AF_INET : AF_INET6;
    resolver->startQuery(query.release(), other);
    return;
  }
  if (!ok) {
    LOG_DEBUG("dns: resolving {} failed: {}", query->name, ares_strerror(status));
  }
  query->cb(ok ? Status::Success : Status::Failure, std::move(answers));
}

void DnsResolver::onSocketState(void* arg, ares_socket_t fd, int readable, int writable) {
  auto* self = static_cast<DnsResolver*>(arg);
  self->sockets_.erase(fd);
  if (self->destroying_ || (!readable && !writable)) return;
  const uint32_t events =
      (readable ? event::FileReadyType::Read : 0u) | (writable ? event::FileReadyType::Write : 0u);
  self->sockets_[fd] = self->dispatcher_.createFileEvent(
      fd, [self, fd](uint32_t ready) { self->processFd(fd, ready); }, events);
}

void DnsResolver::processFd(ares_socket_t fd, uint32_t events) {
  const bool write = (events & event::FileReadyType::Write) != 0;
  const bool read = (events & (event::FileReadyType::Read | event::FileReadyType::Closed)) != 0;
  ares_process_fd(channel_, read ? fd : ARES_SOCKET_BAD, write ? fd : ARES_SOCKET_BAD);
  // The loop is edge-triggered and c-ares reads a TCP answer in two steps (length, then body):
  // keep feeding it while the socket is still its own and bytes wait.
  for (int i = 0; read && i < 64 && sockets_.contains(fd); ++i) {
    int pending = 0;
    if (ioctl(fd, FIONREAD, &pending) != 0 || pending <= 0) break;
    ares_process_fd(channel_, fd, ARES_SOCKET_BAD);
  }
  updateTimer();
}

void DnsResolver::updateTimer() {
  timeval tv{};
  if (ares_timeout(channel_, nullptr, &tv) == nullptr) {
    timer_->disableTimer();
    return;
  }
  timer_->enableTimer(std::chrono::milliseconds(tv.tv_sec * 1000 + tv.tv_usec / 1000 + 1));
}

}  // namespace remora::upstream
