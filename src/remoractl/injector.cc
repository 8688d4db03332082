#include "remoractl/injector.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include "remoractl/yaml_text.h"

namespace remora::remoractl {
namespace {

constexpr char kStatusAnnotation[] = "sidecar.istio.io/status";
constexpr char kInjectKey[] = "sidecar.istio.io/inject";
constexpr char kInitName[] = "istio-init";
constexpr char kProxyName[] = "istio-proxy";
constexpr char kEnvoyVolume[] = "istio-envoy";
constexpr char kPodInfoVolume[] = "istio-podinfo";
// Where `remoractl sidecar` writes the bootstrap by default (an in-memory emptyDir).
constexpr char kProxyConfigDir[] = "/etc/remora/proxy";
// What istio-iptables always leaves uncaptured inbound: Prometheus, health, agent status ports.
constexpr char kDefaultExcludeInbound[] = "15090,15021,15020";

// The annotations Remora reads, and the prefixes under which anything else is refused rather
// than silently dropped.
const std::set<std::string>& supportedAnnotations() {
  static const std::set<std::string> kSupported = {
      kInjectKey,
      kStatusAnnotation,
      "sidecar.istio.io/interceptionMode",
      "sidecar.istio.io/proxyImage",
      "sidecar.istio.io/proxyCPU",
      "sidecar.istio.io/proxyMemory",
      "sidecar.istio.io/proxyCPULimit",
      "sidecar.istio.io/proxyMemoryLimit",
      "sidecar.istio.io/logLevel",
      "traffic.sidecar.istio.io/includeOutboundIPRanges",
      "traffic.sidecar.istio.io/excludeOutboundIPRanges",
      "traffic.sidecar.istio.io/includeInboundPorts",
      "traffic.sidecar.istio.io/excludeInboundPorts",
      "traffic.sidecar.istio.io/includeOutboundPorts",
      "traffic.sidecar.istio.io/excludeOutboundPorts",
      "readiness.status.sidecar.istio.io/initialDelaySeconds",
      "readiness.status.sidecar.istio.io/periodSeconds",
      "readiness.status.sidecar.istio.io/failureThreshold",
  };
  return kSupported;
}
constexpr const char* kInjectionPrefixes[] = {
    "sidecar.istio.io/", "traffic.sidecar.istio.io/", "status.sidecar.istio.io/",
    "readiness.status.sidecar.istio.io/", "proxy.istio.io/"};

// Where each workload kind keeps its pod template.
const std::map<std::string, std::vector<std::string>>& podTemplatePaths() {
  static const std::map<std::string, std::vector<std::string>> kPaths = {
      {"Pod", {}},
      {"Deployment", {"spec", "template"}},
      {"StatefulSet", {"spec", "template"}},
      {"DaemonSet", {"spec", "template"}},
      {"ReplicaSet", {"spec", "template"}},
      {"ReplicationController", {"spec", "template"}},
      {"Job", {"spec", "template"}},
      {"CronJob", {"spec", "jobTemplate", "spec", "template"}},
  };
  return kPaths;
}

std::string scalarOr(const YAML::Node& node, const std::string& fallback) {
  return node && node.IsScalar() ? node.Scalar() : fallback;
}

// A map's string entries (labels, annotations); absent means empty.
std::map<std::string, std::string> stringMap(const YAML::Node& node) {
  std::map<std::string, std::string> out;
  if (node && node.IsMap()) {
    for (const auto& entry : node) out[entry.first.Scalar()] = scalarOr(entry.second, "");
  }
  return out;
}

// Istio reads the inject switch as a boolean: y/yes/true/on and n/no/false/off.
StatusOr<bool> parseInjectSwitch(const std::string& value) {
  static const std::set<std::string> kYes = {"y", "yes", "true", "on"};
  static const std::set<std::string> kNo = {"n", "no", "false", "off"};
  std::string lower;
  for (char c : value) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (kYes.contains(lower)) return true;
  if (kNo.contains(lower)) return false;
  return Status::error(fmt::format("{}: '{}' is not a boolean", kInjectKey, value));
}

YAML::Node envFromField(const std::string& name, const std::string& field_path) {
  YAML::Node env;
  env["name"] = name;
  env["valueFrom"]["fieldRef"]["fieldPath"] = field_path;
  return env;
}

YAML::Node quotedList(const std::vector<std::string>& items) {
  YAML::Node list(YAML::NodeType::Sequence);
  for (const auto& item : items) list.push_back(quotedScalar(item));
  return list;
}

YAML::Node resources(const std::string& cpu, const std::string& memory,
                     const std::string& cpu_limit, const std::string& memory_limit) {
  YAML::Node node;
  node["requests"]["cpu"] = quotedScalar(cpu);
  node["requests"]["memory"] = quotedScalar(memory);
  node["limits"]["cpu"] = quotedScalar(cpu_limit);
  node["limits"]["memory"] = quotedScalar(memory_limit);
  return node;
}

// One pod template being injected: its metadata and spec (handles into the document).
class PodInjection {
 public:
  PodInjection(std::string object, std::string workload, YAML::Node metadata, YAML::Node spec,
               const InjectOptions& options)
      : object_(std::move(object)),
        workload_(std::move(workload)),
        metadata_(std::move(metadata)),
        spec_(std::move(spec)),
        options_(options),
        annotations_(stringMap(metadata_["annotations"])),
        labels_(stringMap(metadata_["labels"])) {}

