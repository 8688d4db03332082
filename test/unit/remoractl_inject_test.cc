// `remoractl inject`: Istio's Bookinfo injected (golden), other documents copied byte for byte,
// every workload kind, the opt-outs, the traffic annotations turned into iptables flags, and the
// refusals (already injected, unsupported annotations, malformed input).
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "remoractl/command.h"
#include "remoractl/injector.h"
#include "remoractl/iptables_command.h"

namespace remora::remoractl {
namespace {

std::string testdata(const std::string& name) {
  std::ifstream in(std::string(REMORA_SOURCE_DIR) + "/test/unit/testdata/remoractl/" + name);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string inject(const std::string& manifests) {
  auto out = injectManifests(manifests, InjectOptions{});
  EXPECT_TRUE(out.ok()) << out.status().message();
  return out.ok() ? out.value() : "";
}

std::string injectError(const std::string& manifests) {
  auto out = injectManifests(manifests, InjectOptions{});
  EXPECT_FALSE(out.ok());
  return out.ok() ? "" : out.status().message();
}

// The pod spec of the first document (a Pod, or a workload's template).
YAML::Node podSpec(const std::string& yaml) {
  YAML::Node doc = YAML::Load(yaml);
  if (doc["kind"].Scalar() == "Pod") return doc["spec"];
  if (doc["kind"].Scalar() == "CronJob")
    return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"];
  return doc["spec"]["template"]["spec"];
}

std::vector<std::string> initArgs(const std::string& yaml) {
  return podSpec(yaml)["initContainers"][0]["args"].as<std::vector<std::string>>();
}

constexpr char kDeployment[] = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: reviews-v1
spec:
  selector:
    matchLabels: {app: reviews}
  template:
    metadata:
      labels: {app: reviews, version: v1}
    spec:
      containers:
      - name: reviews
        image: reviews
        command: ["/bin/reviews"]
)";

TEST(RemoractlInjectTest, BookinfoMatchesGolden) {
  EXPECT_EQ(inject(testdata("bookinfo.yaml")), testdata("bookinfo_injected.yaml"));
}

TEST(RemoractlInjectTest, EveryWorkloadIsInjectedAndOtherDocumentsAreCopiedVerbatim) {
  const std::string input = testdata("bookinfo.yaml");
  const std::string output = inject(input);
  std::vector<YAML::Node> in_docs = YAML::LoadAll(input), out_docs = YAML::LoadAll(output);
  ASSERT_EQ(in_docs.size(), out_docs.size());
  int deployments = 0;
  for (size_t i = 0; i < in_docs.size(); ++i) {
    const YAML::Node& in_doc = in_docs[i];  // const: a lookup must not add the key
    if (!in_doc.IsMap() || in_doc["kind"].Scalar() != "Deployment") {
      EXPECT_EQ(YAML::Dump(in_docs[i]), YAML::Dump(out_docs[i]));
      continue;
    }
    ++deployments;
    const YAML::Node spec = out_docs[i]["spec"]["template"]["spec"];
    EXPECT_EQ(spec["initContainers"][0]["name"].Scalar(), "istio-init");
    const YAML::Node& containers = spec["containers"];
    EXPECT_EQ(containers[containers.size() - 1]["name"].Scalar(), "istio-proxy");
    EXPECT_EQ(containers.size(), in_docs[i]["spec"]["template"]["spec"]["containers"].size() + 1);
    // The application's own settings survive.
    EXPECT_EQ(YAML::Dump(containers[0]),
              YAML::Dump(in_docs[i]["spec"]["template"]["spec"]["containers"][0]));
  }
  EXPECT_EQ(deployments, 6);  // details, ratings, reviews v1-v3, productpage
}

TEST(RemoractlInjectTest, SidecarGetsIstiosContract) {
  const YAML::Node spec = podSpec(inject(kDeployment));
  const YAML::Node proxy = spec["containers"][1];
  EXPECT_EQ(proxy["image"].Scalar(), "remora/proxy:latest");
  EXPECT_EQ(proxy["command"][0].Scalar(), "remoractl");
  const auto args = proxy["args"].as<std::vector<std::string>>();
  EXPECT_EQ(args[0], "sidecar");
  EXPECT_NE(std::find(args.begin(), args.end(), "remora-pilot.remora-system.svc:15010"),
            args.end());
  std::map<std::string, std::string> env;
  for (const auto& e : proxy["env"])
    env[e["name"].Scalar()] = e["valueFrom"]["fieldRef"]["fieldPath"].Scalar();
  EXPECT_EQ(env,
            (std::map<std::string, std::string>{{"POD_NAME", "metadata.name"},
                                                {"POD_NAMESPACE", "metadata.namespace"},
                                                {"INSTANCE_IP", "status.podIP"},
                                                {"SERVICE_ACCOUNT", "spec.serviceAccountName"}}));
  EXPECT_EQ(proxy["ports"][0]["containerPort"].as<int>(), 15090);
  EXPECT_EQ(proxy["ports"][1]["containerPort"].as<int>(), 15021);
  EXPECT_EQ(proxy["readinessProbe"]["httpGet"]["path"].Scalar(), "/healthz/ready");
  EXPECT_EQ(proxy["readinessProbe"]["httpGet"]["port"].as<int>(), 15021);
  EXPECT_EQ(proxy["securityContext"]["runAsUser"].as<int>(), 1337);
  EXPECT_EQ(proxy["securityContext"]["runAsGroup"].as<int>(), 1337);
  EXPECT_EQ(spec["volumes"][0]["name"].Scalar(), "istio-envoy");
  EXPECT_EQ(spec["volumes"][1]["name"].Scalar(), "istio-podinfo");
  const YAML::Node meta = YAML::Load(inject(kDeployment))["spec"]["template"]["metadata"];
  EXPECT_TRUE(meta["annotations"]["sidecar.istio.io/status"].IsScalar());
  EXPECT_EQ(meta["labels"]["security.istio.io/tlsMode"].Scalar(), "istio");
  EXPECT_EQ(meta["labels"]["service.istio.io/canonical-name"].Scalar(), "reviews");
  EXPECT_EQ(meta["labels"]["service.istio.io/canonical-revision"].Scalar(), "v1");
  EXPECT_EQ(initArgs(inject(kDeployment)),
            (std::vector<std::string>{"iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m",
                                      "REDIRECT", "-i", "*", "-x", "", "-b", "*", "-d",
                                      "15090,15021,15020"}));
}

// The injected containers' command lines are ones remoractl itself accepts: the init container's
// installs exactly the default capture rules, the sidecar's builds a bootstrap.
TEST(RemoractlInjectTest, InjectedCommandLinesRunAsRemoractlCommands) {
  const YAML::Node spec = podSpec(inject(kDeployment));
  auto args = spec["initContainers"][0]["args"].as<std::vector<std::string>>();
  ASSERT_EQ(args[0], "iptables");
  args.erase(args.begin());
  args.push_back("--dry-run");
  IptablesHost ipv4_only = IptablesHost::real();
  ipv4_only.has_ipv6 = [] { return false; };
  std::ostringstream out, err;
  ASSERT_EQ(runIptables(args, out, err, ipv4_only), 0) << err.str();
  EXPECT_EQ(out.str(), testdata("iptables_defaults.rules"));
  auto sidecar = spec["containers"][1]["args"].as<std::vector<std::string>>();
  ASSERT_EQ(sidecar[0], "sidecar");
  sidecar[0] = "bootstrap";  // the same flags, printing instead of running remora
  for (const char* fact : {"--pod-name", "reviews-v1-0", "--instance-ip", "198.18.0.7"}) {
    sidecar.push_back(fact);
  }
  std::ostringstream bootstrap, bootstrap_err;
  ASSERT_EQ(dispatch(sidecar, bootstrap, bootstrap_err), 0) << bootstrap_err.str();
  EXPECT_NE(
      bootstrap.str().find("sidecar~198.18.0.7~reviews-v1-0.default~default.svc.cluster.local"),
      std::string::npos);
}

TEST(RemoractlInjectTest, InjectingTwiceIsRefused) {
  const std::string once = inject(kDeployment);
  EXPECT_EQ(injectError(once),
            "Deployment/reviews-v1: already injected (sidecar.istio.io/status is set)");
}

TEST(RemoractlInjectTest, ContainerNamedIstioProxyCountsAsInjected) {
  std::string manual = kDeployment;
  manual += "      - name: istio-proxy\n        image: x\n";
  EXPECT_EQ(injectError(manual),
            "Deployment/reviews-v1: already injected (it has a container named istio-proxy)");
}

TEST(RemoractlInjectTest, OptOutByAnnotationOrLabelLeavesTheDocumentAlone) {
  for (const char* where : {"annotations", "labels"}) {
    std::string doc = kDeployment;
    const std::string anchor = "      labels: {app: reviews, version: v1}\n";
    const std::string opt_out =
        std::string("      ") + where + ":\n        sidecar.istio.io/inject: \"false\"\n";
    doc.replace(
        doc.find(anchor), anchor.size(),
        std::string(where) == "labels"
            ? "      labels: {app: reviews, version: v1, sidecar.istio.io/inject: \"false\"}\n"
            : anchor + opt_out);
    EXPECT_EQ(inject(doc), doc) << where;
  }
  std::string bad = kDeployment;
  bad.insert(bad.find("    spec:\n      containers"),
             "      annotations:\n        sidecar.istio.io/inject: \"maybe\"\n");
  EXPECT_EQ(injectError(bad),
            "Deployment/reviews-v1: sidecar.istio.io/inject: 'maybe' is not a boolean");
}

TEST(RemoractlInjectTest, HostNetworkPodsAreLeftAlone) {
  const std::string pod = R"(apiVersion: v1
kind: Pod
metadata:
  name: node-agent
spec:
  hostNetwork: true
  containers:
  - name: agent
    image: agent
)";
  EXPECT_EQ(inject(pod), pod);
}

TEST(RemoractlInjectTest, TrafficAnnotationsBecomeIptablesFlags) {
  std::string doc = kDeployment;
  doc.insert(doc.find("    spec:\n      containers"),
             "      annotations:\n"
             "        traffic.sidecar.istio.io/includeOutboundIPRanges: \"198.19.0.0/16\"\n"
             "        traffic.sidecar.istio.io/excludeOutboundIPRanges: \"198.19.9.0/24\"\n"
             "        traffic.sidecar.istio.io/includeInboundPorts: \"9080\"\n"
             "        traffic.sidecar.istio.io/excludeInboundPorts: \"9090\"\n"
             "        traffic.sidecar.istio.io/includeOutboundPorts: \"443\"\n"
             "        traffic.sidecar.istio.io/excludeOutboundPorts: \"3306\"\n");
  EXPECT_EQ(initArgs(inject(doc)), (std::vector<std::string>{"iptables",
                                                             "-p",
                                                             "15001",
                                                             "-z",
                                                             "15006",
                                                             "-u",
                                                             "1337",
                                                             "-m",
                                                             "REDIRECT",
                                                             "-i",
                                                             "198.19.0.0/16",
                                                             "-x",
                                                             "198.19.9.0/24",
                                                             "-b",
                                                             "9080",
                                                             "-d",
                                                             "15090,15021,15020,9090",
                                                             "-q",
                                                             "443",
                                                             "-o",
                                                             "3306"}));
}

TEST(RemoractlInjectTest, UnsupportedInjectionAnnotationIsAnError) {
  std::string doc = kDeployment;
  doc.insert(doc.find("    spec:\n      containers"),
             "      annotations:\n        traffic.sidecar.istio.io/excludeInterfaces: eth1\n");
  EXPECT_EQ(injectError(doc),
            "Deployment/reviews-v1: annotation traffic.sidecar.istio.io/excludeInterfaces is not "
            "supported by remora");
}

TEST(RemoractlInjectTest, EveryWorkloadKindFindsItsPodTemplate) {
  const std::string pod_spec = "      containers:\n      - name: app\n        image: app\n";
  const std::vector<std::pair<std::string, std::string>> kinds = {
      {"Pod", "spec:\n" + std::string("  containers:\n  - name: app\n    image: app\n")},
      {"StatefulSet", "spec:\n  template:\n    spec:\n" + pod_spec},
      {"DaemonSet", "spec:\n  template:\n    spec:\n" + pod_spec},
      {"ReplicaSet", "spec:\n  template:\n    spec:\n" + pod_spec},
      {"ReplicationController", "spec:\n  template:\n    spec:\n" + pod_spec},
      {"Job", "spec:\n  template:\n    spec:\n" + pod_spec},
      {"CronJob",
       "spec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n"
       "          containers:\n          - name: app\n            image: app\n"}};
  for (const auto& [kind, body] : kinds) {
    const std::string doc = "kind: " + kind + "\nmetadata:\n  name: w\n" + body;
    const YAML::Node spec = podSpec(inject(doc));
    ASSERT_TRUE(spec["containers"].IsSequence()) << kind;
    EXPECT_EQ(spec["containers"][1]["name"].Scalar(), "istio-proxy") << kind;
    EXPECT_EQ(spec["initContainers"][0]["name"].Scalar(), "istio-init") << kind;
  }
}

TEST(RemoractlInjectTest, ListItemsAreInjected) {
  const std::string list = R"(apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a}
  spec:
    containers: [{name: app, image: app}]
- apiVersion: v1
  kind: Service
  metadata: {name: a}
  spec: {ports: [{port: 80}]}
)";
  const YAML::Node out = YAML::Load(inject(list));
  EXPECT_EQ(out["items"][0]["spec"]["containers"][1]["name"].Scalar(), "istio-proxy");
  EXPECT_FALSE(out["items"][1]["spec"]["containers"]);
}

TEST(RemoractlInjectTest, MalformedInputNamesTheProblem) {
  EXPECT_NE(injectError("kind: Pod\nmetadata: {name: a\n").find("document 1"), std::string::npos);
  EXPECT_EQ(injectError("kind: Deployment\nmetadata: {name: d}\nspec: {}\n"),
            "Deployment/d: spec.template is missing");
  EXPECT_EQ(injectError("kind: Pod\nmetadata: {name: p}\nspec: {}\n"),
            "Pod/p: spec.containers is missing");
}

TEST(RemoractlInjectTest, CommandWritesNothingOnError) {
  std::ostringstream out, err;
  EXPECT_EQ(dispatch({"inject", "-f", "/nonexistent.yaml"}, out, err), 1);
  EXPECT_EQ(out.str(), "");
  EXPECT_NE(err.str().find("cannot read /nonexistent.yaml"), std::string::npos);
  std::ostringstream out2, err2;
  EXPECT_EQ(dispatch({"inject"}, out2, err2), kUsageError);
}

}  // namespace
}  // namespace remora::remoractl
