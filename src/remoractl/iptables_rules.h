#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace remora::remoractl {

// istio-iptables' inputs, with its flag letters. Strings as on the command line; validate() checks
// them. The defaults are what sidecar injection passes to istio-iptables.
struct CaptureOptions {
  std::string proxy_port = "15001";            // -p: outbound capture (virtualOutbound)
  std::string inbound_capture_port = "15006";  // -z: inbound capture (virtualInbound)
  std::string inbound_tunnel_port = "15008";   // -e: never captured, in or out
  std::string proxy_uid = "1337";              // -u: the proxy's own traffic is not captured
  std::string proxy_gid;                       // -g: defaults to -u
  std::string interception_mode = "REDIRECT";  // -m: TPROXY is not supported yet
  std::string inbound_ports = "*";             // -b: '*' all, a list, or empty: none
  std::string inbound_ports_exclude = "15090,15021,15020";  // -d: with -b '*' only
  std::string outbound_cidrs = "*";                         // -i: '*' all, a list, or empty: none
  std::string outbound_cidrs_exclude;                       // -x
  std::string outbound_ports;                               // -q: always captured
  std::string outbound_ports_exclude;                       // -o: never captured

  // Every port, uid/gid and CIDR is well-formed; -m is REDIRECT; -x is not '*'.
  Status validate() const;
  // True when -i or -x name an IPv6 range (the rules then go to ip6tables as well).
  bool hasIpv6Cidrs() const;
};

// The rule set as data: one table, the chains we own (declared, hence created or flushed, by
// iptables-restore) and rules in order. A rule is a chain and its match/target words, exactly as
// after `-A CHAIN` in iptables-restore input.
struct Rule {
  std::string chain;
  std::vector<std::string> spec;
  std::string text() const;  // "-A CHAIN spec..."
};

struct RuleSet {
  std::string table = "nat";
  std::vector<std::string> chains;
  std::vector<Rule> rules;
};

enum class IpFamily { V4, V6 };

// The capture chains remoractl owns (and removes on --cleanup), in declaration order.
const std::vector<std::string>& captureChains();

// The nat rules for one IP family, in istio-iptables' order (see src/remoractl/README.md).
RuleSet buildCaptureRules(const CaptureOptions& options, IpFamily family);

// iptables-restore input that installs the rule set on a table holding none of it ("*nat", the
// chain declarations, the rules, "COMMIT"). This is what --dry-run prints.
std::string renderRestore(const RuleSet& rules);

// What a previous run left behind, read from `iptables-save -t nat`: our chains that exist, and
// the rules in built-in chains that jump to them (spec as iptables-save prints it).
struct InstalledCapture {
  std::vector<std::string> chains;
  std::vector<Rule> jumps;
  bool empty() const { return chains.empty() && jumps.empty(); }
};
InstalledCapture parseInstalled(const std::string& iptables_save_output);

// iptables-restore --noflush input that replaces whatever `installed` is with `rules`, in one
// transaction: the old jumps are deleted, our chains redeclared (which flushes them) and refilled.
// Running it twice leaves the same table.
std::string renderReplace(const RuleSet& rules, const InstalledCapture& installed);

// iptables-restore --noflush input removing exactly what we add: the jumps from built-in chains to
// our chains, then our chains (flushed, then deleted). Empty when nothing is installed.
std::string renderCleanup(const InstalledCapture& installed);

}  // namespace remora::remoractl
