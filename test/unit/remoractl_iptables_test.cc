// `remoractl iptables`: --dry-run golden output for istio-iptables' defaults and each flag, the
// replace/cleanup transactions built from iptables-save output, and the errors.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "remoractl/command.h"
#include "remoractl/iptables_command.h"
#include "remoractl/iptables_rules.h"

namespace remora::remoractl {
namespace {

std::string golden(const std::string& name) {
  std::ifstream in(std::string(REMORA_SOURCE_DIR) + "/test/unit/testdata/remoractl/" + name);
  EXPECT_TRUE(in.good()) << name;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

struct Recorded {
  std::vector<std::vector<std::string>> commands;
  std::vector<std::string> inputs;
};

// A host without IPv6 whose iptables-save prints `saved`; every command is recorded.
IptablesHost fakeHost(Recorded* recorded, std::string saved = "", bool root = true,
                      bool ipv6 = false) {
  IptablesHost host;
  host.has_ipv6 = [ipv6] { return ipv6; };
  host.is_root = [root] { return root; };
  host.find_tool = [](const std::string& tool) { return "/usr/sbin/" + tool; };
  host.run = [recorded, saved](const std::vector<std::string>& argv,
                               const std::string& input) -> StatusOr<ProcessResult> {
    recorded->commands.push_back(argv);
    recorded->inputs.push_back(input);
    ProcessResult result;
    if (argv[0].find("-save") != std::string::npos) result.out = saved;
    return result;
  };
  return host;
}

struct Outcome {
  int rc;
  std::string out, err;
};

Outcome iptables(std::vector<std::string> args, const IptablesHost& host) {
  std::ostringstream out, err;
  const int rc = runIptables(args, out, err, host);
  return {rc, out.str(), err.str()};
}

Outcome dryRun(std::vector<std::string> args) {
  Recorded recorded;
  args.push_back("--dry-run");
  auto outcome = iptables(args, fakeHost(&recorded));
  EXPECT_TRUE(recorded.commands.empty()) << "--dry-run ran a command";
  return outcome;
}

// The defaults' golden output with `from` replaced by `to` (several lines each, "\n"-separated).
std::string defaultsWith(const std::string& from, const std::string& to) {
  std::string text = golden("iptables_defaults.rules");
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

const std::vector<std::string> kIssueFlags = {
    "-p",       "15001", "-z", "15006", "-u", "1337", "-m",
    "REDIRECT", "-i",    "*",  "-b",    "*",  "-d",   "15090,15021,15020"};

TEST(RemoractlIptablesTest, DefaultsAreTheIssueListing) {
  auto defaults = dryRun({});
  EXPECT_EQ(defaults.rc, 0) << defaults.err;
  EXPECT_EQ(defaults.out, golden("iptables_defaults.rules"));
  auto explicit_flags = dryRun(kIssueFlags);
  EXPECT_EQ(explicit_flags.out, golden("iptables_defaults.rules"));
}

TEST(RemoractlIptablesTest, LongFlagNamesAreIstioIptables) {
  auto outcome =
      dryRun({"--envoy-port=15001", "--inbound-capture-port", "15006", "--proxy-uid", "1337",
              "--istio-inbound-interception-mode", "REDIRECT", "--istio-service-cidr", "*",
              "--istio-inbound-ports", "*", "--istio-local-exclude-ports", "15090,15021,15020"});
  EXPECT_EQ(outcome.out, golden("iptables_defaults.rules"));
}

TEST(RemoractlIptablesTest, SeedFormCapturesPort9080IntoOneCapturePort) {
  EXPECT_EQ(dryRun({"-z", "15001", "-b", "9080"}).out, golden("iptables_seed_9080.rules"));
}

TEST(RemoractlIptablesTest, OutboundCapturePort) {
  EXPECT_EQ(dryRun({"-p", "16001"}).out,
            defaultsWith("REDIRECT --to-ports 15001", "REDIRECT --to-ports 16001"));
}

TEST(RemoractlIptablesTest, InboundCapturePort) {
  EXPECT_EQ(dryRun({"-z", "16006"}).out,
            defaultsWith("REDIRECT --to-ports 15006", "REDIRECT --to-ports 16006"));
}

TEST(RemoractlIptablesTest, ProxyUidAndGid) {
  std::string expected = golden("iptables_defaults.rules");
  for (auto [from, to] : {std::pair{"--uid-owner 1337", "--uid-owner 2000"},
                          std::pair{"--gid-owner 1337", "--gid-owner 3000"}}) {
    for (auto at = expected.find(from); at != std::string::npos; at = expected.find(from)) {
      expected.replace(at, std::string(from).size(), to);
    }
  }
  EXPECT_EQ(dryRun({"-u", "2000", "-g", "3000"}).out, expected);
  // -g defaults to -u, as in istio-iptables.
  auto uid_only = dryRun({"-u", "2000"}).out;
  EXPECT_NE(uid_only.find("--gid-owner 2000 -j RETURN"), std::string::npos) << uid_only;
}

TEST(RemoractlIptablesTest, InterceptionModeTproxyIsRejected) {
  auto outcome = dryRun({"-m", "TPROXY"});
  EXPECT_EQ(outcome.rc, kUsageError);
  EXPECT_NE(outcome.err.find("TPROXY is not supported"), std::string::npos) << outcome.err;
  EXPECT_EQ(outcome.out, "");
  EXPECT_EQ(dryRun({"-m", "BOGUS"}).rc, kUsageError);
}

TEST(RemoractlIptablesTest, InboundPortList) {
  EXPECT_EQ(dryRun({"-b", "9080,9090"}).out,
            defaultsWith("-A ISTIO_INBOUND -p tcp --dport 15090 -j RETURN\n"
                         "-A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN\n"
                         "-A ISTIO_INBOUND -p tcp --dport 15020 -j RETURN\n"
                         "-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT\n",
                         "-A ISTIO_INBOUND -p tcp --dport 9080 -j ISTIO_IN_REDIRECT\n"
                         "-A ISTIO_INBOUND -p tcp --dport 9090 -j ISTIO_IN_REDIRECT\n"));
}

TEST(RemoractlIptablesTest, NoInboundPortsMeansNoInboundCapture) {
  EXPECT_EQ(dryRun({"-b", ""}).out,
            defaultsWith("-A PREROUTING -p tcp -j ISTIO_INBOUND\n"
                         "-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN\n"
                         "-A ISTIO_INBOUND -p tcp --dport 15090 -j RETURN\n"
                         "-A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN\n"
                         "-A ISTIO_INBOUND -p tcp --dport 15020 -j RETURN\n"
                         "-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT\n",
                         "-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN\n"));
}

TEST(RemoractlIptablesTest, InboundExcludePorts) {
  EXPECT_EQ(dryRun({"-d", "8081"}).out,
            defaultsWith("-A ISTIO_INBOUND -p tcp --dport 15090 -j RETURN\n"
                         "-A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN\n"
                         "-A ISTIO_INBOUND -p tcp --dport 15020 -j RETURN\n",
                         "-A ISTIO_INBOUND -p tcp --dport 8081 -j RETURN\n"));
}

TEST(RemoractlIptablesTest, OutboundCidrIncludeList) {
  EXPECT_EQ(dryRun({"-i", "198.19.0.0/16,10.0.0.0/8"}).out,
            defaultsWith("-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n",
                         "-A ISTIO_OUTPUT -d 198.19.0.0/16 -j ISTIO_REDIRECT\n"
                         "-A ISTIO_OUTPUT -d 10.0.0.0/8 -j ISTIO_REDIRECT\n"));
  // Nothing captured outbound: no final redirect at all.
  EXPECT_EQ(dryRun({"-i", ""}).out, defaultsWith("-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n", ""));
}

TEST(RemoractlIptablesTest, LoopbackIncludeDropsTheAppLoopbackReturn) {
  auto out = dryRun({"-i", "127.0.0.0/8"}).out;
  EXPECT_EQ(out.find("-o lo -m owner ! --uid-owner"), std::string::npos) << out;
  EXPECT_NE(out.find("-A ISTIO_OUTPUT -d 127.0.0.0/8 -j ISTIO_REDIRECT\n"), std::string::npos);
}

TEST(RemoractlIptablesTest, OutboundCidrExclude) {
  EXPECT_EQ(dryRun({"-x", "198.18.0.0/16"}).out,
            defaultsWith("-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n",
                         "-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
                         "-A ISTIO_OUTPUT -d 198.18.0.0/16 -j RETURN\n"));
  EXPECT_EQ(dryRun({"-x", "*"}).rc, kUsageError);
}

TEST(RemoractlIptablesTest, OutboundPortsIncludedAndExcluded) {
  EXPECT_EQ(dryRun({"-q", "3306", "-i", ""}).out,
            defaultsWith("-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n",
                         "-A ISTIO_OUTPUT -p tcp --dport 3306 -j ISTIO_REDIRECT\n"));
  // Exclusions come first in ISTIO_OUTPUT: they win over everything else.
  EXPECT_EQ(dryRun({"-o", "25,587"}).out,
            defaultsWith("-A OUTPUT -p tcp -j ISTIO_OUTPUT\n",
                         "-A OUTPUT -p tcp -j ISTIO_OUTPUT\n"
                         "-A ISTIO_OUTPUT -p tcp --dport 25 -j RETURN\n"
                         "-A ISTIO_OUTPUT -p tcp --dport 587 -j RETURN\n"));
}

TEST(RemoractlIptablesTest, TunnelPortIsAlwaysExcludedAndConfigurable) {
  std::string expected = golden("iptables_defaults.rules");
  for (auto at = expected.find("15008"); at != std::string::npos; at = expected.find("15008")) {
    expected.replace(at, 5, "16008");
  }
  EXPECT_EQ(dryRun({"-e", "16008"}).out, expected);
}

TEST(RemoractlIptablesTest, Ipv6CidrsAddAnIp6tablesTransaction) {
  auto out = dryRun({"-i", "198.19.0.0/16,fd00:19::/64", "-x", "fd00:18::/64"}).out;
  const auto v6 = out.find("# ip6tables-restore --noflush\n*nat\n");
  ASSERT_NE(v6, std::string::npos) << out;
  const std::string v4_part = out.substr(0, v6), v6_part = out.substr(v6);
  EXPECT_NE(v4_part.find("-A ISTIO_OUTPUT -d 198.19.0.0/16 -j ISTIO_REDIRECT"), std::string::npos);
  EXPECT_EQ(v4_part.find("fd00"), std::string::npos) << v4_part;
  EXPECT_NE(v6_part.find("-A ISTIO_OUTPUT -o lo -s ::6/128 -j RETURN"), std::string::npos);
  EXPECT_NE(v6_part.find("-A ISTIO_OUTPUT -d ::1/128 -j RETURN\n"
                         "-A ISTIO_OUTPUT -d fd00:18::/64 -j RETURN\n"),
            std::string::npos)
      << v6_part;
  EXPECT_NE(v6_part.find("-A ISTIO_OUTPUT -d fd00:19::/64 -j ISTIO_REDIRECT"), std::string::npos);
  EXPECT_EQ(v6_part.find("198.19"), std::string::npos) << v6_part;
}

TEST(RemoractlIptablesTest, BadValuesAreUsageErrors) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"-p", "0"},
                                                                {"-z", "x"},
                                                                {"-b", "80,abc"},
                                                                {"-i", "10.0.0.0"},
                                                                {"-i", "10.0.0.0/33"},
                                                                {"-u", "proxy"},
                                                                {"--no-such-flag"},
                                                                {"stray"},
                                                                {"-p"}}) {
    auto outcome = dryRun(args);
    EXPECT_EQ(outcome.rc, kUsageError) << args[0];
    EXPECT_FALSE(outcome.err.empty());
  }
}

