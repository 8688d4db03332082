#include "server/filter_chain_matcher.h"

#include <gtest/gtest.h>

namespace remora::server {
namespace {

FilterChainMatchSpec::Cidr cidr(const char* ip, uint32_t len) {
  return {*net::Address::parse(ip, 0), len};
}

net::ConnectionInfo conn(const char* local_ip, uint16_t local_port, const char* remote_ip = "10.1.1.1",
                         uint16_t remote_port = 40000) {
  net::ConnectionInfo info;
  info.local_address = *net::Address::parse(local_ip, local_port);
  info.remote_address = *net::Address::parse(remote_ip, remote_port);
  info.transport_protocol = "raw_buffer";
  return info;
}

TEST(FilterChainMatcherTest, ExactPortBeatsUnsetPort) {
  std::vector<FilterChainMatchSpec> chains(2);
  chains[1].destination_port = 9080;
  EXPECT_EQ(selectFilterChain(chains, conn("10.0.0.1", 9080)), 1);
  EXPECT_EQ(selectFilterChain(chains, conn("10.0.0.1", 9090)), 0);
}

TEST(FilterChainMatcherTest, LongestDestinationPrefixWins) {
  std::vector<FilterChainMatchSpec> chains(3);
  chains[0].prefix_ranges = {cidr("10.0.0.0", 8)};
  chains[1].prefix_ranges = {cidr("10.1.0.0", 16)};
  chains[2].prefix_ranges = {cidr("0.0.0.0", 0)};
  EXPECT_EQ(selectFilterChain(chains, conn("10.1.2.3", 80)), 1);
  EXPECT_EQ(selectFilterChain(chains, conn("10.2.2.3", 80)), 0);
  EXPECT_EQ(selectFilterChain(chains, conn("192.168.0.1", 80)), 2);
}

TEST(FilterChainMatcherTest, NoBacktrackingOnceASpecificStepMatched) {
  // Envoy narrows step by step: the port-specific chain wins the port step, and its failing
  // source-port criterion then means no match rather than falling back to the generic chain.
  std::vector<FilterChainMatchSpec> chains(2);
  chains[0].destination_port = 80;
  chains[0].source_ports = {1234};
  EXPECT_EQ(selectFilterChain(chains, conn("10.0.0.1", 80, "10.9.9.9", 1234)), 0);
  EXPECT_EQ(selectFilterChain(chains, conn("10.0.0.1", 80, "10.9.9.9", 999)), -1);
  EXPECT_EQ(selectFilterChain(chains, conn("10.0.0.1", 81, "10.9.9.9", 999)), 1);
}

TEST(FilterChainMatcherTest, ServerNamesExactThenLongestWildcard) {
  std::vector<FilterChainMatchSpec> chains(3);
  chains[0].server_names = {"*.example.com"};
  chains[1].server_names = {"*.api.example.com"};
  chains[2].server_names = {"www.example.com"};
  auto info = conn("10.0.0.1", 443);
  info.requested_server_name = "www.example.com";
  EXPECT_EQ(selectFilterChain(chains, info), 2);
  info.requested_server_name = "v1.api.example.com";
  EXPECT_EQ(selectFilterChain(chains, info), 1);
  info.requested_server_name = "other.org";
  EXPECT_EQ(selectFilterChain(chains, info), -1);
  info.requested_server_name = "";
  EXPECT_EQ(selectFilterChain(chains, info), -1);
}

TEST(FilterChainMatcherTest, TransportAndApplicationProtocols) {
  std::vector<FilterChainMatchSpec> chains(3);
  chains[0].transport_protocol = "tls";
  chains[1].application_protocols = {"h2", "http/1.1"};
  auto info = conn("10.0.0.1", 80);
  EXPECT_EQ(selectFilterChain(chains, info), 1 + 1);  // raw_buffer: only the unset chains survive
  info.application_protocols = {"http/1.1"};
  EXPECT_EQ(selectFilterChain(chains, info), 1);
  info.transport_protocol = "tls";
  EXPECT_EQ(selectFilterChain(chains, info), 0);
}

TEST(FilterChainMatcherTest, SourceTypeAndSourcePrefix) {
  std::vector<FilterChainMatchSpec> chains(2);
  chains[0].source_type = FilterChainMatchSpec::SourceType::SameIpOrLoopback;
  chains[1].source_prefix_ranges = {cidr("192.168.0.0", 16)};
  EXPECT_EQ(selectFilterChain(chains, conn("10.0.0.1", 80, "127.0.0.1")), 0);
  EXPECT_EQ(selectFilterChain(chains, conn("10.0.0.1", 80, "192.168.3.3")), 1);
  EXPECT_EQ(selectFilterChain(chains, conn("10.0.0.1", 80, "172.16.0.1")), -1);
}

TEST(FilterChainMatcherTest, Ipv6PrefixesAndV4MappedAddresses) {
  std::vector<FilterChainMatchSpec> chains(2);
  chains[0].prefix_ranges = {cidr("fd00::", 8)};
  chains[1].prefix_ranges = {cidr("10.0.0.0", 8)};
  EXPECT_EQ(selectFilterChain(chains, conn("fd12::1", 80, "::1")), 0);
  EXPECT_EQ(selectFilterChain(chains, conn("::ffff:10.3.3.3", 80, "::1")), 1);
}

TEST(FilterChainMatcherTest, ServerNameThenTransportThenAlpnInTheClientsOrder) {
  std::vector<FilterChainMatchSpec> chains(5);
  chains[0].server_names = {"*.example.com"};
  chains[1].server_names = {"api.example.com"};
  chains[1].transport_protocol = "tls";
  chains[2].transport_protocol = "tls";
  chains[2].application_protocols = {"http/1.1"};
  chains[3].transport_protocol = "tls";
  chains[3].application_protocols = {"h2"};
  // chains[4]: matches anything the others do not.
  auto tls = [](const char* sni, std::vector<std::string> alpn) {
    net::ConnectionInfo info = conn("10.0.0.1", 443);
    info.transport_protocol = "tls";
    info.requested_server_name = sni;
    info.application_protocols = std::move(alpn);
    return info;
  };
  EXPECT_EQ(selectFilterChain(chains, tls("api.example.com", {})), 1);   // exact name
  EXPECT_EQ(selectFilterChain(chains, tls("www.example.com", {})), 0);   // wildcard
  EXPECT_EQ(selectFilterChain(chains, tls("", {"h2", "http/1.1"})), 3);  // client's first
  EXPECT_EQ(selectFilterChain(chains, tls("", {"http/1.1", "h2"})), 2);
  // TLS chains won the transport step; none offers spdy/3 and Envoy does not backtrack to [4].
  EXPECT_EQ(selectFilterChain(chains, tls("other.org", {"spdy/3"})), -1);
  EXPECT_EQ(selectFilterChain(chains, conn("10.0.0.1", 443)), 4);  // raw_buffer
}

}  // namespace
}  // namespace remora::server
