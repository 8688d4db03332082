#include "remoractl/iptables_rules.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <sstream>

#include "remoractl/flags.h"

namespace remora::remoractl {
namespace {

constexpr const char* kInbound = "ISTIO_INBOUND";
constexpr const char* kRedirect = "ISTIO_REDIRECT";
constexpr const char* kInRedirect = "ISTIO_IN_REDIRECT";
constexpr const char* kOutput = "ISTIO_OUTPUT";

bool isNumber(const std::string& s, uint64_t max) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size() && value <= max;
}

bool isPort(const std::string& s) { return isNumber(s, 65535) && s != "0"; }

// "10.0.0.0/8" or "fd00::/8" (a prefix length is required, as istio-iptables requires).
bool parseCidr(const std::string& cidr, IpFamily* family) {
  const auto slash = cidr.find('/');
  if (slash == std::string::npos) return false;
  const std::string addr = cidr.substr(0, slash);
  const std::string len = cidr.substr(slash + 1);
  unsigned char buf[16];
  if (inet_pton(AF_INET, addr.c_str(), buf) == 1) {
    *family = IpFamily::V4;
    return isNumber(len, 32);
  }
  if (inet_pton(AF_INET6, addr.c_str(), buf) == 1) {
    *family = IpFamily::V6;
    return isNumber(len, 128);
  }
  return false;
}

bool isLoopbackCidr(const std::string& cidr) {
  return cidr.rfind("127.", 0) == 0 || cidr.rfind("::1/", 0) == 0;
}

Status checkPorts(const std::string& flag, const std::string& value, bool allow_wildcard) {
  if (allow_wildcard && value == "*") return {};
  for (const auto& port : splitList(value)) {
    if (!isPort(port)) return Status::error(fmt::format("{}: not a port: '{}'", flag, port));
  }
  return {};
}

Status checkCidrs(const std::string& flag, const std::string& value, bool allow_wildcard) {
  if (value == "*") {
    if (allow_wildcard) return {};
    return Status::error(fmt::format("{}: '*' is not allowed here", flag));
  }
  for (const auto& cidr : splitList(value)) {
    IpFamily family;
    if (!parseCidr(cidr, &family)) {
      return Status::error(fmt::format("{}: not a CIDR range: '{}'", flag, cidr));
    }
  }
  return {};
}

// The CIDRs of one family from a -i/-x list (istio-iptables splits them the same way).
std::vector<std::string> cidrsOf(const std::string& value, IpFamily family) {
  std::vector<std::string> out;
  if (value == "*") return out;
  for (const auto& cidr : splitList(value)) {
    IpFamily f;
    if (parseCidr(cidr, &f) && f == family) out.push_back(cidr);
  }
  return out;
}

bool isBuiltinChain(const std::string& chain) {
  return chain == "PREROUTING" || chain == "INPUT" || chain == "FORWARD" || chain == "OUTPUT" ||
         chain == "POSTROUTING";
}

bool isCaptureChain(const std::string& chain) {
  const auto& chains = captureChains();
  return std::find(chains.begin(), chains.end(), chain) != chains.end();
}

}  // namespace

Status CaptureOptions::validate() const {
  if (interception_mode == "TPROXY") {
    return Status::error("-m TPROXY: interception mode TPROXY is not supported (use REDIRECT)");
  }
  if (interception_mode != "REDIRECT") {
    return Status::error(
        fmt::format("-m: unknown interception mode '{}' (REDIRECT)", interception_mode));
  }
  if (!isPort(proxy_port)) return Status::error(fmt::format("-p: not a port: '{}'", proxy_port));
  if (!isPort(inbound_capture_port)) {
    return Status::error(fmt::format("-z: not a port: '{}'", inbound_capture_port));
  }
  if (!isPort(inbound_tunnel_port)) {
    return Status::error(fmt::format("-e: not a port: '{}'", inbound_tunnel_port));
  }
  for (const auto& [flag, ids] : {std::pair{"-u", proxy_uid}, std::pair{"-g", proxy_gid}}) {
    for (const auto& id : splitList(ids)) {
      if (!isNumber(id, 0xffffffffu)) {
        return Status::error(fmt::format("{}: not a numeric id: '{}'", flag, id));
      }
    }
  }
  if (splitList(proxy_uid).empty()) return Status::error("-u: the proxy uid is required");
  RETURN_IF_ERROR(checkPorts("-b", inbound_ports, true));
  RETURN_IF_ERROR(checkPorts("-d", inbound_ports_exclude, false));
  RETURN_IF_ERROR(checkPorts("-q", outbound_ports, false));
  RETURN_IF_ERROR(checkPorts("-o", outbound_ports_exclude, false));
  RETURN_IF_ERROR(checkCidrs("-i", outbound_cidrs, true));
  RETURN_IF_ERROR(checkCidrs("-x", outbound_cidrs_exclude, false));
  return {};
}

