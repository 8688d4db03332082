// `remoractl mesh`'s plan: what the mesh will run for a directory of manifests (pods after
// injection, their addresses, VIPs, the Pod and EndpointSlice objects remora-pilot reads,
// /etc/hosts), and the manifests it refuses.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "remoractl/mesh_plan.h"

namespace remora::remoractl {
namespace {

ManifestFile bookinfo() {
  std::ifstream in(std::string(REMORA_SOURCE_DIR) + "/samples/bookinfo/bookinfo.yaml");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return {"bookinfo.yaml", buffer.str()};
}

MeshPlan plan(const std::vector<ManifestFile>& files) {
  MeshPlanOptions options;
  options.remoractl = "/opt/remoractl";
  auto result = planMesh(files, options);
  EXPECT_TRUE(result.ok()) << result.status().message();
  return result.ok() ? std::move(result).value() : MeshPlan{};
}

std::string planError(const std::vector<ManifestFile>& files) {
  auto result = planMesh(files, MeshPlanOptions{});
  EXPECT_FALSE(result.ok());
  return result.ok() ? "" : result.status().message();
}

const MeshPod& pod(const MeshPlan& p, const std::string& name) {
  for (const auto& candidate : p.pods) {
    if (candidate.name == name) return candidate;
  }
  throw std::runtime_error("no pod " + name);
}

TEST(MeshPlanTest, BookinfoPodsAddressesAndServices) {
  const MeshPlan p = plan({bookinfo()});
  std::vector<std::string> names;
  for (const auto& pd : p.pods) names.push_back(pd.name);
  EXPECT_EQ(names, (std::vector<std::string>{"details-v1-0", "ratings-v1-0", "reviews-v1-0",
                                             "reviews-v2-0", "reviews-v3-0", "productpage-v1-0"}));
  EXPECT_EQ(p.pods[0].ip, "198.18.0.10");
  EXPECT_EQ(p.pods[5].ip, "198.18.0.15");
  EXPECT_EQ(p.pods[5].veth, "rmv5");
  ASSERT_EQ(p.services.size(), 4u);
  EXPECT_EQ(p.services[0].name, "details");
  EXPECT_EQ(p.services[0].vip, "198.19.0.10");
  EXPECT_EQ(p.services[3].vip, "198.19.0.13");
  const MeshPod& reviews = pod(p, "reviews-v2-0");
  EXPECT_EQ(reviews.service_account, "bookinfo-reviews");
  EXPECT_EQ(reviews.labels.at("version"), "v2");
  EXPECT_EQ(reviews.labels.at("security.istio.io/tlsMode"), "istio");
}

TEST(MeshPlanTest, ContainersRunInjectedWithTheSidecarFirst) {
  const MeshPlan p = plan({bookinfo()});
  const MeshPod& reviews = pod(p, "reviews-v2-0");
  ASSERT_EQ(reviews.init_containers.size(), 1u);
  const MeshContainer& init = reviews.init_containers[0];
  EXPECT_EQ(init.argv[0], "/opt/remoractl");
  EXPECT_EQ(init.argv[1], "iptables");
  EXPECT_EQ(init.run_as_user, 0u);
  ASSERT_EQ(reviews.containers.size(), 2u);
  const MeshContainer& sidecar = reviews.containers[0];
  EXPECT_EQ(sidecar.name, "istio-proxy");
  EXPECT_EQ(sidecar.argv[0], "/opt/remoractl");
  EXPECT_EQ(sidecar.argv[1], "sidecar");
  EXPECT_EQ(sidecar.run_as_user, 1337u);
  EXPECT_EQ(sidecar.run_as_group, 1337u);
  EXPECT_EQ(sidecar.readiness_port, 15021u);
  EXPECT_EQ(sidecar.readiness_path, "/healthz/ready");
  std::map<std::string, std::string> env(sidecar.env.begin(), sidecar.env.end());
  EXPECT_EQ(env, (std::map<std::string, std::string>{{"POD_NAME", "reviews-v2-0"},
                                                     {"POD_NAMESPACE", "default"},
                                                     {"INSTANCE_IP", "198.18.0.13"},
                                                     {"SERVICE_ACCOUNT", "bookinfo-reviews"}}));
  const MeshContainer& app = reviews.containers[1];
  EXPECT_EQ(app.argv,
            (std::vector<std::string>{"python3", "bookinfo.py", "reviews", "--version", "v2"}));
  EXPECT_FALSE(app.run_as_user.has_value());
}

TEST(MeshPlanTest, ConfigFilesHoldEveryObjectPodsAndEndpointSlices) {
  const MeshPlan p = plan({bookinfo()});
  // 4 Services, 4 ServiceAccounts, 6 Deployments, 6 Pods, 4 EndpointSlices.
  EXPECT_EQ(p.config_files.size(), 24u);
  const YAML::Node service = YAML::Load(p.config_files.at("service.default.reviews.yaml"));
  EXPECT_EQ(service["spec"]["clusterIP"].Scalar(), "198.19.0.12");
  const YAML::Node pod_object = YAML::Load(p.config_files.at("pod.default.reviews-v3-0.yaml"));
  EXPECT_EQ(pod_object["status"]["podIP"].Scalar(), "198.18.0.14");
  EXPECT_EQ(pod_object["metadata"]["labels"]["version"].Scalar(), "v3");
  EXPECT_EQ(pod_object["spec"]["serviceAccountName"].Scalar(), "bookinfo-reviews");
  const YAML::Node slice = YAML::Load(p.config_files.at("endpointslice.default.reviews-mesh.yaml"));
  EXPECT_EQ(slice["metadata"]["labels"]["kubernetes.io/service-name"].Scalar(), "reviews");
  ASSERT_EQ(slice["endpoints"].size(), 3u);
  EXPECT_EQ(slice["endpoints"][0]["addresses"][0].Scalar(), "198.18.0.12");
  EXPECT_EQ(slice["endpoints"][2]["targetRef"]["name"].Scalar(), "reviews-v3-0");
  EXPECT_EQ(slice["ports"][0]["name"].Scalar(), "http");
  EXPECT_EQ(slice["ports"][0]["port"].as<int>(), 9080);
  // Objects that are not changed keep their text.
  EXPECT_NE(p.config_files.at("deployment.default.reviews-v2.yaml").find("kind: Deployment"),
            std::string::npos);
}

TEST(MeshPlanTest, HostsNameEveryServiceAndThePilot) {
  const MeshPlan p = plan({bookinfo()});
  const std::string hosts = p.hostsFor(pod(p, "productpage-v1-0"));
  EXPECT_NE(hosts.find("198.18.0.15\tproductpage-v1-0"), std::string::npos);  // + the host name
  EXPECT_NE(hosts.find("198.19.0.12\treviews reviews.default reviews.default.svc "
                       "reviews.default.svc.cluster.local\n"),
            std::string::npos);
  EXPECT_NE(hosts.find("198.18.0.1\tremora-pilot.remora-system.svc "), std::string::npos);
}

TEST(MeshPlanTest, ReplicasGivenVipsAndOtherNamespaces) {
  const std::string manifests = R"(apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 198.19.0.10
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: web}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec:
  selector: {app: db}
  ports: [{port: 5432}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        command: [python3, -m, http.server, "8080"]
        ports: [{name: web, containerPort: 8080}]
)";
  const MeshPlan p = plan({{"shop.yaml", manifests}});
  ASSERT_EQ(p.pods.size(), 2u);
  EXPECT_EQ(p.pods[1].name, "web-1");
  EXPECT_EQ(p.services[1].vip, "198.19.0.11");  // .10 is taken by web
  const YAML::Node slice = YAML::Load(p.config_files.at("endpointslice.shop.web-mesh.yaml"));
  EXPECT_EQ(slice["ports"][0]["port"].as<int>(), 8080);  // the named target port
  EXPECT_EQ(slice["endpoints"].size(), 2u);
  const std::string hosts = p.hostsFor(p.pods[0]);
  EXPECT_NE(hosts.find("198.19.0.11\tdb db.shop "), std::string::npos);
}

TEST(MeshPlanTest, RefusesWhatItCannotRun) {
  EXPECT_EQ(planError({{"a.yaml", "kind: Service\nmetadata: {name: x}\n"},
                       {"b.yaml", "kind: Service\nmetadata: {name: x}\n"}}),
            "Service default/x is defined in a.yaml and again in b.yaml");
  EXPECT_EQ(
      planError({{"a.yaml",
                  "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
                  "  - {name: app, image: nginx}\n"}}),
      "Pod/p: containers app: command is required (the mesh runs local programs, not images)");
  EXPECT_NE(planError({{"a.yaml", "kind: Pod\nmetadata: {name: p\n"}}).find("a.yaml: document 1"),
            std::string::npos);
  const std::string secret_env = R"(kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: app
    command: [app]
    env: [{name: TOKEN, valueFrom: {secretKeyRef: {name: s, key: k}}}]
)";
  EXPECT_NE(planError({{"a.yaml", secret_env}}).find("env TOKEN: only valueFrom.fieldRef"),
            std::string::npos);
}

