#include "remoractl/mesh_plan.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "remoractl/injector.h"
#include "remoractl/yaml_text.h"

namespace remora::remoractl {
namespace {

constexpr char kSidecarName[] = "istio-proxy";
constexpr uint32_t kFirstPodAddress = 10;      // 198.18.0.10 up; .1 is the bridge
constexpr uint32_t kFirstServiceAddress = 10;  // 198.19.0.10 up

// The kinds whose objects become pods, and how many each makes.
const std::set<std::string>& workloadKinds() {
  static const std::set<std::string> kKinds = {"Pod",       "Deployment", "StatefulSet",
                                               "DaemonSet", "ReplicaSet", "ReplicationController",
                                               "Job",       "CronJob"};
  return kKinds;
}

// node[k1][k2]..., or an undefined node when a step is missing. (A const yaml-cpp lookup of a
// missing key returns a node that throws on the next lookup, so nested lookups go through here.)
YAML::Node at(const YAML::Node& node, std::initializer_list<const char*> keys) {
  YAML::Node current = node;
  for (const char* key : keys) {
    if (!current || !current.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    const YAML::Node& map = current;
    YAML::Node next = map[key];
    if (!next) return YAML::Node(YAML::NodeType::Undefined);
    current.reset(next);
  }
  return current;
}

std::string scalar(const YAML::Node& node, const std::string& fallback = "") {
  return node && node.IsScalar() ? node.Scalar() : fallback;
}

std::map<std::string, std::string> stringMap(const YAML::Node& node) {
  std::map<std::string, std::string> out;
  if (node && node.IsMap()) {
    for (const auto& entry : node) out[entry.first.Scalar()] = scalar(entry.second);
  }
  return out;
}

std::string ipv4(uint32_t network, uint32_t offset) {
  in_addr address{htonl(network + offset)};
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &address, text, sizeof(text));
  return text;
}

uint32_t parseIpv4(const std::string& text) {
  in_addr address{};
  inet_pton(AF_INET, text.c_str(), &address);
  return ntohl(address.s_addr);
}

// One object read from the manifests.
struct ManifestObject {
  std::string file;
  std::string kind, ns, name;
  std::string text;  // its document, as written
  YAML::Node node;
};

// The pod template of a workload (the injector already checked the shape).
YAML::Node podTemplate(const YAML::Node& object) {
  const std::string kind = object["kind"].Scalar();
  if (kind == "Pod") return object;
  if (kind == "CronJob") return at(object, {"spec", "jobTemplate", "spec", "template"});
  return at(object, {"spec", "template"});
}

uint32_t replicas(const YAML::Node& object) {
  const std::string kind = object["kind"].Scalar();
  if (kind == "Pod" || kind == "DaemonSet" || kind == "Job" || kind == "CronJob") return 1;
  const YAML::Node count = at(object, {"spec", "replicas"});
  return count && count.IsScalar() ? count.as<uint32_t>() : 1;
}

class PodBuilder {
 public:
  PodBuilder(MeshPod& pod, const YAML::Node& pod_template, const MeshPlanOptions& options)
      : pod_(pod),
        spec_(at(pod_template, {"spec"})),
        annotations_(stringMap(at(pod_template, {"metadata", "annotations"}))),
        options_(options) {}

  Status build() {
    for (const auto& c : spec_["initContainers"]) {
      auto container = buildContainer(c, "initContainers");
      if (!container.ok()) return container.status();
      pod_.init_containers.push_back(std::move(container).value());
    }
    for (const auto& c : spec_["containers"]) {
      auto container = buildContainer(c, "containers");
      if (!container.ok()) return container.status();
      pod_.containers.push_back(std::move(container).value());
    }
    RETURN_IF_ERROR(buildMounts());
    // The sidecar starts first; the applications wait for it to be ready.
    std::stable_partition(pod_.containers.begin(), pod_.containers.end(),
                          [](const MeshContainer& c) { return c.name == kSidecarName; });
    return {};
  }

