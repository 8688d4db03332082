#pragma once

#include <string>
#include <vector>

#include "envoy/config/listener/v3/listener_components.pb.h"
#include "net/connection.h"

namespace remora::server {

// A filter_chain_match in runtime form.
struct FilterChainMatchSpec {
  struct Cidr {
    net::Address prefix;
    uint32_t length;
  };
  enum class SourceType { Any, SameIpOrLoopback, External };

  uint32_t destination_port = 0;  // 0: any
  std::vector<Cidr> prefix_ranges;
  std::vector<std::string> server_names;
  std::string transport_protocol;
  std::vector<std::string> application_protocols;
  SourceType source_type = SourceType::Any;
  std::vector<Cidr> source_prefix_ranges;
  std::vector<uint32_t> source_ports;

  static FilterChainMatchSpec fromProto(const envoy::config::listener::v3::FilterChainMatch& proto);
};

// Envoy's selection order: destination port, destination IP (longest prefix), server name (exact,
// then longest wildcard), transport protocol, application protocols (the connection's first
// offered protocol that some chain names), source type, source IP
// (longest prefix), source port. At each step the most specific matching chains survive; chains
// that leave the criterion unset survive only when no specific chain matched. No backtracking, as
// in Envoy. Returns the index of the chosen chain or -1.
int selectFilterChain(const std::vector<FilterChainMatchSpec>& chains, const net::ConnectionInfo& info);

}  // namespace remora::server