TEST(MeshPlanTest, VolumesBecomeDirectoriesUnderEtcNetns) {
  const MeshPlan p = plan({bookinfo()});
  const MeshPod& reviews = pod(p, "reviews-v2-0");
  ASSERT_EQ(reviews.mounts.size(), 2u);
  EXPECT_EQ(reviews.mounts[0].mount_path, "/etc/remora/proxy");
  EXPECT_TRUE(reviews.mounts[0].files.empty());  // the emptyDir the bootstrap is written to
  EXPECT_EQ(reviews.mounts[1].mount_path, "/etc/istio/pod");
  EXPECT_NE(reviews.mounts[1].files.at("labels").find("version=\"v2\"\n"), std::string::npos);
  EXPECT_NE(reviews.mounts[1].files.at("annotations").find("sidecar.istio.io/status="),
            std::string::npos);
  const std::string tmp_mount = R"(kind: Pod
metadata: {name: p}
spec:
  volumes: [{name: scratch, emptyDir: {}}]
  containers:
  - name: app
    command: [app]
    volumeMounts: [{name: scratch, mountPath: /tmp}]
)";
  EXPECT_NE(planError({{"a.yaml", tmp_mount}}).find("mountPath /tmp: the mesh mounts volumes only "
                                                    "under /etc"),
            std::string::npos);
}