 private:
  StatusOr<MeshContainer> buildContainer(const YAML::Node& node, const std::string& list) {
    MeshContainer c;
    c.name = scalar(node["name"]);
    const std::string where = fmt::format("{}: {} {}", pod_.owner, list, c.name);
    if (!node["command"] || !node["command"].IsSequence() || node["command"].size() == 0) {
      return Status::error(
          fmt::format("{}: command is required (the mesh runs local programs, not images)", where));
    }
    for (const auto* key : {"command", "args"}) {
      for (const auto& arg : node[key]) c.argv.push_back(scalar(arg));
    }
    if (c.argv[0] == "remoractl") c.argv[0] = options_.remoractl;
    for (const auto& e : node["env"]) {
      auto value = envValue(e, where);
      if (!value.ok()) return value.status();
      c.env.emplace_back(scalar(e["name"]), value.value());
    }
    for (const YAML::Node& context : {spec_["securityContext"], node["securityContext"]}) {
      if (!context || !context.IsMap()) continue;
      if (context["runAsUser"]) c.run_as_user = context["runAsUser"].as<uint32_t>();
      if (context["runAsGroup"]) c.run_as_group = context["runAsGroup"].as<uint32_t>();
    }
    if (const YAML::Node probe = at(node, {"readinessProbe", "httpGet"}); probe) {
      c.readiness_path = scalar(probe["path"], "/");
      const std::string port = scalar(probe["port"]);
      for (const auto& p : node["ports"]) {
        if (scalar(p["name"]) == port) c.readiness_port = p["containerPort"].as<uint32_t>();
      }
      if (c.readiness_port == 0) c.readiness_port = static_cast<uint32_t>(std::stoul(port));
    }
    return c;
  }

  // Every container's volumeMounts, from the pod's emptyDir and downwardAPI volumes.
  Status buildMounts() {
    std::map<std::string, YAML::Node> volumes;
    for (const auto& v : spec_["volumes"])
      volumes.emplace(scalar(v["name"]), static_cast<const YAML::Node&>(v));
    std::set<std::string> paths;
    for (const auto* list : {"initContainers", "containers"}) {
      for (const auto& c : spec_[list]) {
        for (const auto& m : c["volumeMounts"]) {
          const std::string name = scalar(m["name"]);
          const std::string path = scalar(m["mountPath"]);
          const std::string where =
              fmt::format("{}: {} {}: volumeMount {}", pod_.owner, list, scalar(c["name"]), name);
          auto volume = volumes.find(name);
          if (volume == volumes.end()) return Status::error(where + ": no such volume");
          if (!path.starts_with("/etc/") || path.find("..") != std::string::npos) {
            return Status::error(fmt::format(
                "{}: mountPath {}: the mesh mounts volumes only under /etc (through /etc/netns)",
                where, path));
          }
          if (!paths.insert(path).second) continue;
          MeshMount mount{path};
          if (volume->second["downwardAPI"]) {
            for (const auto& item : at(volume->second, {"downwardAPI", "items"})) {
              const std::string field = scalar(at(item, {"fieldRef", "fieldPath"}));
              std::string content;
              if (field == "metadata.labels" || field == "metadata.annotations") {
                // As the kubelet writes them: key="value" per line, sorted.
                for (const auto& [key, value] :
                     field == "metadata.labels" ? pod_.labels : annotations_) {
                  content += fmt::format("{}=\"{}\"\n", key, value);
                }
              } else if (field == "metadata.name") {
                content = pod_.name;
              } else if (field == "metadata.namespace") {
                content = pod_.ns;
              } else {
                return Status::error(
                    fmt::format("{}: downwardAPI field {} is not supported by "
                                "the mesh",
                                where, field));
              }
              mount.files[scalar(item["path"])] = content;
            }
          } else if (!volume->second["emptyDir"]) {
            return Status::error(where +
                                 ": only emptyDir and downwardAPI volumes are supported "
                                 "by the mesh");
          }
          pod_.mounts.push_back(std::move(mount));
        }
      }
    }
    return {};
  }

