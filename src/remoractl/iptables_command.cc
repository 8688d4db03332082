#include "remoractl/iptables_command.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <unistd.h>

#include "remoractl/command.h"
#include "remoractl/flags.h"
#include "remoractl/iptables_rules.h"

namespace remora::remoractl {
namespace {

constexpr const char* kSummary =
    "Install the pod's transparent-capture rules (istio-iptables' flags): every inbound TCP\n"
    "connection to the inbound capture port (-z), every outbound one to the outbound capture port\n"
    "(-p), the proxy's own traffic (-u/-g) excepted. Applied atomically with iptables-restore\n"
    "(and ip6tables-restore when the pod has IPv6), idempotently; --cleanup removes them.";

bool hostHasIpv6() {
  ifaddrs* addrs = nullptr;
  if (getifaddrs(&addrs) != 0) return false;
  bool found = false;
  for (ifaddrs* a = addrs; a != nullptr && !found; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET6) continue;
    const auto* addr = &reinterpret_cast<const sockaddr_in6*>(a->ifa_addr)->sin6_addr;
    found = !IN6_IS_ADDR_LOOPBACK(addr) && !IN6_IS_ADDR_LINKLOCAL(addr) &&
            !IN6_IS_ADDR_MC_LINKLOCAL(addr);
  }
  freeifaddrs(addrs);
  return found;
}

struct Family {
  IpFamily family;
  const char* save;
  const char* restore;
};

// What --cleanup would remove if the rules built from these flags were installed.
InstalledCapture asInstalled(const RuleSet& rules) {
  InstalledCapture installed;
  installed.chains = rules.chains;
  for (const auto& rule : rules.rules) {
    if (rule.chain == "PREROUTING" || rule.chain == "OUTPUT") installed.jumps.push_back(rule);
  }
  return installed;
}

int applyFamily(const Family& f, const CaptureOptions& options, bool cleanup, std::ostream& out,
                std::ostream& err, const IptablesHost& host) {
  auto saved = host.run({f.save, "-t", "nat"}, "");
  if (!saved.ok() || saved->exit_code != 0) {
    err << "remoractl iptables: " << f.save
        << " -t nat failed: " << (saved.ok() ? saved->err : saved.status().message()) << "\n";
    return 1;
  }
  const InstalledCapture installed = parseInstalled(saved->out);
  const std::string input = cleanup
                                ? renderCleanup(installed)
                                : renderReplace(buildCaptureRules(options, f.family), installed);
  if (input.empty()) {
    out << f.restore << ": nothing to clean up\n";
    return 0;
  }
  auto restored = host.run({f.restore, "--noflush"}, input);
  if (!restored.ok() || restored->exit_code != 0) {
    err << "remoractl iptables: " << f.restore
        << " --noflush failed: " << (restored.ok() ? restored->err : restored.status().message())
        << "input was:\n"
        << input;
    return 1;
  }
  out << f.restore << ": " << (cleanup ? "removed the capture rules" : "capture rules installed")
      << "\n";
  return 0;
}

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  return runIptables(args, out, err, IptablesHost::real());
}

const RegisterCommand kRegister{{"iptables", "install the pod's transparent-capture rules", &run}};

}  // namespace

IptablesHost IptablesHost::real() {
  return {&hostHasIpv6, [] { return geteuid() == 0; }, &runProcess, &findInPath};
}

int runIptables(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                const IptablesHost& host) {
  CaptureOptions options;
  bool dry_run = false, cleanup = false;
  FlagSet flags("iptables");
  flags.addString("envoy-port", 'p', &options.proxy_port,
                  "outbound capture port (virtualOutbound)");
  flags.addString("inbound-capture-port", 'z', &options.inbound_capture_port,
                  "inbound capture port (virtualInbound)");
  flags.addString("inbound-tunnel-port", 'e', &options.inbound_tunnel_port,
                  "tunnel port, never captured");
  flags.addString("proxy-uid", 'u', &options.proxy_uid,
                  "uid(s) of the proxy, whose traffic is not captured");
  flags.addString("proxy-gid", 'g', &options.proxy_gid, "gid(s) of the proxy (default: -u)");
  flags.addString("istio-inbound-interception-mode", 'm', &options.interception_mode,
                  "REDIRECT (TPROXY is not supported)");
  flags.addString("istio-inbound-ports", 'b', &options.inbound_ports,
                  "inbound ports to capture: '*', a list, or '' for none");
  flags.addString("istio-local-exclude-ports", 'd', &options.inbound_ports_exclude,
                  "inbound ports not captured (with -b '*')");
  flags.addString("istio-service-cidr", 'i', &options.outbound_cidrs,
                  "outbound CIDRs to capture: '*', a list, or '' for none");
  flags.addString("istio-service-exclude-cidr", 'x', &options.outbound_cidrs_exclude,
                  "outbound CIDRs not captured");
  flags.addString("istio-outbound-ports", 'q', &options.outbound_ports,
                  "outbound ports always captured");
  flags.addString("istio-local-outbound-ports-exclude", 'o', &options.outbound_ports_exclude,
                  "outbound ports never captured");
  flags.addBool("dry-run", 'n', &dry_run, "print the iptables-restore input, change nothing");
  flags.addBool("cleanup", 0, &cleanup, "remove the capture rules (jumps and chains) and exit");
  flags.addAlias("cleanup-only", "cleanup");
  if (Status s = flags.parse(args); !s.ok()) {
    err << "remoractl " << s.message() << "\n";
    return kUsageError;
  }
  if (flags.helpRequested()) {
    out << flags.usage(kSummary);
    return 0;
  }
  if (Status s = options.validate(); !s.ok()) {
    err << "remoractl iptables: " << s.message() << "\n";
    return kUsageError;
  }
  const bool ipv6 = options.hasIpv6Cidrs() || host.has_ipv6();
  std::vector<Family> families = {{IpFamily::V4, "iptables-save", "iptables-restore"}};
  if (ipv6) families.push_back({IpFamily::V6, "ip6tables-save", "ip6tables-restore"});

  if (dry_run) {
    for (const auto& f : families) {
      if (f.family == IpFamily::V6) out << "# " << f.restore << " --noflush\n";
      const RuleSet rules = buildCaptureRules(options, f.family);
      out << (cleanup ? renderCleanup(asInstalled(rules)) : renderRestore(rules));
    }
    return 0;
  }
  if (!host.is_root()) {
    err << "remoractl iptables: must run as root (changing iptables needs CAP_NET_ADMIN); "
           "--dry-run prints the rules without applying them\n";
    return 1;
  }
  for (const auto& f : families) {
    for (const char* tool : {f.save, f.restore}) {
      if (host.find_tool(tool).empty()) {
        err << "remoractl iptables: " << tool
            << " not found in PATH (install the iptables package)\n";
        return 1;
      }
    }
  }
  for (const auto& f : families) {
    if (int rc = applyFamily(f, options, cleanup, out, err, host); rc != 0) return rc;
  }
  return 0;
}

}  // namespace remora::remoractl