  // Whether the pod wants a sidecar at all; an error for a pod already injected.
  StatusOr<bool> required() const {
    for (const auto* source : {&labels_, &annotations_}) {
      if (auto it = source->find(kInjectKey); it != source->end()) {
        auto wanted = parseInjectSwitch(it->second);
        if (!wanted.ok()) return wanted.status().withPrefix(object_);
        if (!*wanted) return false;
      }
    }
    if (spec_["hostNetwork"] && spec_["hostNetwork"].Scalar() == "true") return false;
    if (options_.keep_injected && alreadyInjected()) return false;
    if (annotations_.contains(kStatusAnnotation)) {
      return Status::error(
          fmt::format("{}: already injected ({} is set)", object_, kStatusAnnotation));
    }
    for (const char* list : {"containers", "initContainers"}) {
      for (const auto& container : spec_[list]) {
        const std::string name = scalarOr(container["name"], "");
        if (name == kProxyName || name == kInitName) {
          return Status::error(
              fmt::format("{}: already injected (it has a container named {})", object_, name));
        }
      }
    }
    for (const auto& [key, value] : annotations_) {
      for (const char* prefix : kInjectionPrefixes) {
        if (key.starts_with(prefix) && !supportedAnnotations().contains(key)) {
          return Status::error(
              fmt::format("{}: annotation {} is not supported by remora", object_, key));
        }
      }
    }
    return true;
  }

  bool alreadyInjected() const {
    if (annotations_.contains(kStatusAnnotation)) return true;
    for (const auto& container : spec_["containers"]) {
      if (scalarOr(container["name"], "") == kProxyName) return true;
    }
    return false;
  }

  void inject() {
    const std::string first_container = scalarOr(spec_["containers"][0]["name"], "");
    addLabels();
    YAML::Node init_containers(YAML::NodeType::Sequence);
    init_containers.push_back(initContainer());
    for (const auto& existing : spec_["initContainers"]) init_containers.push_back(existing);
    spec_["initContainers"] = init_containers;
    spec_["containers"].push_back(proxyContainer());
    spec_["volumes"].push_back(envoyVolume());
    spec_["volumes"].push_back(podInfoVolume());
    YAML::Node annotations = metadata_["annotations"];
    if (!first_container.empty()) {
      annotations["kubectl.kubernetes.io/default-container"] = first_container;
      annotations["kubectl.kubernetes.io/default-logs-container"] = first_container;
    }
    // The sidecar serves merged Prometheus stats itself, on 15090.
    if (!annotations_.contains("prometheus.io/scrape")) {
      annotations["prometheus.io/path"] = "/stats/prometheus";
      annotations["prometheus.io/port"] = quotedScalar("15090");
      annotations["prometheus.io/scrape"] = quotedScalar("true");
    }
    annotations[kStatusAnnotation] = quotedScalar(
        fmt::format(R"({{"initContainers":["{}"],"containers":["{}"],"volumes":["{}","{}"],)"
                    R"("imagePullSecrets":null,"revision":"default"}})",
                    kInitName, kProxyName, kEnvoyVolume, kPodInfoVolume));
  }

 private:
  std::string annotation(const std::string& key, const std::string& fallback) const {
    auto it = annotations_.find(key);
    return it == annotations_.end() ? fallback : it->second;
  }

  // Istio's canonical-service labels, and the label that marks the pod as a mesh workload.
  void addLabels() {
    YAML::Node labels = metadata_["labels"];
    if (!labels_.contains("security.istio.io/tlsMode")) {
      labels["security.istio.io/tlsMode"] = "istio";
      labels_["security.istio.io/tlsMode"] = "istio";
    }
    auto canonical = [&](const std::string& key, const std::vector<std::string>& sources,
                         const std::string& fallback) {
      if (labels_.contains(key)) return;
      std::string value = fallback;
      for (const auto& source : sources) {
        if (auto it = labels_.find(source); it != labels_.end()) {
          value = it->second;
          break;
        }
      }
      labels[key] = quotedScalar(value);
      labels_[key] = value;
    };
    canonical("service.istio.io/canonical-name", {"app.kubernetes.io/name", "app"}, workload_);
    canonical("service.istio.io/canonical-revision", {"app.kubernetes.io/version", "version"},
              "latest");
  }