TEST(RemoractlIptablesTest, ApplyDeletesOldJumpsAndRefillsOurChainsInOneRestore) {
  const std::string saved =
      "# Generated by iptables-save\n*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
      ":ISTIO_INBOUND - [0:0]\n:ISTIO_OUTPUT - [0:0]\n:OTHER - [0:0]\n"
      "-A PREROUTING -p tcp -j ISTIO_INBOUND\n-A PREROUTING -p tcp -j OTHER\n"
      "-A OUTPUT -p tcp -j ISTIO_OUTPUT\n-A ISTIO_OUTPUT -j ISTIO_REDIRECT\nCOMMIT\n";
  Recorded recorded;
  auto outcome = iptables({}, fakeHost(&recorded, saved));
  ASSERT_EQ(outcome.rc, 0) << outcome.err;
  ASSERT_EQ(recorded.commands.size(), 2u);
  EXPECT_EQ(recorded.commands[0], (std::vector<std::string>{"iptables-save", "-t", "nat"}));
  EXPECT_EQ(recorded.commands[1], (std::vector<std::string>{"iptables-restore", "--noflush"}));
  EXPECT_EQ(recorded.inputs[1], defaultsWith(":ISTIO_OUTPUT - [0:0]\n",
                                             ":ISTIO_OUTPUT - [0:0]\n"
                                             "-D PREROUTING -p tcp -j ISTIO_INBOUND\n"
                                             "-D OUTPUT -p tcp -j ISTIO_OUTPUT\n"));
}