  // env[].value, or the downward API fields a pod knows about itself.
  StatusOr<std::string> envValue(const YAML::Node& env, const std::string& where) const {
    if (env["value"]) return scalar(env["value"]);
    if (!env["valueFrom"]) return std::string();
    const std::string field = scalar(at(env, {"valueFrom", "fieldRef", "fieldPath"}));
    if (field == "metadata.name") return pod_.name;
    if (field == "metadata.namespace") return pod_.ns;
    if (field == "status.podIP") return pod_.ip;
    if (field == "spec.serviceAccountName") return pod_.service_account;
    if (field == "spec.nodeName") return std::string("remora-node");
    if (field == "status.hostIP") return std::string(kMeshBridgeAddress);
    return Status::error(
        fmt::format("{}: env {}: only valueFrom.fieldRef with metadata.name, "
                    "metadata.namespace, status.podIP, spec.serviceAccountName, "
                    "spec.nodeName or status.hostIP is supported by the mesh",
                    where, scalar(env["name"])));
  }

  MeshPod& pod_;
  const YAML::Node spec_;
  const std::map<std::string, std::string> annotations_;
  const MeshPlanOptions& options_;
};

bool selects(const std::map<std::string, std::string>& selector,
             const std::map<std::string, std::string>& labels) {
  if (selector.empty()) return false;
  for (const auto& [key, value] : selector) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}

std::string emit(const YAML::Node& node) {
  YAML::Emitter out;
  emitYaml(out, node);
  return std::string(out.c_str()) + "\n";
}

YAML::Node podObject(const MeshPod& pod, const YAML::Node& spec) {
  YAML::Node object;
  object["apiVersion"] = "v1";
  object["kind"] = "Pod";
  object["metadata"]["name"] = pod.name;
  object["metadata"]["namespace"] = pod.ns;
  for (const auto& [key, value] : pod.labels)
    object["metadata"]["labels"][key] = quotedScalar(value);
  object["spec"]["serviceAccountName"] = pod.service_account;
  object["spec"]["nodeName"] = "remora-node";
  for (const auto& c : spec["containers"]) {
    YAML::Node container;
    container["name"] = scalar(c["name"]);
    if (c["ports"]) container["ports"] = c["ports"];
    object["spec"]["containers"].push_back(container);
  }
  object["status"]["phase"] = "Running";
  object["status"]["podIP"] = pod.ip;
  YAML::Node ip;
  ip["ip"] = pod.ip;
  object["status"]["podIPs"].push_back(ip);
  return object;
}

// A Service's target port on one pod: a number, or the pod's container port of that name.
std::optional<uint32_t> targetPort(const MeshServicePort& port, const YAML::Node& spec) {
  const std::string& target =
      port.target_port.empty() ? std::to_string(port.port) : port.target_port;
  if (std::all_of(target.begin(), target.end(), ::isdigit)) return std::stoul(target);
  for (const auto& c : spec["containers"]) {
    for (const auto& p : c["ports"]) {
      if (scalar(p["name"]) == target) return p["containerPort"].as<uint32_t>();
    }
  }
  return std::nullopt;
}

// Hands out VIPs from 198.19.0.0/16 that nothing holds yet.
class VipAllocator {
 public:
  void take(const std::string& vip) {
    if (!vip.empty() && vip != "None") taken_.insert(parseIpv4(vip));
  }
  std::string next() {
    while (taken_.contains(network_ + next_)) ++next_;
    taken_.insert(network_ + next_);
    return ipv4(network_, next_);
  }

