#include "server/filter_chain_matcher.h"

#include <algorithm>
#include <functional>

#include "common/assert.h"

namespace remora::server {

namespace {

using Candidates = std::vector<int>;

// Score of a chain for one criterion: -1 no match, 0 unset (wildcard), >0 specific (higher wins).
using Scorer = std::function<int(const FilterChainMatchSpec&)>;

bool narrow(const std::vector<FilterChainMatchSpec>& chains, Candidates& candidates,
            const Scorer& score) {
  int best = -1;
  for (int i : candidates) best = std::max(best, score(chains[i]));
  if (best < 0) {
    candidates.clear();
    return false;
  }
  Candidates next;
  for (int i : candidates) {
    if (score(chains[i]) == best) next.push_back(i);
  }
  candidates.swap(next);
  return true;
}

int cidrScore(const std::vector<FilterChainMatchSpec::Cidr>& ranges, const net::Address& address) {
  if (ranges.empty()) return 0;
  int best = -1;
  for (const auto& r : ranges) {
    // +1 so that a /0 range still beats an unset criterion.
    if (address.inCidr(r.prefix, r.length)) best = std::max(best, static_cast<int>(r.length) + 1);
  }
  return best;
}

int serverNameScore(const std::vector<std::string>& names, const std::string& sni) {
  if (names.empty()) return 0;
  if (sni.empty()) return -1;
  int best = -1;
  for (const auto& n : names) {
    if (n == sni) return 1000;  // exact beats every wildcard
    if (n.size() > 1 && n[0] == '*' && n[1] == '.') {
      std::string_view suffix(n.data() + 1, n.size() - 1);  // ".example.com"
      if (sni.size() > suffix.size() && sni.ends_with(suffix)) {
        best = std::max(best, static_cast<int>(suffix.size()));
      }
    }
  }
  return best;
}

bool isLoopbackOrSame(const net::ConnectionInfo& info) {
  const std::string ip = info.remote_address.ip();
  if (ip.rfind("127.", 0) == 0 || ip == "::1") return true;
  return info.remote_address.ip() == info.local_address.ip();
}

}  // namespace

FilterChainMatchSpec FilterChainMatchSpec::fromProto(
    const envoy::config::listener::v3::FilterChainMatch& proto) {
  FilterChainMatchSpec spec;
  auto cidrs = [](const auto& repeated) {
    std::vector<Cidr> out;
    for (const auto& r : repeated) {
      auto address = net::Address::parse(r.address_prefix(), 0);
      RELEASE_ASSERT(address.ok(), "CIDR validated at load");
      out.push_back({*address, r.has_prefix_len() ? r.prefix_len().value()
                                                  : (address->family() == AF_INET ? 32u : 128u)});
    }
    return out;
  };
  if (proto.has_destination_port()) spec.destination_port = proto.destination_port().value();
  spec.prefix_ranges = cidrs(proto.prefix_ranges());
  spec.server_names.assign(proto.server_names().begin(), proto.server_names().end());
  spec.transport_protocol = proto.transport_protocol();
  spec.application_protocols.assign(proto.application_protocols().begin(),
                                    proto.application_protocols().end());
  using Proto = envoy::config::listener::v3::FilterChainMatch;
  spec.source_type = proto.source_type() == Proto::SAME_IP_OR_LOOPBACK
                         ? SourceType::SameIpOrLoopback
                     : proto.source_type() == Proto::EXTERNAL ? SourceType::External
                                                              : SourceType::Any;
  spec.source_prefix_ranges = cidrs(proto.source_prefix_ranges());
  spec.source_ports.assign(proto.source_ports().begin(), proto.source_ports().end());
  return spec;
}

int selectFilterChain(const std::vector<FilterChainMatchSpec>& chains,
                      const net::ConnectionInfo& info) {
  Candidates candidates;
  for (int i = 0; i < static_cast<int>(chains.size()); ++i) candidates.push_back(i);
  const uint32_t dport = info.local_address.port();
  const uint32_t sport = info.remote_address.port();
  const Scorer steps[] = {
      [&](const auto& c) {
        return c.destination_port == 0 ? 0 : (c.destination_port == dport ? 1 : -1);
      },
      [&](const auto& c) { return cidrScore(c.prefix_ranges, info.local_address); },
      [&](const auto& c) { return serverNameScore(c.server_names, info.requested_server_name); },
      [&](const auto& c) {
        return c.transport_protocol.empty()
                   ? 0
                   : (c.transport_protocol == info.transport_protocol ? 1 : -1);
      },
      [&](const auto& c) {
        // As Envoy: the connection's protocols are tried in its (the client's ALPN) order, so a
        // chain for an earlier one wins over a chain for a later one.
        if (c.application_protocols.empty()) return 0;
        const auto& offered = info.application_protocols;
        for (size_t i = 0; i < offered.size(); ++i) {
          if (std::find(c.application_protocols.begin(), c.application_protocols.end(),
                        offered[i]) != c.application_protocols.end()) {
            return static_cast<int>(offered.size() - i);
          }
        }
        return -1;
      },
      [&](const auto& c) {
        if (c.source_type == FilterChainMatchSpec::SourceType::Any) return 0;
        bool local = isLoopbackOrSame(info);
        bool want_local = c.source_type == FilterChainMatchSpec::SourceType::SameIpOrLoopback;
        return local == want_local ? 1 : -1;
      },
      [&](const auto& c) { return cidrScore(c.source_prefix_ranges, info.remote_address); },
      [&](const auto& c) {
        if (c.source_ports.empty()) return 0;
        return std::find(c.source_ports.begin(), c.source_ports.end(), sport) !=
                       c.source_ports.end()
                   ? 1
                   : -1;
      },
  };
  for (const auto& step : steps) {
    if (!narrow(chains, candidates, step)) return -1;
  }
  return candidates.empty() ? -1 : candidates.front();
}

}  // namespace remora::server