TEST(MeshPlanTest, ApplyReplacesObjectsKeepsVipsAndRefusesWorkloadsAndMtls) {
  const MeshPlan p = plan({bookinfo()});
  const std::string rules = R"(apiVersion: v1
kind: Service
metadata: {name: reviews}
spec: {selector: {app: reviews}, ports: [{port: 9080, name: http}]}
---
apiVersion: v1
kind: Service
metadata: {name: extra}
spec: {ports: [{port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec: {hosts: [reviews], http: [{route: [{destination: {host: reviews, subset: v1}}]}]}
)";
  auto applied = planApply({"rules.yaml", rules}, p.config_files);
  ASSERT_TRUE(applied.ok()) << applied.status().message();
  ASSERT_EQ(applied.value().size(), 3u);
  EXPECT_EQ(applied.value()[0].file, "service.default.reviews.yaml");
  EXPECT_NE(applied.value()[0].text.find("clusterIP: 198.19.0.12"), std::string::npos);
  EXPECT_NE(applied.value()[1].text.find("clusterIP: 198.19.0.14"), std::string::npos);
  EXPECT_EQ(applied.value()[2].file, "virtualservice.default.reviews.yaml");
  EXPECT_EQ(applied.value()[2].text.substr(0, 12), "apiVersion: ");

  auto deployment = planApply({"d.yaml", "kind: Deployment\nmetadata: {name: d}\n"}, {});
  ASSERT_FALSE(deployment.ok());
  EXPECT_NE(deployment.status().message().find("fixed while the mesh is up"), std::string::npos);
  std::ifstream in(std::string(REMORA_SOURCE_DIR) +
                   "/samples/bookinfo/networking/destination-rule-all-mtls.yaml");
  std::stringstream mtls;
  mtls << in.rdbuf();
  auto refused = planApply({"destination-rule-all-mtls.yaml", mtls.str()}, p.config_files);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("needs mutual TLS, which remora does not support yet"),
            std::string::npos);
}

TEST(MeshPlanTest, PreInjectedManifestsRunAsTheyAre) {
  MeshPlanOptions options;
  // Planning twice from the same text is stable, and a pod injected beforehand is not refused.
  const std::string injected = R"(kind: Pod
metadata:
  name: p
  annotations: {sidecar.istio.io/status: "{}"}
spec:
  containers:
  - {name: app, command: [app]}
  - {name: istio-proxy, command: [remoractl, sidecar]}
)";
  auto result = planMesh({{"p.yaml", injected}}, options);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result.value().pods[0].containers[0].name, "istio-proxy");
  EXPECT_TRUE(result.value().pods[0].init_containers.empty());
}

}  // namespace
}  // namespace remora::remoractl