  YAML::Node initContainer() const {
    std::vector<std::string> args = {
        "iptables",
        "-p",
        "15001",
        "-z",
        "15006",
        "-u",
        "1337",
        "-m",
        annotation("sidecar.istio.io/interceptionMode", "REDIRECT"),
        "-i",
        annotation("traffic.sidecar.istio.io/includeOutboundIPRanges", "*"),
        "-x",
        annotation("traffic.sidecar.istio.io/excludeOutboundIPRanges", ""),
        "-b",
        annotation("traffic.sidecar.istio.io/includeInboundPorts", "*"),
        "-d",
        excludeInboundPorts()};
    for (const auto& [key, flag] :
         {std::pair{"traffic.sidecar.istio.io/includeOutboundPorts", "-q"},
          std::pair{"traffic.sidecar.istio.io/excludeOutboundPorts", "-o"}}) {
      if (annotations_.contains(key)) {
        args.push_back(flag);
        args.push_back(annotations_.at(key));
      }
    }
    YAML::Node c;
    c["name"] = kInitName;
    c["image"] = proxyImage();
    c["imagePullPolicy"] = "IfNotPresent";
    c["command"] = quotedList({"remoractl"});
    c["args"] = quotedList(args);
    c["resources"] = resources("10m", "40Mi", "2000m", "1024Mi");
    // The rules need NET_ADMIN/NET_RAW as root; nothing else.
    YAML::Node security;
    security["allowPrivilegeEscalation"] = false;
    security["capabilities"]["add"] = quotedList({"NET_ADMIN", "NET_RAW"});
    security["capabilities"]["drop"] = quotedList({"ALL"});
    security["privileged"] = false;
    security["readOnlyRootFilesystem"] = false;
    security["runAsGroup"] = 0;
    security["runAsNonRoot"] = false;
    security["runAsUser"] = 0;
    c["securityContext"] = security;
    return c;
  }

  std::string excludeInboundPorts() const {
    const std::string extra = annotation("traffic.sidecar.istio.io/excludeInboundPorts", "");
    return extra.empty() ? kDefaultExcludeInbound
                         : std::string(kDefaultExcludeInbound) + "," + extra;
  }

  std::string proxyImage() const {
    return annotation("sidecar.istio.io/proxyImage", options_.proxy_image);
  }

  YAML::Node proxyContainer() const {
    std::vector<std::string> args = {"sidecar", "--discovery-address", options_.discovery_address,
                                     "--workload-name", workload_};
    std::string labels;
    for (const auto& [key, value] : labels_) {
      labels += (labels.empty() ? "" : ",") + key + "=" + value;
    }
    if (!labels.empty()) {
      args.push_back("--labels");
      args.push_back(labels);
    }
    const std::string mode = annotation("sidecar.istio.io/interceptionMode", "REDIRECT");
    if (mode != "REDIRECT") {
      args.push_back("--interception-mode");
      args.push_back(mode);
    }
    if (annotations_.contains("sidecar.istio.io/logLevel")) {
      args.push_back("--");
      args.push_back("-l");
      args.push_back(annotations_.at("sidecar.istio.io/logLevel"));
    }
    YAML::Node c;
    c["name"] = kProxyName;
    c["image"] = proxyImage();
    c["imagePullPolicy"] = "IfNotPresent";
    c["command"] = quotedList({"remoractl"});
    c["args"] = quotedList(args);
    YAML::Node env(YAML::NodeType::Sequence);
    env.push_back(envFromField("POD_NAME", "metadata.name"));
    env.push_back(envFromField("POD_NAMESPACE", "metadata.namespace"));
    env.push_back(envFromField("INSTANCE_IP", "status.podIP"));
    env.push_back(envFromField("SERVICE_ACCOUNT", "spec.serviceAccountName"));
    c["env"] = env;
    YAML::Node ports(YAML::NodeType::Sequence);
    for (const auto& [port, name] :
         {std::pair{15090, "http-envoy-prom"}, std::pair{15021, "http-health"}}) {
      YAML::Node p;
      p["containerPort"] = port;
      p["name"] = name;
      p["protocol"] = "TCP";
      ports.push_back(p);
    }
    c["ports"] = ports;
    YAML::Node probe;
    probe["httpGet"]["path"] = "/healthz/ready";
    probe["httpGet"]["port"] = 15021;
    probe["initialDelaySeconds"] =
        annotation("readiness.status.sidecar.istio.io/initialDelaySeconds", "1");
    probe["periodSeconds"] = annotation("readiness.status.sidecar.istio.io/periodSeconds", "2");
    probe["timeoutSeconds"] = 3;
    probe["failureThreshold"] =
        annotation("readiness.status.sidecar.istio.io/failureThreshold", "30");
    c["readinessProbe"] = probe;
    c["resources"] = resources(annotation("sidecar.istio.io/proxyCPU", "100m"),
                               annotation("sidecar.istio.io/proxyMemory", "128Mi"),
                               annotation("sidecar.istio.io/proxyCPULimit", "2000m"),
                               annotation("sidecar.istio.io/proxyMemoryLimit", "1024Mi"));
    YAML::Node security;
    security["allowPrivilegeEscalation"] = false;
    security["capabilities"]["drop"] = quotedList({"ALL"});
    security["privileged"] = false;
    security["readOnlyRootFilesystem"] = true;
    security["runAsGroup"] = 1337;
    security["runAsNonRoot"] = true;
    security["runAsUser"] = 1337;
    c["securityContext"] = security;
    YAML::Node mounts(YAML::NodeType::Sequence);
    for (const auto& [volume, path] :
         {std::pair{kEnvoyVolume, kProxyConfigDir}, std::pair{kPodInfoVolume, "/etc/istio/pod"}}) {
      YAML::Node m;
      m["name"] = volume;
      m["mountPath"] = path;
      mounts.push_back(m);
    }
    c["volumeMounts"] = mounts;
    return c;
  }

