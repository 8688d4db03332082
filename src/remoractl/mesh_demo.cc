// `remoractl mesh demo`: Bookinfo in the local mesh, with Istio's traffic-management rules
// applied one after the other and what each changed shown from a client pod's point of view.
#include "remoractl/mesh_demo.h"

#include <fmt/format.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "remoractl/command.h"
#include "remoractl/file_io.h"
#include "remoractl/flags.h"
#include "remoractl/http_get.h"
#include "remoractl/mesh_lifecycle.h"
#include "remoractl/mesh_network.h"
#include "remoractl/process.h"
#include "remoractl/proxy_status.h"

namespace remora::remoractl {
namespace {

namespace fs = std::filesystem;
using google::protobuf::Value;

// The demo's own client: a pod with a sidecar whose application idles; traffic is driven from
// inside it with `bookinfo.py load`.
constexpr char kClientManifest[] = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: client
  labels: {app: client}
spec:
  replicas: 1
  selector:
    matchLabels: {app: client}
  template:
    metadata:
      labels: {app: client, version: v1}
    spec:
      containers:
      - name: client
        command: ["sleep", "infinity"]
)";

struct Step {
  const char* file;
  const char* what;
};

// Istio's Bookinfo traffic-management tasks, in order.
constexpr Step kSteps[] = {
    {"destination-rule-all.yaml", "subsets v1, v2 and v3 for every service (routing unchanged)"},
    {"virtual-service-all-v1.yaml", "every service to v1"},
    {"virtual-service-reviews-test-v2.yaml", "jason to reviews v2, everyone else to v1"},
    {"virtual-service-ratings-test-delay.yaml",
     "a 7 s delay on ratings for jason (productpage gives reviews 2 x 3 s)"},
    {"virtual-service-ratings-test-abort.yaml", "ratings answers 500 to jason"},
    {"virtual-service-reviews-50-v3.yaml", "reviews split 50/50 between v1 and v3"},
};

// samples/bookinfo next to the source tree this remoractl was built from, or under the cwd.
std::string defaultSamples() {
  const fs::path from_binary = fs::path(selfPath()).parent_path() / "../../samples/bookinfo";
  std::error_code ec;
  if (fs::exists(from_binary / "bookinfo.yaml", ec))
    return fs::weakly_canonical(from_binary).string();
  return fs::absolute("samples/bookinfo").string();
}

// Every proxy has acknowledged everything remora-pilot sent it, and something changed since
// `before` (so a push caused by the rule has happened). Bounded waits, polled.
std::string syncz() {
  auto body = pilotSyncz();
  return body.ok() ? body.value() : "";
}

bool allAcked(const std::string& syncz_json, size_t proxies) {
  auto parsed = parseSyncz(syncz_json);
  if (!parsed.ok() || parsed.value().size() < proxies) return false;
  for (const auto& proxy : parsed.value()) {
    for (const auto& [type, state] : proxy.types) {
      if (state != "SYNCED" && state != "NOT SENT") return false;
    }
  }
  return true;
}

void waitForSync(const std::string& before, size_t proxies) {
  using Clock = std::chrono::steady_clock;
  const auto change_deadline = Clock::now() + std::chrono::seconds(3);
  while (Clock::now() < change_deadline && syncz() == before) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto ack_deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < ack_deadline && !allAcked(syncz(), proxies)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

struct Traffic {
  int requests = 0, errors = 0, reviews_unavailable = 0, ratings_unavailable = 0;
  double max_seconds = 0;
  std::map<std::string, int> versions;
};

StatusOr<Traffic> drive(const std::string& samples, const std::string& user, int requests) {
  std::vector<std::string> argv =
      inNamespace("client-0", {"python3", samples + "/bookinfo.py", "load", "--requests",
                               std::to_string(requests), "--concurrency", std::to_string(requests),
                               "--user", user});
  auto result = runProcess(argv, "");
  if (!result.ok()) return result.status();
  if (result.value().exit_code != 0) return Status::error("load: " + result.value().err);
  Value summary;
  if (!google::protobuf::util::JsonStringToMessage(result.value().out, &summary).ok()) {
    return Status::error("load printed: " + result.value().out);
  }
  const auto& f = summary.struct_value().fields();
  Traffic t;
  t.requests = static_cast<int>(f.at("requests").number_value());
  t.errors = static_cast<int>(f.at("errors").number_value());
  t.reviews_unavailable = static_cast<int>(f.at("reviews_unavailable").number_value());
  t.ratings_unavailable = static_cast<int>(f.at("ratings_unavailable").number_value());
  t.max_seconds = f.at("max_seconds").number_value();
  for (const auto& [version, count] : f.at("versions").struct_value().fields()) {
    t.versions[version] = static_cast<int>(count.number_value());
  }
  return t;
}

std::string describe(const Traffic& t) {
  std::string out;
  for (const auto& [version, count] : t.versions) {
    out += fmt::format("{}reviews {} {:>3.0f}%", out.empty() ? "" : ", ", version,
                       100.0 * count / t.requests);
  }
  if (t.reviews_unavailable > 0) {
    out += fmt::format("{}reviews unavailable {}/{}", out.empty() ? "" : ", ",
                       t.reviews_unavailable, t.requests);
  }
  if (t.ratings_unavailable > 0) {
    out += fmt::format(", ratings unavailable {}/{}", t.ratings_unavailable, t.requests);
  }
  if (t.errors > 0) out += fmt::format(", {} failed", t.errors);
  return out + fmt::format("  (slowest {:.1f} s)", t.max_seconds);
}

// Traffic as jason and as everyone else, printed.
Status show(const std::string& samples, int requests, std::ostream& out) {
  for (const auto& [label, user] : {std::pair{"jason:     ", "jason"}, {"everyone:  ", ""}}) {
    auto traffic = drive(samples, user, requests);
    if (!traffic.ok()) return traffic.status();
    out << "   " << label << describe(traffic.value()) << "\n";
    out.flush();
  }
  return {};
}

}  // namespace

int runMeshDemo(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  bool once = false;
  std::string samples = defaultSamples(), requests = "20";
  FlagSet flags("mesh demo");
  flags.addBool("once", 0, &once, "tear the mesh down at the end instead of leaving it up");
  flags.addString("samples", 0, &samples, "the Bookinfo sample directory");
  flags.addString("requests", 0, &requests, "requests per user after each rule");
  if (Status s = flags.parse(args); !s.ok()) {
    err << "remoractl " << s.message() << "\n";
    return kUsageError;
  }
  if (flags.helpRequested()) {
    out << flags.usage("Bookinfo in a local mesh, with Istio's routing rules applied in turn");
    return 0;
  }
  auto manifests = readManifests(samples + "/bookinfo.yaml");
  if (!manifests.ok()) {
    err << "remoractl mesh demo: " << manifests.status().message() << "\n";
    return 1;
  }
  manifests.value().push_back({"demo-client.yaml", kClientManifest});
  const size_t pods = 7;  // Bookinfo's six and the client
  out << "== Bringing up Bookinfo (" << pods
      << " pods, each a network namespace with its sidecar) and remora-pilot\n";
  if (int rc = bringUp(manifests.value(), samples, "", 120, out, err); rc != 0) {
    if (once) bringDown();
    return rc;
  }
  const int n = std::stoi(requests);
  auto finish = [&](int rc) {
    if (once) {
      bringDown();
      out << "\n== The mesh is down.\n";
    } else {
      out << "\n== The mesh stays up. Explore it:\n"
          << "   remoractl mesh status\n"
          << "   remoractl mesh exec client-0 -- curl -s -H 'end-user: jason' "
             "http://productpage:9080/productpage\n"
          << "   remoractl proxy-config routes productpage-v1-0\n"
          << "   remoractl mesh apply -f " << samples << "/networking/<rule>.yaml\n"
          << "   remoractl mesh down\n";
    }
    return rc;
  };
  out << "\n== No rules: reviews round-robins over v1, v2 and v3\n";
  if (Status s = show(samples, n, out); !s.ok()) {
    err << "remoractl mesh demo: " << s.message() << "\n";
    return finish(1);
  }
  for (const auto& step : kSteps) {
    out << "\n== " << step.file << ": " << step.what << "\n";
    const std::string before = syncz();
    auto text = readInput(samples + "/networking/" + step.file);
    std::ostringstream applied;
    if (!text.ok() || applyManifests({step.file, text.value()}, applied, err) != 0) {
      return finish(1);
    }
    waitForSync(before, pods);
    if (Status s = show(samples, n, out); !s.ok()) {
      err << "remoractl mesh demo: " << s.message() << "\n";
      return finish(1);
    }
  }
  out << "\n== destination-rule-all-mtls.yaml (mutual TLS):\n";
  auto mtls = readInput(samples + "/networking/destination-rule-all-mtls.yaml");
  std::ostringstream mtls_err, ignored;
  if (mtls.ok())
    applyManifests({"destination-rule-all-mtls.yaml", mtls.value()}, ignored, mtls_err);
  out << "   refused: " << mtls_err.str();
  return finish(0);
}

}  // namespace remora::remoractl