bool CaptureOptions::hasIpv6Cidrs() const {
  return !cidrsOf(outbound_cidrs, IpFamily::V6).empty() ||
         !cidrsOf(outbound_cidrs_exclude, IpFamily::V6).empty();
}

std::string Rule::text() const {
  std::string out = "-A " + chain;
  for (const auto& word : spec) out += " " + word;
  return out;
}

const std::vector<std::string>& captureChains() {
  static const auto* chains =
      new std::vector<std::string>{kInbound, kRedirect, kInRedirect, kOutput};
  return *chains;
}

RuleSet buildCaptureRules(const CaptureOptions& options, IpFamily family) {
  const bool v6 = family == IpFamily::V6;
  // 127.0.0.6 is the source inbound clusters bind to (upstream_bind_config), so the proxy's own
  // connections to the application are told apart from the application's own loopback traffic.
  const std::string inbound_passthrough_source = v6 ? "::6/128" : "127.0.0.6/32";
  const std::string loopback = v6 ? "::1/128" : "127.0.0.1/32";
  const std::string& tunnel = options.inbound_tunnel_port;

  RuleSet set;
  set.chains = captureChains();
  auto add = [&set](std::string chain, std::vector<std::string> spec) {
    set.rules.push_back({std::move(chain), std::move(spec)});
  };

  // Inbound: everything arriving for the pod goes to the inbound capture port, except the tunnel
  // port and the excluded ports (with '*') or only the listed ports (with a list).
  const bool capture_inbound = !options.inbound_ports.empty();
  if (capture_inbound) add("PREROUTING", {"-p", "tcp", "-j", kInbound});
  add(kInbound, {"-p", "tcp", "--dport", tunnel, "-j", "RETURN"});
  if (options.inbound_ports == "*") {
    for (const auto& port : splitList(options.inbound_ports_exclude)) {
      add(kInbound, {"-p", "tcp", "--dport", port, "-j", "RETURN"});
    }
    add(kInbound, {"-p", "tcp", "-j", kInRedirect});
  } else {
    for (const auto& port : splitList(options.inbound_ports)) {
      add(kInbound, {"-p", "tcp", "--dport", port, "-j", kInRedirect});
    }
  }
  add(kInRedirect, {"-p", "tcp", "-j", "REDIRECT", "--to-ports", options.inbound_capture_port});

  // Outbound: every locally originated TCP connection goes through ISTIO_OUTPUT.
  add("OUTPUT", {"-p", "tcp", "-j", kOutput});
  for (const auto& port : splitList(options.outbound_ports_exclude)) {
    add(kOutput, {"-p", "tcp", "--dport", port, "-j", "RETURN"});
  }
  add(kOutput, {"-o", "lo", "-s", inbound_passthrough_source, "-j", "RETURN"});

  // If a loopback range is explicitly captured (-i 127.0.0.0/8), the application's own loopback
  // traffic must not be let through by the owner rules.
  bool captures_loopback = false;
  for (const auto& cidr : splitList(options.outbound_cidrs == "*" ? "" : options.outbound_cidrs)) {
    captures_loopback = captures_loopback || isLoopbackCidr(cidr);
  }
  const std::string gids = options.proxy_gid.empty() ? options.proxy_uid : options.proxy_gid;
  for (const auto& [owner, ids] :
       {std::pair{"--uid-owner", options.proxy_uid}, std::pair{"--gid-owner", gids}}) {
    for (const auto& id : splitList(ids)) {
      // The proxy calling its own pod by a non-loopback address (app -> VIP -> outbound sidecar ->
      // own pod IP) must still pass the inbound sidecar.
      add(kOutput, {"-o", "lo", "!", "-d", loopback, "-p", "tcp", "!", "--dport", tunnel, "-m",
                    "owner", owner, id, "-j", kInRedirect});
      // The application talking to itself over lo is not captured.
      if (!captures_loopback)
        add(kOutput, {"-o", "lo", "-m", "owner", "!", owner, id, "-j", "RETURN"});
      // The proxy's own outbound connections are never captured again.
      add(kOutput, {"-m", "owner", owner, id, "-j", "RETURN"});
    }
  }
  add(kOutput, {"-d", loopback, "-j", "RETURN"});
  for (const auto& cidr : cidrsOf(options.outbound_cidrs_exclude, family)) {
    add(kOutput, {"-d", cidr, "-j", "RETURN"});
  }
  for (const auto& port : splitList(options.outbound_ports)) {
    add(kOutput, {"-p", "tcp", "--dport", port, "-j", kRedirect});
  }
  if (options.outbound_cidrs == "*") {
    add(kOutput, {"-j", kRedirect});
  } else {
    for (const auto& cidr : cidrsOf(options.outbound_cidrs, family)) {
      add(kOutput, {"-d", cidr, "-j", kRedirect});
    }
  }
  add(kRedirect, {"-p", "tcp", "-j", "REDIRECT", "--to-ports", options.proxy_port});
  return set;
}

