#include "remoractl/command.h"
#include "remoractl/flags.h"
#include "remoractl/mesh_lifecycle.h"
#include "remoractl/proxy_status.h"

namespace remora::remoractl {
namespace {

constexpr char kProxyStatusSummary[] =
    "each proxy's sync state per xDS type (SYNCED, STALE, NACK, NOT SENT) from remora-pilot, as "
    "istioctl proxy-status";

int runProxyStatus(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string pilot_address;
  FlagSet flags("proxy-status");
  flags.addString("pilot-address", 0, &pilot_address,
                  "remora-pilot's monitoring address (IPv4:port) instead of the local mesh's");
  if (Status s = flags.parse(args); !s.ok()) {
    err << "remoractl " << s.message() << "\n";
    return kUsageError;
  }
  if (flags.helpRequested()) {
    out << flags.usage(kProxyStatusSummary);
    return 0;
  }
  auto syncz = pilotSyncz(pilot_address);
  if (!syncz.ok()) {
    err << "remoractl proxy-status: " << syncz.status().message() << "\n";
    return 1;
  }
  auto proxies = parseSyncz(syncz.value());
  if (!proxies.ok()) {
    err << "remoractl proxy-status: " << proxies.status().message() << "\n";
    return 1;
  }
  out << renderProxyStatus(proxies.value());
  return 0;
}

const RegisterCommand kRegisterProxyStatus{{"proxy-status", kProxyStatusSummary, &runProxyStatus}};

}  // namespace
}  // namespace remora::remoractl
