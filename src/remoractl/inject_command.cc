#include "remoractl/command.h"
#include "remoractl/file_io.h"
#include "remoractl/flags.h"
#include "remoractl/injector.h"

namespace remora::remoractl {
namespace {

constexpr char kInjectSummary[] =
    "add the sidecar (istio-proxy) and capture init (istio-init) containers to Kubernetes "
    "manifests, as istioctl kube-inject";

int runInject(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  InjectOptions options;
  std::string input;
  std::string output = "-";
  FlagSet flags("inject");
  flags.addString("filename", 'f', &input, "manifests to inject ('-': stdin)");
  flags.addString("output", 'o', &output, "where to write the result ('-': stdout)");
  flags.addString("proxy-image", 0, &options.proxy_image, "image of both injected containers");
  flags.addString("discovery-address", 0, &options.discovery_address,
                  "remora-pilot's xDS address the sidecars connect to");
  if (Status s = flags.parse(args); !s.ok()) {
    err << "remoractl " << s.message() << "\n";
    return kUsageError;
  }
  if (flags.helpRequested()) {
    out << flags.usage(kInjectSummary);
    return 0;
  }
  if (input.empty()) {
    err << "remoractl inject: -f/--filename is required\n";
    return kUsageError;
  }
  auto manifests = readInput(input);
  if (!manifests.ok()) {
    err << "remoractl inject: " << manifests.status().message() << "\n";
    return 1;
  }
  return writeResult(injectManifests(manifests.value(), options), output, "inject", out, err);
}

const RegisterCommand kRegisterInject{{"inject", kInjectSummary, &runInject}};

}  // namespace
}  // namespace remora::remoractl
