#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "remoractl/process.h"

namespace remora::remoractl {

// What `remoractl iptables` asks of the machine, replaceable in tests.
struct IptablesHost {
  // True when an interface has a global IPv6 address (the pod has IPv6, as istio-iptables checks).
  std::function<bool()> has_ipv6;
  std::function<bool()> is_root;
  std::function<StatusOr<ProcessResult>(const std::vector<std::string>&, const std::string&)> run;
  std::function<std::string(const std::string&)> find_tool;
  static IptablesHost real();
};

int runIptables(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                const IptablesHost& host);

}  // namespace remora::remoractl