 private:
  const uint32_t network_ = parseIpv4("198.19.0.0");
  uint32_t next_ = kFirstServiceAddress;
  std::set<uint32_t> taken_;
};

// Mutual TLS needs certificates remora cannot issue or use yet; say so rather than route plain.
Status checkServable(const std::string& kind, const std::string& name, const YAML::Node& node) {
  if (kind != "DestinationRule") return {};
  auto uses_mtls = [](const YAML::Node& policy) {
    const std::string mode = scalar(at(policy, {"tls", "mode"}));
    return mode == "ISTIO_MUTUAL" || mode == "MUTUAL";
  };
  bool mtls = uses_mtls(at(node, {"spec", "trafficPolicy"}));
  for (const auto& subset : at(node, {"spec", "subsets"})) {
    mtls = mtls || uses_mtls(at(subset, {"trafficPolicy"}));
  }
  if (!mtls) return {};
  return Status::error(fmt::format(
      "DestinationRule/{}: trafficPolicy.tls mode ISTIO_MUTUAL/MUTUAL needs mutual TLS, which "
      "remora does not support yet (no mesh CA or TLS transport sockets)",
      name));
}

}  // namespace

std::string meshObjectFileName(const std::string& kind, const std::string& ns,
                               const std::string& name) {
  std::string file = kind + "." + ns + "." + name + ".yaml";
  std::transform(file.begin(), file.end(), file.begin(), ::tolower);
  return file;
}

std::string MeshPlan::hostsFor(const MeshPod& pod) const {
  std::string hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  hosts += fmt::format("{}\t{}\n", pod.ip, pod.name);
  for (const auto& s : services) {
    if (s.vip.empty()) continue;
    hosts += s.vip + "\t";
    if (s.ns == pod.ns) hosts += s.name + " ";
    hosts += fmt::format("{0}.{1} {0}.{1}.svc {0}.{1}.svc.cluster.local\n", s.name, s.ns);
  }
  hosts +=
      fmt::format("{}\t{} {}.cluster.local\n", kMeshBridgeAddress, kMeshPilotHost, kMeshPilotHost);
  return hosts;
}

StatusOr<MeshPlan> planMesh(const std::vector<ManifestFile>& manifests,
                            const MeshPlanOptions& options) {
  std::vector<ManifestObject> objects;
  std::map<std::string, std::string> defined_in;  // config file name -> manifest file
  for (const auto& file : manifests) {
    const auto documents = splitYamlDocuments(file.text);
    for (size_t i = 0; i < documents.size(); ++i) {
      ManifestObject object{file.name};
      try {
        object.node = YAML::Load(documents[i]);
      } catch (const YAML::Exception& e) {
        return Status::error(fmt::format("{}: document {}: {}", file.name, i + 1, e.what()));
      }
      if (!object.node.IsMap()) continue;  // an empty document
      const YAML::Node& node = object.node;
      object.kind = scalar(node["kind"]);
      object.name = scalar(at(node, {"metadata", "name"}));
      object.ns = scalar(at(node, {"metadata", "namespace"}), "default");
      if (object.kind.empty() || object.name.empty()) {
        return Status::error(
            fmt::format("{}: document {}: kind and metadata.name are required", file.name, i + 1));
      }
      object.text = documents[i];
      if (object.text.starts_with("---"))
        object.text = object.text.substr(object.text.find('\n') + 1);
      const std::string key = meshObjectFileName(object.kind, object.ns, object.name);
      if (auto [it, added] = defined_in.emplace(key, file.name); !added) {
        return Status::error(fmt::format("{} {}/{} is defined in {} and again in {}", object.kind,
                                         object.ns, object.name, it->second, file.name));
      }
      objects.push_back(std::move(object));
    }
  }

  MeshPlan plan;
  // Services: keep given VIPs, then hand out the next free ones in a stable order.
  VipAllocator vips;
  for (auto& object : objects) {
    RETURN_IF_ERROR(checkServable(object.kind, object.name, object.node).withPrefix(object.file));
    if (object.kind == "Service") vips.take(scalar(at(object.node, {"spec", "clusterIP"})));
  }
  for (auto& object : objects) {
    if (object.kind != "Service") continue;
    const YAML::Node& node = object.node;
    MeshService service{object.name, object.ns, scalar(at(node, {"spec", "clusterIP"}))};
    if (service.vip.empty()) {
      service.vip = vips.next();
      YAML::Node copy = YAML::Clone(node);
      copy["spec"]["clusterIP"] = service.vip;
      object.text = emit(copy);
    } else if (service.vip == "None") {
      service.vip.clear();  // headless: no VIP, endpoints only
    }
    service.selector = stringMap(at(node, {"spec", "selector"}));
    for (const auto& p : at(node, {"spec", "ports"})) {
      service.ports.push_back({scalar(p["name"]), p["port"].as<uint32_t>(), scalar(p["targetPort"]),
                               scalar(p["protocol"], "TCP")});
    }
    plan.services.push_back(std::move(service));
  }

  // Pods, from each workload's injected pod template.
  InjectOptions inject_options;
  inject_options.proxy_image = options.proxy_image;
  inject_options.discovery_address = std::string(kMeshPilotHost) + ":15010";
  inject_options.keep_injected = true;  // a manifest injected beforehand runs as it is
  const uint32_t pod_network = parseIpv4("198.18.0.0");
  std::vector<YAML::Node> pod_specs;  // parallel to plan.pods
  std::set<std::string> pod_names;
  for (const auto& object : objects) {
    if (!workloadKinds().contains(object.kind)) continue;
    auto injected = injectManifests(object.text, inject_options);
    if (!injected.ok()) return injected.status().withPrefix(object.file);
    const YAML::Node workload = YAML::Load(injected.value());
    const YAML::Node pod_template = podTemplate(workload);
    const uint32_t count = replicas(workload);
    for (uint32_t r = 0; r < count; ++r) {
      MeshPod pod;
      pod.name = object.kind == "Pod" ? object.name : fmt::format("{}-{}", object.name, r);
      pod.ns = object.ns;
      pod.owner = object.kind + "/" + object.name;
      if (!pod_names.insert(pod.name).second) {
        return Status::error(
            fmt::format("{}: pod name {} is taken (pods are network "
                        "namespaces, named without their namespace)",
                        pod.owner, pod.name));
      }
      if (pod.name.size() > 60) {
        return Status::error(fmt::format("{}: pod name {} is too long", pod.owner, pod.name));
      }
      pod.service_account = scalar(at(pod_template, {"spec", "serviceAccountName"}), "default");
      pod.labels = stringMap(at(pod_template, {"metadata", "labels"}));
      pod.ip = ipv4(pod_network, kFirstPodAddress + static_cast<uint32_t>(plan.pods.size()));
      pod.veth = fmt::format("rmv{}", plan.pods.size());
      pod.run_to_completion = object.kind == "Job" || object.kind == "CronJob";
      PodBuilder builder(pod, pod_template, options);
      RETURN_IF_ERROR(builder.build());
      plan.config_files[meshObjectFileName("Pod", pod.ns, pod.name)] =
          emit(podObject(pod, pod_template["spec"]));
      plan.pods.push_back(std::move(pod));
      pod_specs.push_back(pod_template["spec"]);
    }
  }

  // Every input object in a file of its own; a workload that is a bare Pod is the generated one.
  for (const auto& object : objects) {
    if (object.kind == "Pod") continue;
    plan.config_files[meshObjectFileName(object.kind, object.ns, object.name)] = object.text;
  }

  // One EndpointSlice per Service with a selector: the pods it selects, ready.
  for (const auto& service : plan.services) {
    if (service.selector.empty()) continue;
    YAML::Node slice;
    slice["apiVersion"] = "discovery.k8s.io/v1";
    slice["kind"] = "EndpointSlice";
    slice["metadata"]["name"] = service.name + "-mesh";
    slice["metadata"]["namespace"] = service.ns;
    slice["metadata"]["labels"]["kubernetes.io/service-name"] = service.name;
    slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] = "remoractl-mesh";
    slice["addressType"] = "IPv4";
    slice["endpoints"] = YAML::Node(YAML::NodeType::Sequence);
    std::optional<YAML::Node> first_spec;
    for (size_t i = 0; i < plan.pods.size(); ++i) {
      const MeshPod& pod = plan.pods[i];
      if (pod.ns != service.ns || !selects(service.selector, pod.labels)) continue;
      if (!first_spec) first_spec = pod_specs[i];
      YAML::Node endpoint;
      endpoint["addresses"].push_back(pod.ip);
      endpoint["conditions"]["ready"] = true;
      endpoint["conditions"]["serving"] = true;
      endpoint["conditions"]["terminating"] = false;
      endpoint["nodeName"] = "remora-node";
      endpoint["targetRef"]["kind"] = "Pod";
      endpoint["targetRef"]["name"] = pod.name;
      endpoint["targetRef"]["namespace"] = pod.ns;
      slice["endpoints"].push_back(endpoint);
    }
    for (const auto& port : service.ports) {
      YAML::Node p;
      if (!port.name.empty()) p["name"] = port.name;
      const auto target = first_spec ? targetPort(port, *first_spec) : std::nullopt;
      p["port"] = target.value_or(port.port);
      p["protocol"] = port.protocol;
      slice["ports"].push_back(p);
    }
    plan.config_files[meshObjectFileName("EndpointSlice", service.ns, service.name + "-mesh")] =
        emit(slice);
  }
  return plan;
}

}  // namespace remora::remoractl