std::string renderRestore(const RuleSet& rules) { return renderReplace(rules, {}); }

std::string renderReplace(const RuleSet& rules, const InstalledCapture& installed) {
  std::string out = "*" + rules.table + "\n";
  for (const auto& chain : rules.chains) out += ":" + chain + " - [0:0]\n";
  for (const auto& jump : installed.jumps) out += "-D " + jump.text().substr(3) + "\n";
  for (const auto& rule : rules.rules) out += rule.text() + "\n";
  out += "COMMIT\n";
  return out;
}

std::string renderCleanup(const InstalledCapture& installed) {
  if (installed.empty()) return "";
  std::string out = "*nat\n";
  // Declaring a chain in --noflush mode flushes it, which also drops jumps between our chains.
  for (const auto& chain : installed.chains) out += ":" + chain + " - [0:0]\n";
  for (const auto& jump : installed.jumps) out += "-D " + jump.text().substr(3) + "\n";
  for (const auto& chain : installed.chains) out += "-X " + chain + "\n";
  out += "COMMIT\n";
  return out;
}

InstalledCapture parseInstalled(const std::string& iptables_save_output) {
  InstalledCapture installed;
  std::istringstream in(iptables_save_output);
  std::string line;
  bool in_nat = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '*') {
      in_nat = line == "*nat";
      continue;
    }
    if (!in_nat) continue;
    if (!line.empty() && line[0] == ':') {
      const std::string chain = line.substr(1, line.find(' ') - 1);
      if (isCaptureChain(chain)) installed.chains.push_back(chain);
      continue;
    }
    if (line.rfind("-A ", 0) != 0) continue;
    const auto chain_end = line.find(' ', 3);
    if (chain_end == std::string::npos) continue;
    const std::string chain = line.substr(3, chain_end - 3);
    const auto jump = line.rfind(" -j ");
    if (!isBuiltinChain(chain) || jump == std::string::npos) continue;
    const std::string target = line.substr(jump + 4, line.find(' ', jump + 4) - (jump + 4));
    // The spec is kept verbatim (one word): iptables-save quoting (comments) must survive as is.
    if (isCaptureChain(target)) installed.jumps.push_back({chain, {line.substr(chain_end + 1)}});
  }
  return installed;
}

}  // namespace remora::remoractl