TEST(RemoractlIptablesTest, CleanupRemovesExactlyOurJumpsAndChains) {
  const std::string saved =
      "*filter\n:ISTIO_OUTPUT - [0:0]\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n"
      ":ISTIO_INBOUND - [0:0]\n:ISTIO_IN_REDIRECT - [0:0]\n:KEEP - [0:0]\n"
      "-A PREROUTING -p tcp -j ISTIO_INBOUND\n-A PREROUTING -p tcp -j KEEP\n"
      "-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT\nCOMMIT\n";
  Recorded recorded;
  auto outcome = iptables({"--cleanup"}, fakeHost(&recorded, saved));
  ASSERT_EQ(outcome.rc, 0) << outcome.err;
  ASSERT_EQ(recorded.inputs.size(), 2u);
  EXPECT_EQ(
      recorded.inputs[1],
      "*nat\n:ISTIO_INBOUND - [0:0]\n:ISTIO_IN_REDIRECT - [0:0]\n"
      "-D PREROUTING -p tcp -j ISTIO_INBOUND\n-X ISTIO_INBOUND\n-X ISTIO_IN_REDIRECT\nCOMMIT\n");
  // Nothing installed: nothing run but the save.
  Recorded empty;
  EXPECT_EQ(iptables({"--cleanup-only"}, fakeHost(&empty, "*nat\nCOMMIT\n")).rc, 0);
  EXPECT_EQ(empty.commands.size(), 1u);
}