namespace remora::remoractl {

StatusOr<std::vector<AppliedObject>> planApply(const ManifestFile& file,
                                               const std::map<std::string, std::string>& current) {
  VipAllocator vips;
  for (const auto& [name, text] : current) {
    if (!name.starts_with("service.")) continue;
    try {
      vips.take(scalar(at(YAML::Load(text), {"spec", "clusterIP"})));
    } catch (const YAML::Exception&) {
    }
  }
  std::vector<AppliedObject> writes;
  std::set<std::string> seen;
  const auto documents = splitYamlDocuments(file.text);
  for (size_t i = 0; i < documents.size(); ++i) {
    YAML::Node node;
    try {
      node = YAML::Load(documents[i]);
    } catch (const YAML::Exception& e) {
      return Status::error(fmt::format("{}: document {}: {}", file.name, i + 1, e.what()));
    }
    if (!node.IsMap()) continue;
    const std::string kind = scalar(node["kind"]);
    const std::string name = scalar(at(node, {"metadata", "name"}));
    const std::string ns = scalar(at(node, {"metadata", "namespace"}), "default");
    if (kind.empty() || name.empty()) {
      return Status::error(
          fmt::format("{}: document {}: kind and metadata.name are required", file.name, i + 1));
    }
    if (workloadKinds().contains(kind) || kind == "EndpointSlice") {
      return Status::error(fmt::format(
          "{}: {}/{}: pods and their endpoints are fixed while the mesh is up (mesh down, then "
          "mesh up with the new manifests)",
          file.name, kind, name));
    }
    RETURN_IF_ERROR(checkServable(kind, name, node).withPrefix(file.name));
    const std::string target = meshObjectFileName(kind, ns, name);
    if (!seen.insert(target).second) {
      return Status::error(fmt::format("{}: {} {}/{} is defined twice", file.name, kind, ns, name));
    }
    std::string text = documents[i];
    if (kind == "Service" && scalar(at(node, {"spec", "clusterIP"})).empty()) {
      std::string vip;
      if (auto it = current.find(target); it != current.end()) {
        vip = scalar(at(YAML::Load(it->second), {"spec", "clusterIP"}));
      }
      node["spec"]["clusterIP"] = vip.empty() ? vips.next() : vip;
      text = emit(node);
    }
    if (text.starts_with("---")) text = text.substr(text.find('\n') + 1);
    writes.push_back({kind, name, target, text});
  }
  return writes;
}

}  // namespace remora::remoractl
