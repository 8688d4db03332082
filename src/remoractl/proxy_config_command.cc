#include <fmt/format.h>

#include <filesystem>

#include "remoractl/command.h"
#include "remoractl/flags.h"
#include "remoractl/http_get.h"
#include "remoractl/proxy_config.h"

namespace remora::remoractl {
namespace {

constexpr char kProxyConfigSummary[] =
    "show a sidecar's listeners, routes, clusters, endpoints or bootstrap, as istioctl "
    "proxy-config: remoractl proxy-config VIEW POD[.NAMESPACE] [-o json]";

int runProxyConfig(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  // Positional arguments (the view, the pod) come first, then flags.
  std::vector<std::string> positional;
  size_t i = 0;
  for (; i < args.size() && !args[i].starts_with("-"); ++i) positional.push_back(args[i]);
  std::string output = "short";
  std::string admin_address;
  FlagSet flags("proxy-config");
  flags.addString("output", 'o', &output, "'short' (tables) or 'json' (the config dump section)");
  flags.addString("admin-address", 0, &admin_address,
                  "read this admin (IPv4:port) instead of a mesh pod's 127.0.0.1:15000");
  if (Status s = flags.parse({args.begin() + static_cast<long>(i), args.end()}); !s.ok()) {
    err << "remoractl " << s.message() << "\n";
    return kUsageError;
  }
  if (flags.helpRequested()) {
    out << flags.usage(kProxyConfigSummary);
    return 0;
  }
  const size_t want = admin_address.empty() ? 2 : 1;
  if (positional.size() != want || (output != "short" && output != "json")) {
    err << "remoractl proxy-config: usage: remoractl proxy-config "
           "listeners|routes|clusters|endpoints|bootstrap POD[.NAMESPACE] [-o json]\n";
    return kUsageError;
  }
  auto view = parseProxyConfigView(positional[0]);
  if (!view.ok()) {
    err << "remoractl proxy-config: " << view.status().message() << "\n";
    return kUsageError;
  }
  std::string host = "127.0.0.1", netns;
  uint16_t port = 15000;
  if (!admin_address.empty()) {
    const size_t colon = admin_address.rfind(':');
    if (colon == std::string::npos) {
      err << "remoractl proxy-config: --admin-address: expected IPv4:port\n";
      return kUsageError;
    }
    host = admin_address.substr(0, colon);
    port = static_cast<uint16_t>(std::stoul(admin_address.substr(colon + 1)));
  } else {
    // A mesh pod is a network namespace named after it; POD.NAMESPACE names it as istioctl does.
    netns = positional[1];
    if (!std::filesystem::exists("/run/netns/" + netns) && netns.find('.') != std::string::npos) {
      netns = netns.substr(0, netns.find('.'));
    }
    if (!std::filesystem::exists("/run/netns/" + netns)) {
      err << "remoractl proxy-config: no pod " << positional[1] << " (no network namespace "
          << netns << "; is the mesh up?)\n";
      return 1;
    }
  }
  auto body = httpGet(host, port, proxyConfigAdminPath(view.value()), netns);
  if (!body.ok()) {
    err << "remoractl proxy-config: " << body.status().message() << "\n";
    return 1;
  }
  auto rendered = renderProxyConfig(view.value(), body.value(), output == "json");
  if (!rendered.ok()) {
    err << "remoractl proxy-config: " << rendered.status().message() << "\n";
    return 1;
  }
  out << rendered.value();
  if (!rendered.value().ends_with("\n")) out << "\n";
  return 0;
}

const RegisterCommand kRegisterProxyConfig{{"proxy-config", kProxyConfigSummary, &runProxyConfig}};

}  // namespace
}  // namespace remora::remoractl