  static YAML::Node envoyVolume() {
    YAML::Node v;
    v["name"] = kEnvoyVolume;
    v["emptyDir"]["medium"] = "Memory";
    return v;
  }

  static YAML::Node podInfoVolume() {
    YAML::Node v;
    v["name"] = kPodInfoVolume;
    YAML::Node items(YAML::NodeType::Sequence);
    for (const char* field : {"labels", "annotations"}) {
      YAML::Node item;
      item["path"] = field;
      item["fieldRef"]["fieldPath"] = std::string("metadata.") + field;
      items.push_back(item);
    }
    v["downwardAPI"]["items"] = items;
    return v;
  }

  const std::string object_;
  const std::string workload_;
  YAML::Node metadata_;
  YAML::Node spec_;
  const InjectOptions& options_;
  const std::map<std::string, std::string> annotations_;
  std::map<std::string, std::string> labels_;
};

// Injects one object (recursing into a List's items). Returns whether anything changed.
StatusOr<bool> injectObject(YAML::Node object, const InjectOptions& options) {
  if (!object.IsMap()) return false;
  const std::string kind = scalarOr(object["kind"], "");
  if (kind == "List") {
    bool changed = false;
    for (auto item : object["items"]) {
      auto item_changed = injectObject(item, options);
      if (!item_changed.ok()) return item_changed.status();
      changed = changed || *item_changed;
    }
    return changed;
  }
  auto path = podTemplatePaths().find(kind);
  if (path == podTemplatePaths().end()) return false;
  const std::string name = scalarOr(object["metadata"]["name"], "");
  const std::string object_name = kind + "/" + (name.empty() ? "<unnamed>" : name);
  YAML::Node pod_template = object;
  std::string where;
  for (const auto& key : path->second) {
    where += (where.empty() ? "" : ".") + key;
    if (!pod_template[key] || !pod_template[key].IsMap()) {
      return Status::error(fmt::format("{}: {} is missing", object_name, where));
    }
    pod_template.reset(pod_template[key]);
  }
  YAML::Node spec = pod_template["spec"];
  if (!spec || !spec.IsMap() || !spec["containers"] || !spec["containers"].IsSequence()) {
    return Status::error(fmt::format("{}: {}spec.containers is missing", object_name,
                                     where.empty() ? "" : where + "."));
  }
  PodInjection pod(object_name, name, pod_template["metadata"], spec, options);
  auto required = pod.required();
  if (!required.ok()) return required.status();
  if (!*required) return false;
  pod.inject();
  return true;
}

// The comment lines a document starts with (a banner, say), kept above its re-emitted body.
std::string leadingComments(const std::string& document) {
  std::string comments;
  std::istringstream in(document);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("---")) continue;
    if (!line.empty() && line[0] != '#') break;
    comments += line + "\n";
  }
  return comments;
}

}  // namespace

StatusOr<std::string> injectManifests(const std::string& manifests, const InjectOptions& options) {
  std::string out;
  const auto documents = splitYamlDocuments(manifests);
  for (size_t i = 0; i < documents.size(); ++i) {
    const std::string& text = documents[i];
    YAML::Node object;
    try {
      object = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      return Status::error(fmt::format("document {}: {}", i + 1, e.what()));
    }
    auto changed = injectObject(object, options);
    if (!changed.ok()) return changed.status();
    if (!*changed) {
      out += text;
      continue;
    }
    if (text.starts_with("---")) out += "---\n";
    out += leadingComments(text);
    YAML::Emitter emitter;
    emitYaml(emitter, object);
    out += emitter.c_str();
    out += "\n";
  }
  return out;
}

}  // namespace remora::remoractl