TEST(RemoractlIptablesTest, PodWithIpv6AlsoAppliesIp6tables) {
  Recorded recorded;
  auto outcome = iptables({}, fakeHost(&recorded, "", true, /*ipv6=*/true));
  ASSERT_EQ(outcome.rc, 0) << outcome.err;
  ASSERT_EQ(recorded.commands.size(), 4u);
  EXPECT_EQ(recorded.commands[3][0], "ip6tables-restore");
  EXPECT_NE(recorded.inputs[3].find("-s ::6/128"), std::string::npos);
}

TEST(RemoractlIptablesTest, ClearErrorsWhenNotRootOrToolMissing) {
  Recorded recorded;
  auto not_root = iptables({}, fakeHost(&recorded, "", /*root=*/false));
  EXPECT_EQ(not_root.rc, 1);
  EXPECT_NE(not_root.err.find("must run as root"), std::string::npos) << not_root.err;
  EXPECT_TRUE(recorded.commands.empty());

  auto host = fakeHost(&recorded);
  host.find_tool = [](const std::string& tool) {
    return tool == "iptables-restore" ? "" : "/usr/sbin/" + tool;
  };
  auto missing = iptables({}, host);
  EXPECT_EQ(missing.rc, 1);
  EXPECT_NE(missing.err.find("iptables-restore not found"), std::string::npos) << missing.err;
  EXPECT_TRUE(recorded.commands.empty());
}

TEST(RemoractlIptablesTest, HelpListsIstioFlags) {
  Recorded recorded;
  auto outcome = iptables({"--help"}, fakeHost(&recorded));
  EXPECT_EQ(outcome.rc, 0);
  for (const char* flag : {"-p, --envoy-port", "-z, --inbound-capture-port", "-u, --proxy-uid",
                           "-m, --istio-inbound-interception-mode", "-b, --istio-inbound-ports",
                           "-d, --istio-local-exclude-ports", "-i, --istio-service-cidr",
                           "-x, --istio-service-exclude-cidr", "-q, --istio-outbound-ports",
                           "-o, --istio-local-outbound-ports-exclude", "--dry-run", "--cleanup"}) {
    EXPECT_NE(outcome.out.find(flag), std::string::npos) << flag;
  }
}

TEST(RemoractlDispatchTest, UnknownCommandAndHelp) {
  std::ostringstream out, err;
  EXPECT_EQ(dispatch({"frobnicate"}, out, err), kUsageError);
  EXPECT_NE(err.str().find("unknown command 'frobnicate'"), std::string::npos);
  std::ostringstream help_out, help_err;
  EXPECT_EQ(dispatch({"--help"}, help_out, help_err), 0);
  for (const char* name : {"iptables", "bootstrap", "sidecar"}) {
    EXPECT_NE(help_out.str().find(name), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace remora::remoractl
