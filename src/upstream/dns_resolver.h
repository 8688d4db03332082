#pragma once

#include <ares.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "event/dispatcher.h"
#include "net/address.h"

namespace remora::upstream {

// Envoy's dns_lookup_family. V4_ONLY / V6_ONLY ask for one family; AUTO asks for IPv6 and falls
// back to IPv4 when there is none; V4_PREFERRED the reverse; ALL asks for both.
enum class DnsLookupFamily { Auto, V4Only, V6Only, V4Preferred, All };

struct DnsResolverOptions {
  // typed_dns_resolver_config (CaresDnsResolverConfig.resolvers); empty: the system's
  // (/etc/resolv.conf).
  std::vector<net::Address> resolvers;
  bool use_tcp = false;                   // dns_resolver_options.use_tcp_for_dns_lookups
  bool no_default_search_domain = false;  // dns_resolver_options.no_default_search_domain
};

// One resolved address and how long the answer may be cached.
struct DnsAnswer {
  net::Address address;
  std::chrono::seconds ttl;
};

// An asynchronous c-ares channel on one dispatcher: c-ares' sockets are file events on the loop
// and its retransmission timeouts one timer, so resolving never blocks the thread. Destroying
// the resolver cancels every pending query (their callbacks are not called).
class DnsResolver {
 public:
  enum class Status { Success, Failure };
  // `answers` is empty when the name has no address of the asked family (NXDOMAIN, NODATA):
  // that is a success, as Envoy.
  using ResolveCb = std::function<void(Status status, std::vector<DnsAnswer> answers)>;

  DnsResolver(event::Dispatcher& dispatcher, const DnsResolverOptions& options);
  ~DnsResolver();
  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

  void resolve(const std::string& name, DnsLookupFamily family, ResolveCb cb);

 private:
  struct Query;
  static void onSocketState(void* arg, ares_socket_t fd, int readable, int writable);
  static void onAddrInfo(void* arg, int status, int timeouts, struct ares_addrinfo* result);
  void startQuery(Query* query, int family);
  void processFd(ares_socket_t fd, uint32_t events);
  void updateTimer();

  event::Dispatcher& dispatcher_;
  ares_channel channel_ = nullptr;
  std::map<ares_socket_t, event::FileEventPtr> sockets_;
  event::TimerPtr timer_;
  bool destroying_ = false;
};

}  // namespace remora::upstream
